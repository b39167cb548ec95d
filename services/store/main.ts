import { runService } from '@msa-poc/platform/service';
import { storeService } from './service.js';

await runService(storeService);
