/**
 * The shape of cert-manager's `Certificate` and `Issuer` (cert-manager.io/v1), written by hand as
 * TypeBox schemas from the CRDs' OpenAPI schemas (cert-manager 1.x, deploy/crds in its
 * repository), since no package of the npm registry ships those CRDs. Strict like the Kubernetes
 * schemas: an unknown field fails. Fields this repository never sets are accepted by name only.
 */
import { Type, type TSchema } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
/** A Go duration, as cert-manager parses `duration` and `renewBefore`: `720h`, `1h30m`. */
const Duration = Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' });
const Strings = Type.Array(Type.String());
const AnyValue = Type.Unknown();

const ObjectMeta = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', maxLength: 253 }),
  namespace: Type.Optional(Type.String()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
}, strict);

const IssuerRef = Type.Object({ name: Type.String(), kind: Type.Optional(Type.String()), group: Type.Optional(Type.String()) }, strict);

const KeyUsage = Type.Union([
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment', 'cert sign', 'crl sign',
  'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing', 'email protection', 's/mime', 'ipsec end system',
  'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc',
].map((usage) => Type.Literal(usage)));

const CertificateSpec = Type.Object({
  secretName: Type.String(),
  issuerRef: IssuerRef,
  commonName: Type.Optional(Type.String({ maxLength: 64 })),
  dnsNames: Type.Optional(Strings),
  uris: Type.Optional(Strings),
  ipAddresses: Type.Optional(Strings),
  emailAddresses: Type.Optional(Strings),
  otherNames: Type.Optional(AnyValue),
  duration: Type.Optional(Duration),
  renewBefore: Type.Optional(Duration),
  renewBeforePercentage: Type.Optional(Type.Integer()),
  isCA: Type.Optional(Type.Boolean()),
  usages: Type.Optional(Type.Array(KeyUsage)),
  privateKey: Type.Optional(Type.Object({
    algorithm: Type.Optional(Type.Union([Type.Literal('RSA'), Type.Literal('ECDSA'), Type.Literal('Ed25519')])),
    encoding: Type.Optional(Type.Union([Type.Literal('PKCS1'), Type.Literal('PKCS8')])),
    rotationPolicy: Type.Optional(Type.Union([Type.Literal('Never'), Type.Literal('Always')])),
    size: Type.Optional(Type.Integer()),
  }, strict)),
  subject: Type.Optional(Type.Object({
    countries: Type.Optional(Strings), localities: Type.Optional(Strings), organizationalUnits: Type.Optional(Strings), organizations: Type.Optional(Strings),
    postalCodes: Type.Optional(Strings), provinces: Type.Optional(Strings), serialNumber: Type.Optional(Type.String()), streetAddresses: Type.Optional(Strings),
  }, strict)),
  secretTemplate: Type.Optional(Type.Object({ annotations: Type.Optional(Type.Record(Type.String(), Type.String())), labels: Type.Optional(Type.Record(Type.String(), Type.String())) }, strict)),
  literalSubject: Type.Optional(Type.String()),
  encodeUsagesInRequest: Type.Optional(Type.Boolean()),
  revisionHistoryLimit: Type.Optional(Type.Integer()),
  keystores: Type.Optional(AnyValue),
  nameConstraints: Type.Optional(AnyValue),
  additionalOutputFormats: Type.Optional(AnyValue),
}, strict);

const IssuerSpec = Type.Object({
  selfSigned: Type.Optional(Type.Object({ crlDistributionPoints: Type.Optional(Strings) }, strict)),
  ca: Type.Optional(Type.Object({
    secretName: Type.String(),
    crlDistributionPoints: Type.Optional(Strings), ocspServers: Type.Optional(Strings), issuingCertificateURLs: Type.Optional(Strings),
  }, strict)),
  acme: Type.Optional(AnyValue),
  vault: Type.Optional(AnyValue),
  venafi: Type.Optional(AnyValue),
}, { ...strict, minProperties: 1, maxProperties: 1 });

const resource = (kind: string, spec: TSchema) =>
  Type.Object({ apiVersion: Type.Literal('cert-manager.io/v1'), kind: Type.Literal(kind), metadata: ObjectMeta, spec }, strict);

/** Schemas by kind, for the cert-manager objects deploy/k8s holds. */
export const certManagerSchemas: Readonly<Record<string, TSchema>> = {
  Certificate: resource('Certificate', CertificateSpec),
  Issuer: resource('Issuer', IssuerSpec),
};
