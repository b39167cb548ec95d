import { isServiceName, syntheticTopology, type SyntheticServiceName } from '@msa-poc/contracts';
import { runService } from '@msa-poc/platform/service';
import { syntheticService } from './service.js';

const name = process.env.POC_SERVICE ?? '';
if (!/^synth-\d+$/.test(name) || !isServiceName(name)) {
  process.stderr.write(`POC_SERVICE="${name}" is not a synthetic service of this topology (POC_TOPOLOGY=${syntheticTopology() ?? 'unset'}); poc up --topology synthetic:N starts them\n`);
  process.exit(2);
}
await runService(syntheticService(name as SyntheticServiceName));
