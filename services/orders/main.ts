import { runService } from '@msa-poc/platform/service';
import { ordersService } from './service.js';

await runService(ordersService);
