// The image's HEALTHCHECK: asks the admin port for /healthz, or for the path given as argument
// (compose asks /readyz, so that `service_healthy` means ready). The port is the service's own
// setting (POC_<NAME>_ADMIN_PORT, else the topology's), so a moved admin port stays checked;
// POC_HEALTH_URL overrides it for a workload outside the topology.
import { serviceEnvName, topology } from '@msa-poc/contracts';

const service = process.env.POC_SERVICE ?? '';
const entry = topology.find((s) => s.name === service);
const port = process.env[serviceEnvName(service, 'ADMIN_PORT')] || entry?.adminPort;
const path = process.argv[2] ?? '/healthz';
const url = process.env.POC_HEALTH_URL || (port ? `http://127.0.0.1:${port}${path}` : undefined);
if (!url) {
  process.stderr.write(`healthcheck: "${service}" is not in the topology; set POC_HEALTH_URL\n`);
  process.exit(1);
}
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_500) });
  process.exit(response.ok ? 0 : 1);
} catch (error) {
  process.stderr.write(`healthcheck: ${url}: ${error.message}\n`);
  process.exit(1);
}
