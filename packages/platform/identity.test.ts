import 'reflect-metadata';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { Agent, request } from 'undici';
import { serviceNames, spiffeId, topology } from '@msa-poc/contracts';
import type { ServiceName } from '@msa-poc/contracts';
import {
  loadIdentity,
  serviceOf,
  spiffeIdOf,
  workloadOf,
  tlsClientOptions,
  tlsServerOptions,
  verifyPeerIdentity,
} from './identity.js';
import type { ServiceIdentity } from './identity.js';
import { ensurePki } from './pki.js';

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'msa-poc-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'pki');
}

/** Certificate times have whole-second precision, so tests pin `now` to a whole second. */
const wholeSecond = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

const certAt = async (dir: string, name: string): Promise<X509Certificate> => new X509Certificate(await readFile(join(dir, `${name}.crt`)));

async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const file of (await readdir(dir)).sort()) files.set(file, await readFile(join(dir, file), 'utf8'));
  return files;
}

test('issues a CA and one leaf per service with the specified names, usages, lifetimes and file modes', async (t) => {
  const dir = await tempDir(t);
  const now = wholeSecond(Date.now());
  const { issued } = await ensurePki({ dir, services: topology, now });
  assert.deepEqual(issued, ['ca', ...serviceNames]);

  const ca = await certAt(dir, 'ca');
  const caDetails = new x509.X509Certificate(ca.raw);
  assert.equal(ca.ca, true);
  assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(ca.verify(ca.publicKey), true);
  assert.equal(caDetails.notBefore.getTime(), now.getTime() - 5 * minute);
  assert.equal(caDetails.notAfter.getTime() - caDetails.notBefore.getTime(), 7 * day);
  const constraints = caDetails.getExtension(x509.BasicConstraintsExtension);
  assert.equal(constraints?.ca, true);
  assert.equal(constraints?.pathLength, 0);
  assert.equal(caDetails.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);

  // Internal services are known by their SPIFFE id alone; the public edge and the partner are also reached as localhost.
  const reachedAsLocalhost = new Set<ServiceName>(['gateway', 'partner']);
  const expectedSan = (name: ServiceName) => `URI:spiffe://msa-poc.local/${name}${reachedAsLocalhost.has(name) ? ', DNS:localhost, IP Address:127.0.0.1' : ''}`;
  for (const name of serviceNames) {
    const leaf = await certAt(dir, name);
    const details = new x509.X509Certificate(leaf.raw);
    assert.equal(leaf.subjectAltName, expectedSan(name), name);
    assert.equal(leaf.ca, false, name);
    assert.equal(leaf.issuer, ca.subject, name);
    assert.equal(leaf.checkIssued(ca), true, name);
    assert.equal(leaf.verify(ca.publicKey), true, name);
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', name);
    assert.equal(details.notBefore.getTime(), now.getTime() - 5 * minute, name);
    const lifetime = details.notAfter.getTime() - details.notBefore.getTime();
    assert.ok(lifetime <= day && lifetime > 23 * hour, `${name} lifetime ${lifetime} ms`);
    assert.deepEqual(details.signatureAlgorithm, { name: 'ECDSA', hash: { name: 'SHA-256' } }, name);
    assert.equal(details.getExtension(x509.BasicConstraintsExtension)?.critical, true, name);
    const keyUsage = details.getExtension(x509.KeyUsagesExtension);
    assert.equal(keyUsage?.usages, x509.KeyUsageFlags.digitalSignature, name);
    assert.equal(keyUsage?.critical, true, name);
    assert.deepEqual([...(details.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]);

    const keyPem = await readFile(join(dir, `${name}.key`), 'utf8');
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/, `${name} key is PKCS#8 PEM`);
    const publicKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    assert.deepEqual(publicKey, leaf.publicKey.export({ type: 'spki', format: 'der' }), `${name} key belongs to its certificate`);
  }

  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const files = await readdir(dir);
  assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), [], 'no temporary files left behind');
  for (const file of files.filter((f) => f.endsWith('.key'))) {
    assert.equal((await stat(join(dir, file))).mode & 0o777, 0o600, file);
  }
  assert.equal(files.filter((f) => f.endsWith('.key')).length, serviceNames.length + 1);
});

