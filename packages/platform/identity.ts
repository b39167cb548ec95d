/**
 * Service identity: a local CA issues each service a short-lived P-256 certificate whose one URI SAN
 * is its SPIFFE id. Servers and clients use these for mutual TLS; the SPIFFE id, not the host name,
 * is what a caller is checked against.
 */
// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API
// installed before the library module is evaluated.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { isServiceName, spiffeId, trustDomain } from '@msa-poc/contracts';
import type { ServiceEntry, ServiceName } from '@msa-poc/contracts';

x509.cryptoProvider.set(webcrypto);

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const hour = 3_600_000;
const caLifetimeMs = 7 * 24 * hour;
const leafLifetimeMs = 24 * hour;
/** notBefore lies this far in the past so a peer whose clock runs slightly behind still accepts the certificate. */
const clockSkewMs = 5 * 60_000;
const caName = 'CN=msa-poc local CA, O=msa-poc';

/** PEM text a service needs for mutual TLS: the CA to trust, its own certificate and private key. */
export interface ServiceIdentity {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface PkiOptions {
  /** Folder holding ca.crt, ca.key and `<service>.crt` / `<service>.key`; created with mode 0700. */
  readonly dir: string;
  readonly services: readonly { readonly name: ServiceName; readonly exposure: ServiceEntry['exposure'] }[];
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
 * Makes sure `dir` holds a valid CA and a current certificate for every service, issuing only what is
 * missing, past half its lifetime, signed by another CA or carrying the wrong names.
 * `issued` lists the service names (and `ca`) written by this call.
 */
export async function ensurePki(options: PkiOptions): Promise<{ issued: string[] }> {
  const { dir, services } = options;
  const now = options.now ?? new Date();
  for (const service of services) {
    // The name becomes a file name: refuse anything the topology does not know.
    if (!isServiceName(service.name)) throw new Error(`cannot issue a certificate for unknown service "${String(service.name)}"`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);

  const issued: string[] = [];
  let ca = await loadCurrentCa(dir, now);
  if (!ca) {
    ca = await createCa(dir, now);
    issued.push('ca');
  }
  for (const service of services) {
    const altNames = leafAltNames(service.name, service.exposure);
    if (!ca.renewed && (await leafIsCurrent(dir, service.name, ca, altNames, now))) continue;
    await issueLeaf(dir, service.name, ca, altNames, now);
    issued.push(service.name);
  }
  return { issued };
}

/** Reads a service's PEM files; throws, naming the missing file, when the PKI has not been created. */
export function loadIdentity(dir: string, name: ServiceName): ServiceIdentity {
  const read = (file: string): string => {
    const path = join(dir, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(`${path} does not exist: run \`npx poc up\`, which creates the CA and every service certificate`, { cause: error });
      }
      throw error;
    }
  };
  return { ca: read('ca.crt'), cert: read(`${name}.crt`), key: read(`${name}.key`) };
}

/**
 * The SPIFFE id in node's `subjectaltname` text (`URI:spiffe://msa-poc.local/orders, DNS:localhost`).
 * An SVID carries exactly one URI SAN; zero, several, or a non-SPIFFE URI yield undefined.
 */
export function spiffeIdOf(cert: { subjectaltname?: string } | undefined): string | undefined {
  if (!cert?.subjectaltname) return undefined;
  const uris = parseAltNames(cert.subjectaltname)?.filter((n) => n.type === 'URI');
  if (uris?.length !== 1) return undefined;
  const uri = uris[0]!.value;
  return uri.startsWith('spiffe://') ? uri : undefined;
}

/** The service a SPIFFE id names, when it is in our trust domain and the topology knows the name. */
export function serviceOf(spiffe: string): ServiceName | undefined {
  const prefix = `spiffe://${trustDomain}/`;
  if (!spiffe.startsWith(prefix)) return undefined;
  const name = spiffe.slice(prefix.length);
  return isServiceName(name) ? name : undefined;
}

/**
 * A `checkServerIdentity` that accepts only the certificate of `expected`. TLS has already verified the
 * chain to our CA when this runs; host names are ignored because services are reached by address.
 */
export function verifyPeerIdentity(expected: ServiceName): (host: string, cert: PeerCertificate) => Error | undefined {
  const want = spiffeId(expected);
  return (host, cert) => {
    const found = spiffeIdOf(cert);
    if (found === want) return undefined;
    const seen = found ?? (cert?.subjectaltname ? `no single SPIFFE id (SAN: ${cert.subjectaltname})` : 'no SPIFFE id');
    return Object.assign(new Error(`TLS peer at ${host} is not ${expected}: expected identity ${want}, found ${seen}`), {
      code: 'ERR_TLS_PEER_IDENTITY',
      expected: want,
      found,
    });
  };
}

export interface TlsServerOptions {
  key: string;
  cert: string;
  ca: string;
  minVersion: 'TLSv1.3';
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** Options for `https.createServer`, `tls.createServer` or Fastify's `https`. */
export function tlsServerOptions(identity: ServiceIdentity, options: { requireClientCert: boolean }): TlsServerOptions {
  return {
    key: identity.key,
    cert: identity.cert,
    ca: identity.ca,
    minVersion: 'TLSv1.3',
    requestCert: options.requireClientCert,
    rejectUnauthorized: options.requireClientCert,
  };
}

export interface TlsClientOptions {
  ca: string;
  cert: string;
  key: string;
  minVersion: 'TLSv1.3';
  /** Set explicitly so NODE_TLS_REJECT_UNAUTHORIZED=0 cannot switch chain verification off. */
  rejectUnauthorized: true;
  /** Left unset: no SNI is needed (one certificate per server), and node refuses an IP address as SNI. */
  servername?: string;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** Options for `tls.connect` or undici's `connect`: present our identity, accept only `expected`. */
export function tlsClientOptions(identity: ServiceIdentity, expected: ServiceName): TlsClientOptions {
  return {
    ca: identity.ca,
    cert: identity.cert,
    key: identity.key,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    checkServerIdentity: verifyPeerIdentity(expected),
  };
}

// --- issuing -------------------------------------------------------------------------------------

interface AltName {
  readonly type: string;
  readonly value: string;
}

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

async function leafIsCurrent(dir: string, name: ServiceName, ca: Issuer, altNames: AltName[], now: Date): Promise<boolean> {
  const pems = await readPair(join(dir, `${name}.crt`), join(dir, `${name}.key`));
  if (!pems) return false;
  try {
    const nodeCert = new X509Certificate(pems.cert);
    return (
      withinFirstHalf(new x509.X509Certificate(pems.cert), now) &&
      nodeCert.checkIssued(ca.nodeCert) &&
      nodeCert.verify(ca.nodeCert.publicKey) &&
      sameAltNames(parseAltNames(nodeCert.subjectAltName ?? ''), altNames) &&
      keyMatches(nodeCert, pems.key)
    );
  } catch {
    return false;
  }
}

async function issueLeaf(dir: string, name: ServiceName, ca: Issuer, altNames: AltName[], now: Date): Promise<void> {
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
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
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

/**
 * Splits node's SAN text into entries. Entries are `Type:value` joined by ", "; node JSON-quotes a
 * value that contains a separator or other unsafe characters, so a quoted value is decoded as JSON.
 * Returns undefined for text that does not follow this shape.
 */
function parseAltNames(text: string): AltName[] | undefined {
  const names: AltName[] = [];
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(':', at);
    if (colon < 0) return undefined;
    const type = text.slice(at, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (end >= text.length) return undefined;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        return undefined;
      }
    } else {
      const separator = text.indexOf(', ', colon + 1);
      end = separator < 0 ? text.length : separator;
      value = text.slice(colon + 1, end);
    }
    names.push({ type, value });
    if (end === text.length) break;
    if (!text.startsWith(', ', end)) return undefined;
    at = end + 2;
  }
  return names;
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
