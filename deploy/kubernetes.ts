/**
 * `deploy/k8s/`: plain manifests and a kustomization, generated from the workloads. Per service a
 * Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, a NetworkPolicy that admits
 * exactly the callers its contract names, and a cert-manager Certificate carrying its SPIFFE id.
 * PostgreSQL, NATS and Redis are outside the cluster's workloads: ExternalName Services name them.
 */
import { serviceEnvName } from '@msa-poc/contracts';
import { imageName, serviceWorkloads, type BackingService, type Workload } from './workloads.js';
import { defaultRegistry, defaultTag } from './images.js';

export type Manifest = Record<string, unknown> & { readonly apiVersion: string; readonly kind: string; readonly metadata: Record<string, unknown> & { readonly name: string } };

export const namespace = 'msa-poc';
/** Prometheus runs here; only it may reach the admin ports. */
export const monitoringNamespace = 'monitoring';
const partOf = 'msa-poc';
const nameLabel = 'app.kubernetes.io/name';
const caIssuer = 'msa-poc-ca';
/** Created by the operator from `.poc/keys` (deploy/README.md); never rendered, never committed. */
export const signingKeysSecret = 'msa-poc-signing-keys';
export const databaseSecret = 'msa-poc-database';
const configMap = 'msa-poc-config';

const labels = (name: string) => ({ [nameLabel]: name, 'app.kubernetes.io/part-of': partOf });
const selector = (name: string) => ({ matchLabels: { [nameLabel]: name } });
const metadata = (name: string, extra: Record<string, unknown> = {}) => ({ name, labels: labels(name), ...extra });
const identitySecret = (workload: Workload) => `${workload.name}-identity`;
const serviceHost = (name: string) => `${name}.${namespace}.svc.cluster.local`;

/** Where the servers of the production profile are: patch these to your endpoints (deploy/README.md). */
export const externalEndpoints: Readonly<Record<BackingService, { host: string; port: number }>> = {
  postgres: { host: 'postgres.msa-poc-data.svc.cluster.local', port: 5432 },
  nats: { host: 'nats.msa-poc-data.svc.cluster.local', port: 4222 },
  redis: { host: 'redis.msa-poc-data.svc.cluster.local', port: 6379 },
};

function namespaceManifest(): Manifest {
  // The restricted Pod Security Standard: the API server refuses a pod that could escalate.
  const podSecurity = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.30' };
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { ...labels(namespace), ...podSecurity } } };
}

function configManifests(): Manifest[] {
  const data: Record<string, string> = {
    POC_PROFILE: 'production',
    // The password comes from the Secret as PGPASSWORD, in the store only.
    POC_DATABASE_URL: `postgres://msa_poc@postgres:${externalEndpoints.postgres.port}/msa_poc`,
    POC_NATS_URL: `nats://nats:${externalEndpoints.nats.port}`,
    POC_REDIS_URL: `redis://redis:${externalEndpoints.redis.port}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://otel-collector.${monitoringNamespace}.svc.cluster.local:4318`,
  };
  for (const workload of serviceWorkloads()) {
    // The gateway's URL is its public origin (DPoP `htu`, what the partner signs): patch it to the public host.
    data[serviceEnvName(workload.name, 'URL')] = `https://${serviceHost(workload.name)}:${workload.ports[0]!.port}`;
  }
  const sortedData = Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)));
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(configMap), data: sortedData },
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: metadata('default-deny-ingress'),
      // Nothing reaches a pod of this namespace unless a policy below admits it.
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    },
  ];
}

function backingManifests(): Manifest[] {
  return (Object.entries(externalEndpoints) as [BackingService, { host: string; port: number }][]).map(([name, endpoint]) => ({
    apiVersion: 'v1', kind: 'Service', metadata: metadata(name),
    spec: { type: 'ExternalName', externalName: endpoint.host, ports: [{ name, port: endpoint.port, protocol: 'TCP' }] },
  }));
}

/** A self-signed root that signs only the service CA, and the Issuer every service certificate comes from. */
function issuerManifests(): Manifest[] {
  return [
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: metadata('msa-poc-selfsigned'), spec: { selfSigned: {} } },
    {
      apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: metadata(caIssuer),
      spec: {
        isCA: true, commonName: 'msa-poc service CA', secretName: caIssuer, duration: '8760h', renewBefore: '720h',
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
        issuerRef: { name: 'msa-poc-selfsigned', kind: 'Issuer', group: 'cert-manager.io' },
      },
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: metadata(caIssuer), spec: { ca: { secretName: caIssuer } } },
  ];
}

/** The service's SVID: one SPIFFE URI, its in-cluster names, renewed well before it ends. */
function certificate(workload: Workload): Manifest {
  return {
    apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: metadata(workload.name),
    spec: {
      secretName: identitySecret(workload),
      commonName: workload.name,
      uris: [workload.identity!],
      dnsNames: [workload.name, `${workload.name}.${namespace}.svc`, serviceHost(workload.name)],
      duration: '720h',
      renewBefore: '240h',
      privateKey: { algorithm: 'ECDSA', size: 256, encoding: 'PKCS8', rotationPolicy: 'Always' },
      usages: ['digital signature', 'server auth', 'client auth'],
      issuerRef: { name: caIssuer, kind: 'Issuer', group: 'cert-manager.io' },
    },
  };
}

