import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAllDocuments, parse } from 'yaml';
import { contracts, spiffeId, topology, type ServiceName } from '@msa-poc/contracts';
import { monitoringNamespace } from './kubernetes.js';
import { renderFiles } from './render.js';
import { certManagerSchemas } from './schemas/cert-manager.js';
import { KubernetesSchemas, kubernetesVersion } from './schemas/kubernetes.js';
import { createValidator, describeErrors } from './schemas/validator.js';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown> } & Record<string, unknown>;

const k8sFiles = () => renderFiles(['k8s']);
const manifests = (): Manifest[] =>
  k8sFiles().filter((f) => f.path !== 'k8s/kustomization.yaml').flatMap((f) => parseAllDocuments(f.content).map((d) => d.toJS() as Manifest));
const find = (kind: string, name: string): Manifest => {
  const found = manifests().find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `no ${kind} ${name}`);
  return found;
};

/** Validates Kubernetes API objects against the strict schemas of the pinned version, cert-manager's against theirs. */
function manifestValidator(objects: readonly Manifest[]): (manifest: Manifest) => string | undefined {
  const ajv = createValidator();
  for (const [kind, schema] of Object.entries(certManagerSchemas)) ajv.addSchema(schema, `cert-manager/${kind}`);
  const kubernetes = new KubernetesSchemas(objects.filter((m) => !m.apiVersion.startsWith('cert-manager.io/')).map((m) => m.apiVersion));
  const kinds = new Map<string, string>();
  for (const m of objects) if (!m.apiVersion.startsWith('cert-manager.io/')) kinds.set(`${m.apiVersion} ${m.kind}`, kubernetes.defineKind(m.apiVersion, m.kind));
  ajv.addSchema(kubernetes.document(), 'kubernetes');
  return (manifest) => {
    const key = manifest.apiVersion.startsWith('cert-manager.io/') ? `cert-manager/${manifest.kind}` : `kubernetes#/definitions/${kinds.get(`${manifest.apiVersion} ${manifest.kind}`) ?? kubernetes.defineKind(manifest.apiVersion, manifest.kind)}`;
    const validate = ajv.getSchema(key);
    assert.ok(validate, `no schema for ${manifest.apiVersion} ${manifest.kind}`);
    return validate(manifest) ? undefined : describeErrors(validate.errors);
  };
}

/** Who may call each service, read straight from the contracts' routes. */
function contractCallers(service: ServiceName): string[] | 'anyone' {
  const routes = Object.values((contracts as Record<string, { routes: Record<string, { callers: readonly string[] | 'public' }> }>)[service]!.routes);
  if (routes.some((r) => r.callers === 'public')) return 'anyone';
  return [...new Set(routes.flatMap((r) => r.callers as readonly string[]))].sort();
}