test('issues a client workload a certificate with its SPIFFE id only, good for clients and not for servers', async (t) => {
  const dir = await tempDir(t);
  const now = wholeSecond(Date.now());
  assert.deepEqual((await ensurePki({ dir, services: topology, clients: ['console'], now })).issued, ['ca', ...serviceNames, 'console']);
  const leaf = await certAt(dir, 'console');
  const details = new x509.X509Certificate(leaf.raw);
  assert.equal(leaf.subjectAltName, 'URI:spiffe://msa-poc.local/console');
  assert.equal(leaf.checkIssued(await certAt(dir, 'ca')), true);
  assert.deepEqual([...(details.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [x509.ExtendedKeyUsage.clientAuth]);
  assert.deepEqual(loadIdentity(dir, 'console').cert, await readFile(join(dir, 'console.crt'), 'utf8'));
  // Current certificates are kept; an unknown client name never becomes a file.
  assert.deepEqual((await ensurePki({ dir, services: topology, clients: ['console'], now })).issued, []);
  await assert.rejects(ensurePki({ dir, services: topology, clients: ['../evil' as 'console'] }), /unknown client workload "\.\.\/evil"/);
});

test('tightens an existing folder to 0700', async (t) => {
  const dir = await tempDir(t);
  await mkdir(dir, { mode: 0o755 });
  await ensurePki({ dir, services: topology });
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
});

test('a second call issues nothing and leaves every file as it was', async (t) => {
  const dir = await tempDir(t);
  const now = wholeSecond(Date.now());
  await ensurePki({ dir, services: topology, now });
  const before = await snapshot(dir);
  const { issued } = await ensurePki({ dir, services: topology, now: new Date(now.getTime() + hour) });
  assert.deepEqual(issued, []);
  assert.deepEqual(await snapshot(dir), before);
});

test('re-issues leaves once less than half their lifetime remains, keeping the CA', async (t) => {
  const dir = await tempDir(t);
  const now = wholeSecond(Date.now());
  await ensurePki({ dir, services: topology, now });
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const orders = await readFile(join(dir, 'orders.crt'), 'utf8');

  assert.deepEqual((await ensurePki({ dir, services: topology, now: new Date(now.getTime() + 11 * hour) })).issued, []);
  const later = new Date(now.getTime() + 12 * hour);
  assert.deepEqual((await ensurePki({ dir, services: topology, now: later })).issued, [...serviceNames]);

  assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), ca);
  assert.notEqual(await readFile(join(dir, 'orders.crt'), 'utf8'), orders);
  const renewed = new x509.X509Certificate(await readFile(join(dir, 'orders.crt'), 'utf8'));
  assert.equal(renewed.notBefore.getTime(), later.getTime() - 5 * minute);
  assert.equal((await certAt(dir, 'orders')).verify((await certAt(dir, 'ca')).publicKey), true);
});

test('renews the CA past half its lifetime and re-issues every leaf under the new CA', async (t) => {
  const dir = await tempDir(t);
  const now = wholeSecond(Date.now());
  await ensurePki({ dir, services: topology, now });
  const oldCa = await certAt(dir, 'ca');

  assert.deepEqual((await ensurePki({ dir, services: topology, now: new Date(now.getTime() + 3 * day) })).issued, [...serviceNames]);
  assert.equal((await certAt(dir, 'ca')).fingerprint256, oldCa.fingerprint256, 'the CA still has more than half its lifetime');

  const { issued } = await ensurePki({ dir, services: topology, now: new Date(now.getTime() + 4 * day) });
  assert.deepEqual(issued, ['ca', ...serviceNames]);
  const newCa = await certAt(dir, 'ca');
  assert.notEqual(newCa.fingerprint256, oldCa.fingerprint256);
  for (const name of serviceNames) {
    const leaf = await certAt(dir, name);
    assert.equal(leaf.verify(newCa.publicKey), true, name);
    assert.equal(leaf.verify(oldCa.publicKey), false, name);
  }
});

