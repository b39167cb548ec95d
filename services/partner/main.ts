import { runService } from '@msa-poc/platform/service';
import { partnerService } from './service.js';

await runService(partnerService);
