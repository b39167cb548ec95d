/**
 * Workload identity at run time: load a service's (or the console's) certificate, read the SPIFFE id
 * of a peer, and build TLS options that check peers by that id rather than by host name. Issuing
 * lives in pki.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { isServiceName, isWorkloadName, spiffeId, trustDomain } from '@msa-poc/contracts';
import type { ServiceName, WorkloadName } from '@msa-poc/contracts';

/** PEM text a workload needs for mutual TLS: the CA to trust, its own certificate and private key. */
export interface ServiceIdentity {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Reads a workload's PEM files; throws, naming the missing file, when the PKI has not been created. */
export function loadIdentity(dir: string, name: WorkloadName): ServiceIdentity {
  const read = (file: string): string => {
    const path = join(dir, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(`${path} does not exist: run \`npx poc up\`, which creates the CA and every workload's certificate`, { cause: error });
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
  const name = workloadOf(spiffe);
  return name !== undefined && isServiceName(name) ? name : undefined;
}

/** The workload (a service, or a client workload such as the console) a SPIFFE id of our trust domain names. */
export function workloadOf(spiffe: string): WorkloadName | undefined {
  const prefix = `spiffe://${trustDomain}/`;
  if (!spiffe.startsWith(prefix)) return undefined;
  const name = spiffe.slice(prefix.length);
  return isWorkloadName(name) ? name : undefined;
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

export interface AltName {
  readonly type: string;
  readonly value: string;
}

/**
 * Splits node's SAN text into entries. Entries are `Type:value` joined by ", "; node JSON-quotes a
 * value that contains a separator or other unsafe characters, so a quoted value is decoded as JSON.
 * Returns undefined for text that does not follow this shape.
 */
export function parseAltNames(text: string): AltName[] | undefined {
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