test('re-issues exactly the leaves whose names, issuer or key no longer fit', async (t) => {
  const dir = await tempDir(t);
  const other = await tempDir(t);
  await ensurePki({ dir, services: topology });
  await ensurePki({ dir: other, services: topology });

  const ordersPublic = topology.map((s) => (s.name === 'orders' ? { ...s, exposure: 'public' as const } : s));
  assert.deepEqual((await ensurePki({ dir, services: ordersPublic })).issued, ['orders']);
  assert.equal((await certAt(dir, 'orders')).subjectAltName, 'URI:spiffe://msa-poc.local/orders, DNS:localhost, IP Address:127.0.0.1');
  assert.deepEqual((await ensurePki({ dir, services: topology })).issued, ['orders']);
  assert.equal((await certAt(dir, 'orders')).subjectAltName, 'URI:spiffe://msa-poc.local/orders');

  // A valid store certificate, but from another CA.
  await copyFile(join(other, 'store.crt'), join(dir, 'store.crt'));
  await copyFile(join(other, 'store.key'), join(dir, 'store.key'));
  // The right certificate with someone else's key.
  await copyFile(join(other, 'integration.key'), join(dir, 'integration.key'));
  await unlink(join(dir, 'partner.key'));
  assert.deepEqual((await ensurePki({ dir, services: topology })).issued, ['store', 'integration', 'partner']);
  assert.equal((await certAt(dir, 'store')).verify((await certAt(dir, 'ca')).publicKey), true);
  assert.deepEqual((await ensurePki({ dir, services: topology })).issued, []);
});

test('loadIdentity returns the PEM files and names a missing file with the command that creates it', async (t) => {
  const dir = await tempDir(t);
  assert.throws(() => loadIdentity(dir, 'orders'), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.ok(error.message.includes(join(dir, 'ca.crt')), error.message);
    assert.ok(error.message.includes('npx poc up'), error.message);
    return true;
  });
  await ensurePki({ dir, services: topology });
  await unlink(join(dir, 'store.key'));
  assert.throws(() => loadIdentity(dir, 'store'), (error: unknown) => error instanceof Error && error.message.includes(join(dir, 'store.key')));

  const orders = loadIdentity(dir, 'orders');
  assert.equal(orders.ca, await readFile(join(dir, 'ca.crt'), 'utf8'));
  assert.equal(orders.cert, await readFile(join(dir, 'orders.crt'), 'utf8'));
  assert.equal(orders.key, await readFile(join(dir, 'orders.key'), 'utf8'));
});

test('spiffeIdOf reads exactly one SPIFFE URI from node\'s SAN text; serviceOf accepts only our services', () => {
  assert.equal(spiffeIdOf(undefined), undefined);
  assert.equal(spiffeIdOf({}), undefined);
  assert.equal(spiffeIdOf({ subjectaltname: 'URI:spiffe://msa-poc.local/orders, DNS:localhost' }), 'spiffe://msa-poc.local/orders');
  assert.equal(spiffeIdOf({ subjectaltname: 'DNS:localhost, IP Address:127.0.0.1' }), undefined);
  assert.equal(spiffeIdOf({ subjectaltname: 'URI:https://msa-poc.local/orders' }), undefined);
  assert.equal(spiffeIdOf({ subjectaltname: 'URI:spiffe://msa-poc.local/orders, URI:spiffe://msa-poc.local/store' }), undefined);
  // node quotes values holding a separator: a quoted DNS name cannot smuggle in a URI.
  assert.equal(
    spiffeIdOf({ subjectaltname: 'DNS:"x, URI:spiffe://msa-poc.local/store", URI:spiffe://msa-poc.local/orders' }),
    'spiffe://msa-poc.local/orders',
  );
  const smuggled = spiffeIdOf({ subjectaltname: 'URI:"spiffe://msa-poc.local/store, DNS:x"' });
  assert.equal(smuggled, 'spiffe://msa-poc.local/store, DNS:x');
  assert.equal(serviceOf(smuggled!), undefined);

  assert.equal(serviceOf('spiffe://msa-poc.local/orders'), 'orders');
  assert.equal(serviceOf(spiffeId('partner')), 'partner');
  assert.equal(serviceOf('spiffe://other.local/orders'), undefined);
  assert.equal(serviceOf('spiffe://msa-poc.local.evil/orders'), undefined);
  assert.equal(serviceOf('spiffe://msa-poc.local/billing'), undefined);
  assert.equal(serviceOf('spiffe://msa-poc.local/orders/admin'), undefined);

  // The console holds an identity of the trust domain, but it is not a service.
  assert.equal(serviceOf(spiffeId('console')), undefined);
  assert.equal(workloadOf(spiffeId('console')), 'console');
  assert.equal(workloadOf(spiffeId('store')), 'store');
  assert.equal(workloadOf('spiffe://other.local/console'), undefined);
  assert.equal(workloadOf('spiffe://msa-poc.local/billing'), undefined);
});

