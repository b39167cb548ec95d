/**
 * The local certificate authority: issues each service, and each client workload (the console), a
 * short-lived P-256 certificate whose one URI SAN is its SPIFFE id, and renews what is missing, past
 * half its life or no longer right.
 */
// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API
// installed before the library module is evaluated.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isClientWorkloadName, isServiceName, spiffeId } from '@msa-poc/contracts';
import type { ClientWorkloadName, ServiceEntry, ServiceName, WorkloadName } from '@msa-poc/contracts';
import { parseAltNames, type AltName } from './identity.js';

x509.cryptoProvider.set(webcrypto);

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const hour = 3_600_000;
const caLifetimeMs = 7 * 24 * hour;
const leafLifetimeMs = 24 * hour;
/** notBefore lies this far in the past so a peer whose clock runs slightly behind still accepts the certificate. */
const clockSkewMs = 5 * 60_000;
const caName = 'CN=msa-poc local CA, O=msa-poc';

export interface PkiOptions {
  /** Folder holding ca.crt, ca.key and `<name>.crt` / `<name>.key`; created with mode 0700. */
  readonly dir: string;
  readonly services: readonly { readonly name: ServiceName; readonly exposure: ServiceEntry['exposure'] }[];
  /** Workloads that only call services: their certificates serve no TLS server. */
  readonly clients?: readonly ClientWorkloadName[];
  /** The time certificates are checked and issued against; defaults to the clock. */
  readonly now?: Date;
}

interface Issuer {
  readonly cert: x509.X509Certificate;
  readonly nodeCert: X509Certificate;
  readonly signingKey: webcrypto.CryptoKey;
  /** True when the CA was created by this call, so every leaf must be re-issued. */
  readonly renewed: boolean;
}

/**
 * Makes sure `dir` holds a valid CA and a current certificate for every service and client workload,
 * issuing only what is missing, past half its lifetime, signed by another CA or carrying the wrong names.
 * `issued` lists the names (and `ca`) written by this call.
 */
export async function ensurePki(options: PkiOptions): Promise<{ issued: string[] }> {
  const { dir, services } = options;
  const clients = options.clients ?? [];
  const now = options.now ?? new Date();
  // Names become file names: refuse anything the topology does not know.
  for (const service of services) {
    if (!isServiceName(service.name)) throw new Error(`cannot issue a certificate for unknown service "${String(service.name)}"`);
  }
  for (const client of clients) {
    if (!isClientWorkloadName(client)) throw new Error(`cannot issue a certificate for unknown client workload "${String(client)}"`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);

  const issued: string[] = [];
  let ca = await loadCurrentCa(dir, now);
  if (!ca) {
    ca = await createCa(dir, now);
    issued.push('ca');
  }
  const leaves: Leaf[] = [
    ...services.map((service): Leaf => ({ name: service.name, altNames: leafAltNames(service.name, service.exposure), serves: true })),
    // A client workload only ever opens connections: its certificate is not good for a server.
    ...clients.map((name): Leaf => ({ name, altNames: [{ type: 'URI', value: spiffeId(name) }], serves: false })),
  ];
  for (const leaf of leaves) {
    if (!ca.renewed && (await leafIsCurrent(dir, leaf, ca, now))) continue;
    await issueLeaf(dir, leaf, ca, now);
    issued.push(leaf.name);
  }
  return { issued };
}

interface Leaf {
  readonly name: WorkloadName;
  readonly altNames: AltName[];
  /** Whether the certificate may authenticate a TLS server as well as a client. */
  readonly serves: boolean;
}

// --- issuing -------------------------------------------------------------------------------------


/** A leaf's SANs as node prints them; public and external services are also reachable as localhost. */
function leafAltNames(name: ServiceName, exposure: ServiceEntry['exposure']): AltName[] {
  const names: AltName[] = [{ type: 'URI', value: spiffeId(name) }];
  if (exposure === 'public' || exposure === 'external') {
    names.push({ type: 'DNS', value: 'localhost' }, { type: 'IP Address', value: '127.0.0.1' });
  }
  return names;
}

const generalNameType: Record<string, x509.GeneralNameType> = { URI: 'url', DNS: 'dns', 'IP Address': 'ip' };

async function loadCurrentCa(dir: string, now: Date): Promise<Issuer | undefined> {
  const pems = await readPair(join(dir, 'ca.crt'), join(dir, 'ca.key'));
  if (!pems) return undefined;
  try {
    const nodeCert = new X509Certificate(pems.cert);
    const cert = new x509.X509Certificate(pems.cert);
    if (!nodeCert.ca || !keyMatches(nodeCert, pems.key) || !withinFirstHalf(cert, now)) return undefined;
    const pkcs8 = createPrivateKey(pems.key).export({ type: 'pkcs8', format: 'der' });
    const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, keyAlgorithm, false, ['sign']);
    return { cert, nodeCert, signingKey, renewed: false };
  } catch {
    return undefined; // unreadable or foreign material: replace it
  }
}

