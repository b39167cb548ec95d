import { runService } from '@msa-poc/platform/service';
import { integrationService } from './service.js';

await runService(integrationService);