test('the console calls a service over mutual TLS with its own certificate', async (t) => {
  const dir = await tempDir(t);
  await ensurePki({ dir, services: topology, clients: ['console'] });
  const { port, seen } = await mtlsServer(t, loadIdentity(dir, 'store'));
  const outcome = await connect(port, tlsClientOptions(loadIdentity(dir, 'console'), 'store'));
  assert.equal(outcome.error, undefined);
  assert.deepEqual(seen.peers, ['spiffe://msa-poc.local/console']);

  // Its certificate cannot serve: a client refuses a server that presents it.
  const impostor = await mtlsServer(t, loadIdentity(dir, 'console'));
  const refused = await connect(impostor.port, { ca: loadIdentity(dir, 'orders').ca, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
  assert.ok(refused.error instanceof Error, 'a certificate without serverAuth is refused for a server');
});

test("verifyPeerIdentity('store') accepts the store certificate and rejects the orders certificate", async (t) => {
  const dir = await tempDir(t);
  await ensurePki({ dir, services: topology });
  const check = verifyPeerIdentity('store');
  const peer = async (name: ServiceName): Promise<tls.PeerCertificate> =>
    ({ subjectaltname: (await certAt(dir, name)).subjectAltName }) as tls.PeerCertificate;

  assert.equal(check('127.0.0.1', await peer('store')), undefined);
  const error = check('127.0.0.1', await peer('orders'));
  assert.ok(error instanceof Error);
  assert.match(error.message, /expected identity spiffe:\/\/msa-poc\.local\/store/);
  assert.match(error.message, /found spiffe:\/\/msa-poc\.local\/orders/);
  assert.ok(check('127.0.0.1', {} as tls.PeerCertificate) instanceof Error);
});

// --- real handshakes over loopback ---------------------------------------------------------------

interface Outcome {
  data: string;
  error: (Error & { code?: string }) | undefined;
  protocol: string | null | undefined;
}

function connect(port: number, options: tls.ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { data: '', error: undefined, protocol: undefined };
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => (outcome.protocol = socket.getProtocol()));
    socket.on('data', (chunk: string) => (outcome.data += chunk));
    socket.on('error', (error) => (outcome.error = error));
    socket.on('close', () => resolve(outcome));
  });
}