const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

function deployment(workload: Workload, image: string): Manifest {
  const admin = workload.adminPort!;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({ httpGet: { path, port: 'admin' }, periodSeconds, timeoutSeconds: 2, failureThreshold });
  const spread = (topologyKey: string) => ({ maxSkew: 1, topologyKey, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: selector(workload.name) });
  const volumes: Record<string, unknown>[] = [
    {
      name: 'identity',
      secret: {
        secretName: identitySecret(workload),
        defaultMode: 0o440,
        // cert-manager's file names, mapped to the ones the platform reads (packages/platform/identity.ts).
        items: [{ key: 'ca.crt', path: 'ca.crt' }, { key: 'tls.crt', path: `${workload.name}.crt` }, { key: 'tls.key', path: `${workload.name}.key` }],
      },
    },
    ...(workload.keyFiles.length > 0 ? [{ name: 'signing-keys', secret: { secretName: signingKeysSecret, defaultMode: 0o440, items: workload.keyFiles.map((file) => ({ key: file, path: file })) } }] : []),
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    { name: 'data', emptyDir: { sizeLimit: '256Mi' } },
  ];
  const mounts = [
    { name: 'identity', mountPath: '/poc/pki', readOnly: true },
    ...(workload.keyFiles.length > 0 ? [{ name: 'signing-keys', mountPath: '/poc/keys', readOnly: true }] : []),
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'data', mountPath: '/data' },
  ];
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: metadata(workload.name),
    spec: {
      // No replica count: the HorizontalPodAutoscaler owns it.
      selector: selector(workload.name),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: labels(workload.name),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(admin), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          topologySpreadConstraints: [spread('topology.kubernetes.io/zone'), spread('kubernetes.io/hostname')],
          // Longer than the service's own 10 s drain, plus the pause below.
          terminationGracePeriodSeconds: 20,
          containers: [
            {
              name: workload.name,
              image,
              imagePullPolicy: 'IfNotPresent',
              ports: [...workload.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })), { name: 'admin', containerPort: admin, protocol: 'TCP' }],
              envFrom: [{ configMapRef: { name: configMap } }],
              ...(workload.backing.includes('postgres') ? { env: [{ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: databaseSecret, key: 'password' } } }] } : {}),
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } },
              startupProbe: probe('/healthz', 2, 30),
              livenessProbe: probe('/healthz', 10, 3),
              readinessProbe: probe('/readyz', 5, 2),
              // Endpoints stop sending here before the process starts to drain.
              lifecycle: { preStop: { sleep: { seconds: 3 } } },
              securityContext: restricted,
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  };
}

function service(workload: Workload): Manifest {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: metadata(workload.name),
    spec: { type: 'ClusterIP', selector: { [nameLabel]: workload.name }, ports: workload.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: 'TCP' })) },
  };
}

function disruptionBudget(workload: Workload): Manifest {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: metadata(workload.name), spec: { minAvailable: 1, selector: selector(workload.name) } };
}

function autoscaler(workload: Workload): Manifest {
  return {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: metadata(workload.name),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: workload.name },
      // Two at least, so that a node drain or a crash never leaves the service without a replica.
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
    },
  };
}

/** Admits the contract's callers to the service port, and the monitoring namespace to the admin port. */
export function networkPolicy(workload: Workload): Manifest {
  const servicePorts = workload.ports.map((p) => ({ protocol: 'TCP', port: p.port }));
  const fromCallers = workload.callers === 'anyone'
    ? { ports: servicePorts }
    : { from: workload.callers.map((caller) => ({ podSelector: selector(caller) })), ports: servicePorts };
  const fromMonitoring = {
    from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': monitoringNamespace } } }],
    ports: [{ protocol: 'TCP', port: workload.adminPort! }],
  };
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: metadata(workload.name),
    spec: { podSelector: selector(workload.name), policyTypes: ['Ingress'], ingress: [fromCallers, fromMonitoring] },
  };
}

export function serviceManifests(workload: Workload, image = imageName(defaultRegistry, workload, defaultTag)): Manifest[] {
  return [deployment(workload, image), service(workload), disruptionBudget(workload), autoscaler(workload), networkPolicy(workload), certificate(workload)];
}

export interface ManifestFile {
  /** Relative to deploy/k8s. */
  readonly path: string;
  readonly manifests: readonly Manifest[];
}

/** Every manifest file, in the order kustomize applies them. */
export function kubernetesFiles(): ManifestFile[] {
  return [
    { path: 'namespace.yaml', manifests: [namespaceManifest()] },
    { path: 'config.yaml', manifests: configManifests() },
    { path: 'external-services.yaml', manifests: backingManifests() },
    { path: 'issuers.yaml', manifests: issuerManifests() },
    ...serviceWorkloads().map((workload) => ({ path: `${workload.name}.yaml`, manifests: serviceManifests(workload) })),
  ];
}

export function kustomization(files: readonly ManifestFile[]): Record<string, unknown> {
  return {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    namespace,
    resources: files.map((f) => f.path),
    // Where the images are: `kustomize edit set image localhost/msa-poc/orders=registry.example/orders:1.2.3`.
    images: serviceWorkloads().map((workload) => ({ name: imageName(defaultRegistry, workload, defaultTag).replace(/:[^:/]+$/, ''), newTag: defaultTag })),
  };
}
