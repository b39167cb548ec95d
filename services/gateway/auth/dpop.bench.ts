/**
 * CPU cost of one DPoP proof verification (budget: 150 µs, target 100 µs), and of a whole resource
 * request authentication (token + proof + scope). Not a test: timings depend on the machine.
 *
 *   npx tsc -b && node services/gateway/dist/auth/dpop.bench.js [iterations]
 *
 * Proofs are signed beforehand, each with its own jti, so only verification is timed; the replay
 * guard is the in-process one, so the figure is CPU, not a Redis round trip.
 */
import { generateKeyPairSync } from 'node:crypto';
import { AccessTokenSigner } from './access-token.js';
import { createDpopProof, verifyDpopProof } from './dpop.js';
import { jwkThumbprint, parsePublicJwk } from './jwk.js';
import { MemoryReplayGuard } from './replay.js';
import { authenticateResourceRequest } from './resource.js';

const iterations = Number(process.argv[2] ?? 5_000);
const warmup = Math.min(1_000, iterations);
const url = 'https://127.0.0.1:8443/v1/products';
const issuer = 'https://127.0.0.1:8443';
const audience = 'https://127.0.0.1:8443/v1';
const now = Date.now();

interface Measured { cpuMicros: number; wallMicros: number }

async function measure(count: number, run: (i: number) => Promise<unknown>): Promise<Measured> {
  const cpuStart = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await run(i);
  const wall = Number(process.hrtime.bigint() - wallStart) / 1_000;
  const cpu = process.cpuUsage(cpuStart);
  return { cpuMicros: (cpu.user + cpu.system) / count, wallMicros: wall / count };
}

async function bench(kind: 'ec' | 'ed25519'): Promise<void> {
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const publicJwk = parsePublicJwk(pair.publicKey.export({ format: 'jwk' }));
  const key = { privateKey: pair.privateKey, publicJwk };
  const signer = AccessTokenSigner.generate();
  const token = signer.issueAccessToken({ clientId: 'bench', scope: 'orders:read', jkt: jwkThumbprint(publicJwk), lifetimeSeconds: 600, issuer, audience, now });
  const total = warmup + iterations;
  const proofs = Array.from({ length: total }, () => createDpopProof({ ...key, method: 'GET', url, accessToken: token, now }));
  const alg = kind === 'ec' ? 'ES256' : 'EdDSA';

  const replay = new MemoryReplayGuard();
  const verify = (i: number) => verifyDpopProof({ headerValues: [proofs[i] as string], method: 'GET', url, accessToken: token, now, replay });
  await measure(warmup, verify);
  const proof = await measure(iterations, (i) => verify(warmup + i));

  const replay2 = new MemoryReplayGuard();
  const authenticate = (i: number) => authenticateResourceRequest({
    authorization: `DPoP ${token}`, dpopHeaderValues: [proofs[i] as string], method: 'GET', url, requiredScope: 'orders:read',
    tokens: signer, issuer, audience, replay: replay2, now,
  });
  await measure(warmup, authenticate);
  const request = await measure(iterations, (i) => authenticate(warmup + i));

  console.log(`${alg.padEnd(5)} DPoP proof verification: ${proof.cpuMicros.toFixed(1)} µs CPU (${proof.wallMicros.toFixed(1)} µs wall) per proof`);
  console.log(`${alg.padEnd(5)} resource authentication (cached token + proof + scope): ${request.cpuMicros.toFixed(1)} µs CPU (${request.wallMicros.toFixed(1)} µs wall)`);
}

console.log(`node ${process.version}, ${iterations} verifications each after ${warmup} warm-up`);
await bench('ec');
await bench('ed25519');