/** A mutual-TLS server that greets each authenticated peer with the service its certificate names. */
async function mtlsServer(t: TestContext, identity: ServiceIdentity, requireClientCert = true) {
  const seen = { connections: 0, clientErrors: 0, peers: [] as (string | undefined)[] };
  const server = tls.createServer(tlsServerOptions(identity, { requireClientCert }), (socket) => {
    seen.connections += 1;
    const peer = spiffeIdOf(socket.getPeerCertificate());
    seen.peers.push(peer);
    socket.end(`hello ${peer ? serviceOf(peer) : 'anonymous'} over ${socket.getProtocol()}`);
  });
  server.on('tlsClientError', () => (seen.clientErrors += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, seen };
}

test('mutual TLS 1.3 between two services: the server reads the caller\'s SPIFFE id', async (t) => {
  const dir = await tempDir(t);
  await ensurePki({ dir, services: topology });
  const { port, seen } = await mtlsServer(t, loadIdentity(dir, 'store'));

  const outcome = await connect(port, tlsClientOptions(loadIdentity(dir, 'orders'), 'store'));
  assert.equal(outcome.error, undefined);
  assert.equal(outcome.protocol, 'TLSv1.3');
  assert.equal(outcome.data, 'hello orders over TLSv1.3');
  assert.deepEqual(seen.peers, ['spiffe://msa-poc.local/orders']);
});

test('a client without a certificate gets no connection to an internal service', async (t) => {
  const dir = await tempDir(t);
  await ensurePki({ dir, services: topology });
  const identity = loadIdentity(dir, 'store');
  const { port, seen } = await mtlsServer(t, identity);

  const outcome = await connect(port, { ca: identity.ca, minVersion: 'TLSv1.3', checkServerIdentity: verifyPeerIdentity('store') });
  assert.ok(outcome.error instanceof Error, 'the client sees the connection fail');
  assert.equal(outcome.data, '');
  assert.equal(seen.connections, 0);
  assert.equal(seen.clientErrors, 1);
});

test('a client with a certificate from another CA gets no connection', async (t) => {
  const dir = await tempDir(t);
  const other = await tempDir(t);
  await ensurePki({ dir, services: topology });
  await ensurePki({ dir: other, services: topology });
  const { port, seen } = await mtlsServer(t, loadIdentity(dir, 'store'));

  // The client trusts the server; the server does not trust the client's CA and drops the socket
  // (node closes it without a TLS alert, so the client sees the connection end, not an error).
  const stranger = loadIdentity(other, 'orders');
  const outcome = await connect(port, { ...tlsClientOptions(stranger, 'store'), ca: loadIdentity(dir, 'store').ca });
  assert.equal(outcome.data, '');
  assert.equal(seen.connections, 0);
  assert.equal(seen.clientErrors, 1);
});

test('a client expecting store refuses a server that presents the orders certificate', async (t) => {
  const dir = await tempDir(t);
  await ensurePki({ dir, services: topology });
  const { port } = await mtlsServer(t, loadIdentity(dir, 'orders'));

  const outcome = await connect(port, tlsClientOptions(loadIdentity(dir, 'integration'), 'store'));
  assert.equal(outcome.error?.code, 'ERR_TLS_PEER_IDENTITY');
  assert.match(outcome.error?.message ?? '', /store.*spiffe:\/\/msa-poc\.local\/orders/);
  assert.equal(outcome.data, '');
});

test('a public server takes TLS 1.3 clients without certificates and is valid for 127.0.0.1, but refuses TLS 1.2', async (t) => {
  const dir = await tempDir(t);
  await ensurePki({ dir, services: topology });
  const gateway = loadIdentity(dir, 'gateway');
  const options = tlsServerOptions(gateway, { requireClientCert: false });
  assert.equal(options.requestCert, false);
  assert.equal(options.minVersion, 'TLSv1.3');
  const { port } = await mtlsServer(t, gateway, false);

  // node's own host name check: passes only because the gateway carries IP:127.0.0.1.
  const outcome = await connect(port, { ca: gateway.ca });
  assert.equal(outcome.error, undefined);
  assert.equal(outcome.data, 'hello anonymous over TLSv1.3');

  const old = await connect(port, { ca: gateway.ca, maxVersion: 'TLSv1.2' });
  assert.ok(old.error instanceof Error);
  assert.equal(old.data, '');
});

test('undici with tlsClientOptions calls an https server over mutual TLS and refuses the wrong service', async (t) => {
  const dir = await tempDir(t);
  await ensurePki({ dir, services: topology });
  const server = createHttpsServer(tlsServerOptions(loadIdentity(dir, 'store'), { requireClientCert: true }), (req, res) => {
    const peer = spiffeIdOf((req.socket as tls.TLSSocket).getPeerCertificate());
    res.end(peer ? (serviceOf(peer) ?? 'unknown') : 'anonymous');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const agent = new Agent({ connect: tlsClientOptions(loadIdentity(dir, 'orders'), 'store') });
  t.after(() => agent.close());
  const response = await request(url, { dispatcher: agent });
  assert.equal(response.statusCode, 200);
  assert.equal(await response.body.text(), 'orders');

  const wrong = new Agent({ connect: tlsClientOptions(loadIdentity(dir, 'orders'), 'integration') });
  t.after(() => wrong.close());
  await assert.rejects(request(url, { dispatcher: wrong }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'ERR_TLS_PEER_IDENTITY');
    assert.match(error.message, /spiffe:\/\/msa-poc\.local\/integration/);
    return true;
  });
});