async function createCa(dir: string, now: Date): Promise<Issuer> {
  const keys = await generateKeys();
  const notBefore = new Date(now.getTime() - clockSkewMs);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: caName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + caLifetimeMs),
    signingAlgorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // Key before certificate: a reader that sees the new certificate can also find its key.
  await writeAtomic(join(dir, 'ca.key'), await pkcs8Pem(keys.privateKey), 0o600);
  const pem = cert.toString('pem');
  await writeAtomic(join(dir, 'ca.crt'), pem, 0o644);
  return { cert, nodeCert: new X509Certificate(pem), signingKey: keys.privateKey, renewed: true };
}

async function leafIsCurrent(dir: string, leaf: Leaf, ca: Issuer, now: Date): Promise<boolean> {
  const pems = await readPair(join(dir, `${leaf.name}.crt`), join(dir, `${leaf.name}.key`));
  if (!pems) return false;
  try {
    const nodeCert = new X509Certificate(pems.cert);
    return (
      withinFirstHalf(new x509.X509Certificate(pems.cert), now) &&
      nodeCert.checkIssued(ca.nodeCert) &&
      nodeCert.verify(ca.nodeCert.publicKey) &&
      sameAltNames(parseAltNames(nodeCert.subjectAltName ?? ''), leaf.altNames) &&
      keyMatches(nodeCert, pems.key)
    );
  } catch {
    return false;
  }
}

async function issueLeaf(dir: string, leaf: Leaf, ca: Issuer, now: Date): Promise<void> {
  const { name, altNames } = leaf;
  const keys = await generateKeys();
  const notBefore = new Date(now.getTime() - clockSkewMs);
  // Never outlive the issuer: a chain is only as valid as its CA.
  const notAfter = new Date(Math.min(notBefore.getTime() + leafLifetimeMs, ca.cert.notAfter.getTime()));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${name}, O=msa-poc`,
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(leaf.serves ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(altNames.map((n) => ({ type: generalNameType[n.type]!, value: n.value }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  await writeAtomic(join(dir, `${name}.key`), await pkcs8Pem(keys.privateKey), 0o600);
  await writeAtomic(join(dir, `${name}.crt`), cert.toString('pem'), 0o644);
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** 16 random bytes with the top bit clear (serials are positive) and the next set (no leading zero byte). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** Valid now, and at least half of the certificate's lifetime still ahead. */
function withinFirstHalf(cert: x509.X509Certificate, now: Date): boolean {
  const from = cert.notBefore.getTime();
  const to = cert.notAfter.getTime();
  const at = now.getTime();
  return at >= from && (to - at) * 2 >= to - from;
}

function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    const spki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return spki.equals(cert.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

function sameAltNames(actual: AltName[] | undefined, expected: AltName[]): boolean {
  if (!actual || actual.length !== expected.length) return false;
  const key = (n: AltName): string => `${n.type}:${n.value}`;
  const want = new Set(expected.map(key));
  return actual.every((n) => want.has(key(n))) && new Set(actual.map(key)).size === want.size;
}

// --- files ---------------------------------------------------------------------------------------

async function readPair(certPath: string, keyPath: string): Promise<{ cert: string; key: string } | undefined> {
  try {
    return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes to a temporary file beside the target, then renames it over: readers see the old or the new file, never part of one. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.chmod(mode); // open's mode is filtered by the umask
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}
