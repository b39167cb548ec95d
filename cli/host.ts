/**
 * The program of a process that hosts several services (`poc up --topology colocated` or a
 * topology file): `node host.js store orders integration gateway` starts those components, in
 * that order, in this one process. Each runs exactly as it does alone (services/NAME/main.ts).
 */
import { isServiceName } from '@msa-poc/contracts';
import { runHost } from '@msa-poc/platform/host';
import { gatewayService } from '@msa-poc/gateway/service';
import { integrationService } from '@msa-poc/integration/service';
import { ordersService } from '@msa-poc/orders/service';
import { partnerService } from '@msa-poc/partner/service';
import { storeService } from '@msa-poc/store/service';

const definitions = { gateway: gatewayService, orders: ordersService, store: storeService, integration: integrationService, partner: partnerService };

const names = process.argv.slice(2);
// A synthetic service runs alone, in its own program: only the declared ones can share a process.
const unknown = names.filter((name) => !isServiceName(name) || !Object.hasOwn(definitions, name));
if (names.length === 0 || unknown.length > 0) {
  process.stderr.write(`usage: host.js SERVICE...  (services: ${Object.keys(definitions).join(', ')}${unknown.length > 0 ? `; unknown: ${unknown.join(', ')}` : ''})\n`);
  process.exit(2);
}
await runHost(names.map((name) => definitions[name as keyof typeof definitions]));
