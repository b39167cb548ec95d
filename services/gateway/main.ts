import { runService } from '@msa-poc/platform/service';
import { gatewayService } from './service.js';

await runService(gatewayService);
