import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { startOrder, topology } from '@msa-poc/contracts';
import { renderFiles } from './render.js';
import { createValidator, describeErrors, readJson } from './schemas/validator.js';
import { consoleWorkload } from './workloads.js';

interface ComposeService {
  image: string;
  environment: Record<string, string>;
  read_only?: boolean;
  user?: string;
  cap_drop?: string[];
  secrets?: { source: string; target: string }[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  command?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
}

const committed = (): ComposeFile => parse(renderFiles(['compose'])[0]!.content) as ComposeFile;
const validateCompose = () => createValidator().compile(readJson(new URL('../schemas/compose-spec.json', import.meta.url)));

describe('compose.yaml', () => {
  test('is valid against the Compose Specification schema, which refuses an unknown key', () => {
    const validate = validateCompose();
    const compose = committed();
    assert.ok(validate(compose), describeErrors(validate.errors));
    const typo = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    typo.services.orders!.read_onyl = true;
    assert.equal(validate(typo), false);
    assert.match(describeErrors(validate.errors), /read_onyl/);
  });

  test('runs every service of the topology, the console, PostgreSQL, NATS with JetStream and Redis', () => {
    const { services } = committed();
    assert.deepEqual(Object.keys(services).sort(), [...topology.map((s) => s.name), consoleWorkload.name, 'nats', 'postgres', 'redis'].sort());
    assert.ok(services.nats!.command!.includes('--jetstream'));
  });

  test('every workload is read-only, unprivileged, in the production profile, and checked by its health check', () => {
    const { services } = committed();
    for (const name of [...topology.map((s) => s.name), consoleWorkload.name]) {
      const service = services[name]!;
      assert.equal(service.read_only, true, name);
      assert.deepEqual(service.cap_drop, ['ALL'], name);
      assert.match(service.user ?? '', /10001/, name);
      assert.equal(service.environment.POC_PROFILE, 'production', name);
      assert.equal(service.healthcheck?.test[0], 'CMD', name);
    }
  });

  test('each service gets its own certificate and key, read-only through secrets, and no other service\'s key', () => {
    const { services, secrets } = committed();
    for (const { name } of topology) {
      const mounted = (services[name]!.secrets ?? []).map((s) => s.target);
      assert.ok(mounted.includes(`/poc/pki/${name}.key`), `${name} lacks its key`);
      const foreignKeys = mounted.filter((target) => target.startsWith('/poc/pki/') && target.endsWith('.key') && target !== `/poc/pki/${name}.key`);
      assert.deepEqual(foreignKeys, [], `${name} sees another service's key`);
    }
    for (const secret of Object.values(secrets)) assert.match(secret.file, /^\.\.\/\.poc\/(pki|keys)\//);
  });

  test('a service waits for the callees started before it and for its servers, all healthy, and never for a call-back', () => {
    const { services } = committed();
    const order: string[] = startOrder();
    for (const service of topology) {
      const waitsFor = Object.entries(services[service.name]!.depends_on ?? {});
      for (const [dependency, { condition }] of waitsFor) {
        assert.equal(condition, 'service_healthy');
        if (order.includes(dependency)) assert.ok(order.indexOf(dependency) < order.indexOf(service.name), `${service.name} waits for ${dependency}, which starts later`);
      }
    }
    assert.ok('postgres' in (services.store!.depends_on ?? {}));
    assert.ok(!('gateway' in (services.partner!.depends_on ?? {})), 'the partner calls the gateway back; waiting for it would be a cycle');
  });

  test('no password is written into the file: compose asks for POC_DB_PASSWORD', () => {
    const content = renderFiles(['compose'])[0]!.content;
    assert.match(committed().services.postgres!.environment.POSTGRES_PASSWORD!, /^\$\{POC_DB_PASSWORD:\?/);
    assert.doesNotMatch(content, /postgres:\/\/[^@\s]*:[^@\s]*@/, 'a database URL carries a password');
  });
});