describe(`deploy/k8s (Kubernetes ${kubernetesVersion})`, () => {
  test('every object is valid against the strict schema of its kind: an unknown or misplaced field fails', () => {
    const objects = manifests();
    const validate = manifestValidator(objects);
    for (const manifest of objects) assert.equal(validate(manifest), undefined, `${manifest.kind} ${manifest.metadata.name}:\n${validate(manifest)}`);

    const deployment = structuredClone(find('Deployment', 'orders')) as Manifest & { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    deployment.spec.template.spec.containers[0]!.securityContext = { readOnlyRootFS: true };
    assert.match(validate(deployment) ?? '', /readOnlyRootFS/);
    const certificate = structuredClone(find('Certificate', 'orders')) as Manifest & { spec: Record<string, unknown> };
    certificate.spec.uri = ['spiffe://msa-poc.local/orders'];
    assert.match(validate(certificate) ?? '', /uri/);
  });

  test('every service has a Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, NetworkPolicy and Certificate', () => {
    const objects = manifests();
    for (const { name } of topology) {
      const kinds = objects.filter((m) => m.metadata.name === name).map((m) => m.kind).sort();
      assert.deepEqual(kinds, ['Certificate', 'Deployment', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'Service'], name);
    }
    for (const backing of ['postgres', 'nats', 'redis']) assert.equal((find('Service', backing).spec as { type: string }).type, 'ExternalName');
  });

  test('a NetworkPolicy admits exactly the callers the contract allows to the service port, and only the monitoring namespace to the admin port', () => {
    assert.deepEqual(find('NetworkPolicy', 'default-deny-ingress').spec, { podSelector: {}, policyTypes: ['Ingress'] });
    for (const service of topology) {
      type Rule = { from?: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: { matchLabels: Record<string, string> } }[]; ports: { port: number }[] };
      const rules = (find('NetworkPolicy', service.name).spec as { ingress: Rule[] }).ingress;
      const toService = rules.filter((r) => r.ports.some((p) => p.port === service.port));
      const toAdmin = rules.filter((r) => r.ports.some((p) => p.port === service.adminPort));
      assert.equal(toService.length, 1, service.name);
      const expected = contractCallers(service.name);
      if (expected === 'anyone') assert.equal(toService[0]!.from, undefined, `${service.name} has a public route: anyone may connect`);
      else assert.deepEqual(toService[0]!.from!.map((f) => f.podSelector!.matchLabels['app.kubernetes.io/name']).sort(), expected, service.name);
      assert.deepEqual(toAdmin.flatMap((r) => r.from ?? []), [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': monitoringNamespace } } }], service.name);
    }
  });

  test('pods run unprivileged on a read-only root, probed on the admin port, with requests, limits and a spread over zones and nodes', () => {
    type Probe = { httpGet: { port: string; path: string } };
    type Container = {
      securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
      resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
      ports: { name: string; containerPort: number }[];
      startupProbe: Probe; livenessProbe: Probe; readinessProbe: Probe;
    };
    type Pod = { securityContext: { runAsNonRoot: boolean; seccompProfile: { type: string } }; topologySpreadConstraints: { topologyKey: string }[]; containers: Container[] };
    for (const service of topology) {
      const pod = (find('Deployment', service.name).spec as { template: { spec: Pod } }).template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
      assert.deepEqual(pod.topologySpreadConstraints.map((c) => c.topologyKey), ['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
      const container = pod.containers[0]!;
      assert.equal(container.securityContext.readOnlyRootFilesystem, true);
      assert.equal(container.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
      assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory);
      assert.equal(container.ports.find((p) => p.name === 'admin')?.containerPort, service.adminPort);
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) assert.equal(probe.httpGet.port, 'admin', service.name);
      assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    }
  });

  test('each Certificate is the service\'s SVID (exactly one URI SAN, its SPIFFE id), mounted under the names the platform reads', () => {
    for (const { name } of topology) {
      const spec = find('Certificate', name).spec as { uris: string[]; secretName: string; usages: string[] };
      assert.deepEqual(spec.uris, [spiffeId(name)]);
      assert.ok(spec.usages.includes('server auth') && spec.usages.includes('client auth'));
      const volumes = (find('Deployment', name).spec as { template: { spec: { volumes: { name: string; secret?: { secretName: string; items: { key: string; path: string }[] } }[] } } }).template.spec.volumes;
      const identity = volumes.find((v) => v.name === 'identity')!.secret!;
      assert.equal(identity.secretName, spec.secretName);
      assert.deepEqual(identity.items.map((i) => i.path).sort(), ['ca.crt', `${name}.crt`, `${name}.key`]);
    }
  });

  test('the kustomization lists every rendered file once', () => {
    const files = k8sFiles();
    const kustomization = parse(files.find((f) => f.path === 'k8s/kustomization.yaml')!.content) as { resources: string[]; namespace: string };
    assert.deepEqual([...kustomization.resources].sort(), files.map((f) => f.path.slice('k8s/'.length)).filter((p) => p !== 'kustomization.yaml').sort());
    assert.equal(kustomization.namespace, find('Namespace', kustomization.namespace).metadata.name);
  });
});
