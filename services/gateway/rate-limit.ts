/**
 * Per-client rate limits: a token bucket per API client, refilled continuously. In production the
 * buckets live in Redis, updated by one atomic script per request (one round trip), so that every
 * gateway replica draws from the same bucket; in the embedded profile they live in the process.
 * Answers carry the IETF RateLimit and RateLimit-Policy fields; a refusal is 429 with Retry-After.
 */
export interface RatePolicy {
  /** Tokens added per second: the sustained rate. */
  readonly ratePerSecond: number;
  /** Bucket size: the burst a client may send at once. */
  readonly burst: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** Seconds until a refused client may try again (0 when allowed). */
  readonly retryAfterSeconds: number;
  readonly policy: RatePolicy;
}

export interface RateLimiter {
  take(clientId: string, policy: RatePolicy): Promise<RateDecision>;
}

/**
 * A policy as it is configured (`100:200`): the label that metrics count refusals by. Bounded by
 * the configuration, where a client id would grow with every client.
 */
export const policyName = (policy: RatePolicy): string => `${policy.ratePerSecond}:${policy.burst}`;

/** Parses `RATE:BURST` (e.g. `100:200`), naming the setting in the error. */
export function parsePolicy(text: string, setting: string): RatePolicy {
  const match = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+)\s*$/.exec(text);
  const rate = Number(match?.[1]);
  const burst = Number(match?.[2]);
  if (!match || !(rate > 0) || !(burst >= 1)) throw new Error(`${setting}: "${text}" is not RATE:BURST (requests per second : bucket size), e.g. 100:200`);
  return { ratePerSecond: rate, burst };
}

/** `POC_RATE_LIMIT` for every client, `POC_RATE_LIMIT_CLIENTS` (`id=RATE:BURST,…`) for named ones. */
export function policies(env: Readonly<Record<string, string | undefined>>): (clientId: string) => RatePolicy {
  const fallback = parsePolicy(env.POC_RATE_LIMIT ?? '100:200', 'POC_RATE_LIMIT');
  const named = new Map<string, RatePolicy>();
  for (const entry of (env.POC_RATE_LIMIT_CLIENTS ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const [id, policy] = entry.split('=');
    if (!id || !policy) throw new Error(`POC_RATE_LIMIT_CLIENTS: "${entry}" is not CLIENT=RATE:BURST`);
    named.set(id, parsePolicy(policy, `POC_RATE_LIMIT_CLIENTS (${id})`));
  }
  return (clientId) => named.get(clientId) ?? fallback;
}

const decide = (tokens: number, policy: RatePolicy, allowed: boolean): RateDecision => ({
  allowed,
  remaining: Math.max(0, Math.floor(tokens)),
  retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / policy.ratePerSecond)),
  policy,
});

export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number = Date.now, private readonly maxClients = 100_000) {}

  async take(clientId: string, policy: RatePolicy): Promise<RateDecision> {
    const now = this.now();
    const bucket = this.#buckets.get(clientId) ?? { tokens: policy.burst, at: now };
    const tokens = Math.min(policy.burst, bucket.tokens + ((now - bucket.at) / 1000) * policy.ratePerSecond);
    const allowed = tokens >= 1;
    if (!this.#buckets.has(clientId) && this.#buckets.size >= this.maxClients) this.#buckets.clear(); // a full bucket is the default anyway
    this.#buckets.set(clientId, { tokens: allowed ? tokens - 1 : tokens, at: now });
    return decide(allowed ? tokens - 1 : tokens, policy, allowed);
  }
}

/** Refill, take and store in one step on the server: replicas never race between read and write. */
const takeScript = `
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return { allowed, tostring(tokens) }
`;

export interface RedisScripting {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export class RedisRateLimiter implements RateLimiter {
  constructor(private readonly redis: RedisScripting, private readonly prefix = 'poc:rate:', private readonly now: () => number = Date.now) {}

  async take(clientId: string, policy: RatePolicy): Promise<RateDecision> {
    const reply = (await this.redis.eval(takeScript, {
      keys: [`${this.prefix}${clientId}`],
      arguments: [String(policy.ratePerSecond), String(policy.burst), String(this.now())],
    })) as [number, string];
    return decide(Number(reply[1]), policy, reply[0] === 1);
  }
}

/** The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) for a decision. */
export function rateHeaders(decision: RateDecision): Record<string, string> {
  const { ratePerSecond, burst } = decision.policy;
  const window = Math.max(1, Math.round(burst / ratePerSecond));
  const untilFull = Math.ceil((burst - decision.remaining) / ratePerSecond);
  return {
    'ratelimit-policy': `"client";q=${burst};w=${window}`,
    ratelimit: `"client";r=${decision.remaining};t=${untilFull}`,
    ...(decision.allowed ? {} : { 'retry-after': String(decision.retryAfterSeconds) }),
  };
}
