import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import {
  callOperation, constant, createHistogram, deadlineOf, describeFailures, intendedTimes, mergeResults, ramp, recordMs, runLoad, steps, summarize,
  type LoadSnapshot, type Operation, type RateShape,
} from './load.js';
import { decodeHistogram, mergeSummaries } from './histogram.js';
import { median } from './numbers.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A local server; `close` also drops the requests it was holding. */
async function serve(handler: Handler): Promise<{ origin: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server = createServer((req, res) => {
    received++;
    handler(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    received: () => received,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const ok: Handler = (_req, res) => res.end('ok');
const hold: Handler = () => { /* never answers */ };

function httpOperation(agent: Agent, origin: string, path: string, name = path): Operation {
  return {
    name,
    run: async ({ signal }) => {
      const response = await request(`${origin}${path}`, { dispatcher: agent, signal });
      await response.body.dump();
      return { status: response.statusCode };
    },
  };
}

const newAgent = (): Agent => new Agent({ connections: 256, keepAliveTimeout: 5_000 });

/** Opens connections and compiles the request path before anything is timed. */
async function warm(agent: Agent, origin: string): Promise<void> {
  for (let round = 0; round < 10; round++) {
    await Promise.all(Array.from({ length: 10 }, async () => (await request(`${origin}/`, { dispatcher: agent })).body.dump()));
  }
}

before(async () => {
  await runLoad({ shape: constant(2000), durationMs: 300, timeoutMs: 1000, maxInFlight: 100, next: () => ({ name: 'warm', run: async () => ({ status: 200 }) }) });
});

test('intended times follow the integrated rate exactly and do not drift', () => {
  const constantTimes = [...intendedTimes(constant(100), 1000)];
  assert.equal(constantTimes.length, 99);
  constantTimes.forEach((at, index) => assert.ok(Math.abs(at - (index + 1) * 10) < 1e-9, `t${index + 1} = ${at}`));

  // 3.333 ms apart for a minute: the 18,000th send is still where t = j / r puts it.
  const long = [...intendedTimes(constant(300), 60_000)];
  assert.equal(long.length, 17_999);
  long.forEach((at, index) => assert.ok(Math.abs(at - ((index + 1) * 1000) / 300) < 1e-6, `t${index + 1} = ${at}`));
  const plain: RateShape = () => 300;
  const integrated = [...intendedTimes(plain, 60_000)];
  assert.ok(Math.abs(integrated.length - 17_999) <= 1, `numerically integrated count ${integrated.length}`);
  assert.ok(Math.abs((integrated[17_000] as number) - (17_001 * 1000) / 300) < 1e-3);

  const rampTimes = [...intendedTimes(ramp(0, 400, 1000), 1000)];
  assert.ok(rampTimes.length === 199 || rampTimes.length === 200, `ramp count ${rampTimes.length}`);
  assert.ok(Math.abs(rampTimes.filter((at) => at < 500).length - 50) <= 1, 'a quarter of a linear ramp falls in its first half');
  rampTimes.slice(0, 150).forEach((at, index) => assert.ok(Math.abs(at - Math.sqrt(5000 * (index + 1))) < 0.05, `ramp t${index + 1} = ${at}`));
  assert.equal([...intendedTimes(ramp(100, 100, 500), 2000)].length, 199, 'a ramp holds its end rate after it');

  const stepTimes = [...intendedTimes(steps([{ rps: 50, durationMs: 500 }, { rps: 200, durationMs: 500 }]), 1000)];
  assert.equal(stepTimes.filter((at) => at < 500).length, 24);
  assert.equal(stepTimes.length, 124);
  const stepFunction: RateShape = (ms) => (ms < 500 ? 50 : 200);
  assert.ok(Math.abs([...intendedTimes(stepFunction, 1000)].length - 124) <= 1, 'a plain function integrates to the same count');
  assert.equal([...intendedTimes(steps([{ rps: 0, durationMs: 400 }, { rps: 100, durationMs: 100 }]), 1000)][0], 410, 'a rate of 0 sends nothing');

  assert.throws(() => constant(-1), RangeError);
  assert.throws(() => steps([]), RangeError);
  assert.throws(() => ramp(0, 10, 0), RangeError);
});

test('a constant rate sends the target count within 5 % over 2 s, on schedule', async () => {
  const server = await serve(ok);
  const agent = newAgent();
  await warm(agent, server.origin);
  const received = server.received();
  const lags: number[] = [];
  const start = performance.now();
  try {
    const inner = httpOperation(agent, server.origin, '/');
    const result = await runLoad({
      shape: constant(100), durationMs: 2000, timeoutMs: 1000, maxInFlight: 100,
      next: (sequence) => ({ name: 'get', run: (request) => { lags.push(performance.now() - start - (sequence + 1) * 10); return inner.run(request); } }),
    });
    assert.ok(Math.abs(server.received() - received - 200) <= 10, `server received ${server.received() - received}`);
    assert.ok(Math.abs(result.intended - 200) <= 10, `intended ${result.intended}`);
    assert.equal(result.issued, result.intended);
    assert.equal(result.completed, result.intended);
    assert.equal(result.succeeded, result.intended);
    assert.equal(result.failed, 0);
    assert.equal(result.latency.count, result.intended);
    assert.equal(result.byOperation['get']?.count, result.intended);
    assert.equal(result.statuses['200'], result.intended);
    assert.ok(Math.abs(result.offeredRps - 100) <= 5, `offered ${result.offeredRps}`);
    assert.ok(Math.abs(result.achievedRps - 100) <= 5 || result.client.limitedByClient, `achieved ${result.achievedRps} rps, and the client did not say it was the limit`);
    assert.equal(result.durationMs, 2000);
    // Sends stay at t_k = k / r (a scheduler that waited a gap after each send would drift ~0.5 ms
    // a request), or, on a machine too busy to keep time, the client says it was the limit.
    const sorted = [...lags].sort((a, b) => a - b);
    const medianLag = sorted[Math.floor(sorted.length / 2)] as number;
    const onTime = medianLag < 5 && (lags.at(-1) as number) < 50;
    assert.ok(onTime || result.client.limitedByClient, `median send lag ${medianLag} ms, last ${lags.at(-1)} ms, and the client did not say it was late`);
    assert.ok(result.serviceTime.count === result.issued && result.serviceTime.p50 <= result.latency.p50 + 0.01);
  } finally {
    await agent.close();
    await server.close();
  }
});

test('coordinated omission: a 1 s stall in the middle shows in the corrected p99, not in a naive closed loop', async () => {
  // Every request arriving during the second second of the run is held 500 ms.
  const stalling = (from: number): Handler => (_req, res) => {
    const at = performance.now() - from;
    if (at >= 1000 && at < 2000) setTimeout(() => res.end('late'), 500);
    else res.end('ok');
  };
  let openStart = 0;
  let naiveStart = 0;
  const open = await serve((req, res) => stalling(openStart)(req, res));
  const naive = await serve((req, res) => stalling(naiveStart)(req, res));
  const agent = newAgent();
  await warm(agent, open.origin);
  await warm(agent, naive.origin);
  try {
    const openRun = async () => {
      openStart = performance.now();
      return runLoad({ shape: constant(100), durationMs: 3000, timeoutMs: 2000, maxInFlight: 500, next: () => httpOperation(agent, open.origin, '/') });
    };
    // What a closed-loop tool does: send, wait for the answer, send again, time each from its send.
    const naiveRun = async () => {
      naiveStart = performance.now();
      const histogram = createHistogram();
      let stalled = 0;
      while (performance.now() - naiveStart < 3000) {
        const sentAt = performance.now();
        const response = await request(`${naive.origin}/`, { dispatcher: agent });
        await response.body.dump();
        const took = performance.now() - sentAt;
        recordMs(histogram, took);
        if (took >= 400) stalled++;
      }
      return { ...summarize(histogram), stalled };
    };
    const [corrected, closed] = await Promise.all([openRun(), naiveRun()]);
    assert.equal(corrected.intended, 299);
    assert.ok(corrected.latency.p99 >= 400, `corrected p99 ${corrected.latency.p99} ms`);
    assert.ok(corrected.latency.p90 >= 400, `a third of the intended requests fell in the stall: p90 ${corrected.latency.p90} ms`);
    // The closed loop sent only a couple of requests into the stall, which it then waited out, so
    // the stall is a blip among its samples; with the hundreds it takes on a machine that is not
    // starved, that blip is under 1 % and its p99 never sees it.
    assert.ok(closed.stalled >= 1 && closed.stalled <= 3, `the closed loop met the stall ${closed.stalled} times`);
    assert.ok(closed.stalled / closed.count < 0.05, `${closed.stalled} stalled of ${closed.count} closed-loop samples`);
    if (closed.count >= 300) assert.ok(closed.p99 < 400, `closed-loop p99 ${closed.p99} ms over ${closed.count} samples`);
  } finally {
    await agent.close();
    await open.close();
    await naive.close();
  }
});

test('timeouts are errors whose latency is the timeout, whether or not the operation honours its signal', async () => {
  const server = await serve(hold);
  const agent = newAgent();
  try {
    const signals: AbortSignal[] = [];
    const [honouring, ignoring] = await Promise.all([
      runLoad({
        shape: constant(20), durationMs: 500, timeoutMs: 200, maxInFlight: 50,
        next: () => ({ name: 'held', run: (request) => { signals.push(request.signal); return httpOperation(agent, server.origin, '/').run(request); } }),
      }),
      runLoad({ shape: constant(20), durationMs: 500, timeoutMs: 200, maxInFlight: 50, next: () => ({ name: 'never', run: () => new Promise(() => {}) }) }),
    ]);
    for (const result of [honouring, ignoring]) {
      assert.equal(result.intended, 9);
      assert.equal(result.issued, 9);
      assert.equal(result.timedOut, 9);
      assert.equal(result.failed, 9);
      assert.equal(result.completed, 0);
      assert.equal(result.errors.timeout, 9);
      assert.equal(result.latency.count, 9, 'no timed-out sample is dropped');
      assert.ok(result.latency.min >= 199.9 && result.latency.max <= 200.3, `latency ${result.latency.min}..${result.latency.max}`);
    }
    assert.equal(honouring.byOperation['held']?.failed, 9);
    assert.equal(signals.length, 9);
    assert.ok(signals.every((signal) => signal.aborted && (signal.reason as Error).name === 'TimeoutError'), 'every operation was told');
  } finally {
    await agent.close();
    await server.close();
  }
});

test('deadlines of requests that never answer pass while the ones around them answer', async () => {
  const aborted: string[] = [];
  const late: AbortSignal[] = [];
  const result = await runLoad({
    shape: constant(200), durationMs: 500, timeoutMs: 100, maxInFlight: 1000,
    next: (sequence) => ({
      name: sequence % 3 === 1 ? 'stuck' : 'quick',
      run: (request) => {
        if (sequence % 3 !== 1) return sleep(sequence % 2 === 0 ? 1 : 30).then(() => ({ status: 200 }));
        // Half are told through their signal, half through the hook that makes no AbortSignal.
        if (sequence % 2 === 0) request.signal.addEventListener('abort', () => aborted.push((request.signal.reason as Error).name));
        else request.onCancel((reason) => { aborted.push((reason as Error).name); late.push(request.signal); });
        return new Promise(() => {});
      },
    }),
  });
  assert.equal(result.intended, 99);
  assert.equal(result.timedOut, 33);
  assert.equal(result.byOperation['stuck']?.failed, 33);
  assert.equal(result.byOperation['quick']?.failed, 0);
  assert.equal(result.succeeded, 66);
  assert.deepEqual(new Set(aborted), new Set(['TimeoutError']));
  assert.equal(aborted.length, 33, 'each stuck request was told once');
  assert.equal(late.length, 17);
  assert.ok(late.every((signal) => signal.aborted && (signal.reason as Error).name === 'TimeoutError'), 'a signal first read after the deadline is already aborted');
  const stuck = result.byOperation['stuck']?.latency;
  assert.ok(stuck && stuck.min >= 99.9 && stuck.max <= 100.2, `timed-out latency ${stuck?.min}..${stuck?.max}`);
});

test('requests beyond maxInFlight are counted as could-not-issue errors with the timeout as latency', async () => {
  const server = await serve(hold);
  const agent = newAgent();
  const snapshots: LoadSnapshot[] = [];
  try {
    const result = await runLoad({
      shape: constant(100), durationMs: 500, timeoutMs: 200, maxInFlight: 5, progressEveryMs: 20,
      onProgress: (snapshot) => snapshots.push(snapshot),
      next: () => httpOperation(agent, server.origin, '/'),
    });
    assert.equal(result.intended, 49);
    assert.ok(result.couldNotIssue >= 20, `could not issue ${result.couldNotIssue}`);
    assert.ok(result.issued >= 5 && result.issued <= 30, `issued ${result.issued}`);
    assert.equal(result.issued + result.couldNotIssue, result.intended);
    assert.equal(result.errors['not-issued'], result.couldNotIssue);
    assert.equal(result.timedOut, result.issued);
    assert.equal(result.failed, result.intended);
    assert.equal(result.latency.count, result.intended);
    assert.equal(result.serviceTime.count, result.issued, 'service time only for what was sent');
    assert.ok(result.latency.min >= 199.9 && result.latency.max <= 200.3, `latency ${result.latency.min}..${result.latency.max}`);
    assert.equal(result.maxInFlightSeen, 5);
    assert.ok(snapshots.length > 5 && snapshots.every((snapshot) => snapshot.inFlight <= 5));
    assert.equal(snapshots.reduce((total, snapshot) => total + snapshot.interval.latency.count, 0), result.intended, 'every request is in one interval');
    assert.ok(snapshots.some((snapshot) => snapshot.interval.latency.count > 0 && snapshot.interval.latency.min >= 199.9), 'not-issued requests weigh the timeout in the intervals too');
    assert.equal(result.byOperation['/']?.latency.count, result.intended);
    assert.ok(server.received() <= result.issued);
  } finally {
    await agent.close();
    await server.close();
  }
});

test('5xx fail and 4xx succeed by default; isSuccess overrides; statuses per operation', async () => {
  const server = await serve((req, res) => {
    res.statusCode = req.url === '/boom' ? 503 : req.url === '/missing' ? 404 : 200;
    res.end();
  });
  const agent = newAgent();
  try {
    const ops = ['/ok', '/missing', '/boom'].map((path) => httpOperation(agent, server.origin, path, path.slice(1)));
    const options = { shape: constant(60), durationMs: 1000, timeoutMs: 5000, maxInFlight: 50, next: (sequence: number) => ops[sequence % 3] as Operation };
    const [lenient, strict] = await Promise.all([runLoad(options), runLoad({ ...options, isSuccess: (outcome) => outcome.status < 400 })]);
    for (const result of [lenient, strict]) {
      assert.equal(result.intended, 59);
      assert.deepEqual(result.statuses, { '200': 20, '404': 20, '503': 19 });
      assert.equal(result.completed, 59, JSON.stringify(result.errors));
      assert.deepEqual(result.errors, {}, 'a status is an answer, not an error');
      assert.deepEqual(result.byOperation['boom']?.statuses, { '503': 19 });
      assert.equal(result.byOperation['boom']?.failed, 19);
      assert.equal(result.byOperation['ok']?.failed, 0);
    }
    assert.equal(lenient.succeeded, 40);
    assert.equal(lenient.failed, 19);
    assert.equal(lenient.byOperation['missing']?.failed, 0);
    assert.equal(strict.succeeded, 20);
    assert.equal(strict.failed, 39);
    assert.equal(strict.byOperation['missing']?.failed, 20);
  } finally {
    await agent.close();
    await server.close();
  }
});

test('connection failures are errors of their own kind', async () => {
  const server = await serve(ok);
  const { origin } = server;
  await server.close();
  const agent = newAgent();
  try {
    const result = await runLoad({ shape: constant(40), durationMs: 250, timeoutMs: 5000, maxInFlight: 50, next: () => httpOperation(agent, origin, '/') });
    assert.equal(result.intended, 9);
    assert.equal(result.failed, 9);
    assert.equal(result.errors.connection, 9, JSON.stringify(result.errors));
    assert.equal(result.timedOut, 0);
    assert.equal(result.latency.count, 9);
  } finally {
    await agent.close();
  }
});

test('ramp and steps shapes send the right counts at the right moments', async () => {
  const server = await serve(ok);
  const agent = newAgent();
  await warm(agent, server.origin);
  try {
    const timed = (starts: number[], from: () => number): Operation => {
      const inner = httpOperation(agent, server.origin, '/');
      return { name: 'timed', run: (request) => { starts.push(performance.now() - from()); return inner.run(request); } };
    };
    const stepStarts: number[] = [];
    const rampStarts: number[] = [];
    let stepFrom = 0;
    let rampFrom = 0;
    const [stepped, ramped] = await Promise.all([
      (async () => { stepFrom = performance.now(); return runLoad({ shape: steps([{ rps: 40, durationMs: 500 }, { rps: 160, durationMs: 500 }]), durationMs: 1000, timeoutMs: 5000, maxInFlight: 100, next: () => timed(stepStarts, () => stepFrom) }); })(),
      (async () => { rampFrom = performance.now(); return runLoad({ shape: ramp(0, 300, 1000), durationMs: 1000, timeoutMs: 5000, maxInFlight: 100, next: () => timed(rampStarts, () => rampFrom) }); })(),
    ]);
    assert.equal(stepped.intended, 99);
    assert.equal(stepped.succeeded, 99, JSON.stringify(stepped.errors));
    const firstHalf = (starts: number[]) => starts.filter((at) => at < 500).length;
    assert.ok(Math.abs(firstHalf(stepStarts) - 19) <= 2, `steps: ${firstHalf(stepStarts)} sends in the first half`);
    assert.equal(ramped.intended, 149);
    assert.equal(ramped.succeeded, 149, JSON.stringify(ramped.errors));
    assert.ok(Math.abs(firstHalf(rampStarts) - 37) <= 3, `ramp: ${firstHalf(rampStarts)} sends in the first half`);
  } finally {
    await agent.close();
    await server.close();
  }
});

test('an abort through the signal stops the run promptly and cancels what is in flight', async () => {
  const server = await serve(hold);
  const agent = newAgent();
  try {
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const running = runLoad({
      shape: constant(50), durationMs: 10_000, timeoutMs: 5_000, maxInFlight: 100, signal: controller.signal,
      next: () => ({ name: 'held', run: (request) => { signals.push(request.signal); return httpOperation(agent, server.origin, '/').run(request); } }),
    });
    await sleep(300);
    const abortedAt = performance.now();
    controller.abort();
    const result = await running;
    const stoppedIn = performance.now() - abortedAt;
    assert.ok(stoppedIn < 200, `stopped ${stoppedIn} ms after the abort`);
    assert.equal(result.aborted, true);
    assert.ok(result.intended >= 10 && result.intended <= 20, `intended ${result.intended}`);
    assert.equal(result.cancelled, result.intended);
    assert.equal(result.failed, 0);
    assert.equal(result.latency.count, 0, 'cancelled requests are in no latency figure');
    assert.ok(result.durationMs >= 250 && result.durationMs < 1000, `window ${result.durationMs} ms`);
    assert.ok(signals.length === result.issued && signals.every((signal) => signal.aborted));

    const early = new AbortController();
    early.abort();
    const none = await runLoad({ shape: constant(50), durationMs: 10_000, timeoutMs: 100, maxInFlight: 10, signal: early.signal, next: () => httpOperation(agent, server.origin, '/') });
    assert.equal(none.intended, 0);
    assert.equal(none.aborted, true);
  } finally {
    await agent.close();
    await server.close();
  }
});

test('progress snapshots arrive on time and add up to the result', async () => {
  const server = await serve(ok);
  const agent = newAgent();
  await warm(agent, server.origin);
  try {
    const snapshots: LoadSnapshot[] = [];
    const result = await runLoad({
      shape: constant(100), durationMs: 1000, timeoutMs: 5000, maxInFlight: 100, progressEveryMs: 100,
      onProgress: (snapshot) => snapshots.push(snapshot), next: () => httpOperation(agent, server.origin, '/'),
    });
    assert.ok(snapshots.length >= 5 && snapshots.length <= 12, `${snapshots.length} snapshots`);
    for (let index = 1; index < snapshots.length; index++) {
      const [before, after] = [snapshots[index - 1] as LoadSnapshot, snapshots[index] as LoadSnapshot];
      assert.ok(after.elapsedMs > before.elapsedMs && after.intended >= before.intended && after.completed >= before.completed);
    }
    assert.ok(snapshots.slice(0, -1).every((snapshot) => snapshot.targetRps === 100));
    const last = snapshots.at(-1) as LoadSnapshot;
    assert.equal(last.completed, result.completed);
    assert.equal(snapshots.reduce((total, snapshot) => total + snapshot.interval.latency.count, 0), result.latency.count);
    const perInterval = snapshots.map((snapshot) => Math.round((snapshot.interval.succeededRps * snapshot.interval.ms) / 1000));
    assert.equal(perInterval.reduce((total, count) => total + count, 0), result.succeeded, 'interval rates add up to the successes');
  } finally {
    await agent.close();
    await server.close();
  }
});

test('a client that cannot keep up says so', async () => {
  // Each operation burns 4 ms of CPU: 400 rps asks for 1.6 cores from one event loop.
  const burn: Operation = {
    name: 'burn',
    run: async () => {
      const until = performance.now() + 4;
      while (performance.now() < until) { /* busy */ }
      return { status: 200 };
    },
  };
  const result = await runLoad({ shape: constant(400), durationMs: 600, timeoutMs: 5000, maxInFlight: 1000, next: () => burn });
  assert.equal(result.client.limitedByClient, true);
  assert.match(result.client.reason ?? '', /late|CPU|event-loop/);
  assert.ok(result.client.schedulerLagP99Ms > 5, `scheduler lag p99 ${result.client.schedulerLagP99Ms}`);
  assert.ok(result.lateSends > 0);
  // Latency runs from the intended time, so the client's own lateness is in it, not hidden.
  assert.ok(result.latency.p99 > result.serviceTime.p99 + 5, `latency p99 ${result.latency.p99} vs service time p99 ${result.serviceTime.p99}`);
});

test('summarize is exact to HDR precision, and mergeResults merges histograms and counts', async () => {
  const histogram = createHistogram();
  for (let ms = 1; ms <= 1000; ms++) recordMs(histogram, ms);
  const summary = summarize(histogram);
  assert.equal(summary.count, 1000);
  assert.equal(summary.min, 1);
  assert.ok(Math.abs(summary.p50 - 500) <= 0.5 && Math.abs(summary.p99 - 990) <= 1 && Math.abs(summary.max - 1000) <= 1, JSON.stringify(summary));
  assert.ok(Math.abs(summary.mean - 500.5) <= 0.5);
  assert.equal(decodeHistogram(summary.histogram as string).totalCount, 1000);
  assert.equal(histogram.totalCount, 1000, 'summarize leaves the histogram alone');
  assert.deepEqual(summarize(createHistogram(), { encode: false }), { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });

  const low = createHistogram();
  const high = createHistogram();
  for (let ms = 1; ms <= 100; ms++) recordMs(low, ms);
  for (let ms = 901; ms <= 1000; ms++) recordMs(high, ms);
  const both = mergeSummaries([summarize(low), summarize(high)]);
  assert.equal(both.count, 200);
  assert.ok(Math.abs(both.p50 - 100) <= 0.1 && Math.abs(both.p90 - 980) <= 1 && both.min === 1 && Math.abs(both.max - 1000) <= 1, JSON.stringify(both));

  const delayed = (ms: number, status: number): Operation => ({ name: `s${status}`, run: async () => { await sleep(ms); return { status }; } });
  const [fast, slow] = await Promise.all([
    runLoad({ shape: constant(100), durationMs: 300, timeoutMs: 1000, maxInFlight: 50, next: () => delayed(1, 200) }),
    runLoad({ shape: constant(100), durationMs: 300, timeoutMs: 1000, maxInFlight: 50, next: () => delayed(40, 503) }),
  ]);
  const merged = mergeResults([fast, slow]);
  assert.equal(merged.intended, fast.intended + slow.intended);
  assert.equal(merged.succeeded, fast.intended);
  assert.equal(merged.failed, slow.intended);
  assert.deepEqual(merged.statuses, { '200': fast.intended, '503': slow.intended });
  assert.equal(merged.latency.count, fast.latency.count + slow.latency.count);
  assert.equal(merged.latency.max, Math.max(fast.latency.max, slow.latency.max));
  assert.equal(merged.latency.min, Math.min(fast.latency.min, slow.latency.min));
  assert.equal(merged.byOperation['s503']?.latency.count, slow.intended);
  assert.equal(merged.offeredRps, fast.offeredRps + slow.offeredRps);
  const { histogram: _dropped, ...bare } = fast.latency;
  assert.throws(() => mergeResults([{ ...fast, latency: bare }, slow]), /histogram/);
});

test('deadlineOf tells an operation run outside runLoad through its hook when the signal aborts, at once if it already has', () => {
  const controller = new AbortController();
  const told: unknown[] = [];
  const deadline = deadlineOf(controller.signal, 250);
  assert.equal(deadline.budgetMs, 250);
  deadline.onCancel((reason) => told.push(reason));
  assert.equal(told.length, 0);
  controller.abort('stop');
  controller.abort('again');
  assert.deepEqual(told, ['stop']);
  const late: unknown[] = [];
  deadlineOf(AbortSignal.abort('before'), 1).onCancel((reason) => late.push(reason));
  assert.deepEqual(late, ['before']);
});

test('callOperation drives an ApiClient-shaped client with the time left as its timeout', async () => {
  const calls: { method: string; path: string; timeoutMs: number | undefined; body: unknown }[] = [];
  const client = {
    call: async (method: string, path: string, options: { body?: unknown; timeoutMs?: number } = {}) => {
      calls.push({ method, path, timeoutMs: options.timeoutMs, body: options.body });
      return { status: 201, headers: {}, body: undefined };
    },
  };
  const op = callOperation(client, 'place', 'POST', '/v1/orders', { body: { sku: 'a' } });
  const result = await runLoad({ shape: constant(50), durationMs: 200, timeoutMs: 800, maxInFlight: 10, next: () => op });
  assert.equal(result.succeeded, 9);
  assert.deepEqual(result.statuses, { '201': 9 });
  assert.equal(calls.length, 9);
  assert.ok(calls.every((call) => call.method === 'POST' && call.path === '/v1/orders' && (call.body as { sku: string }).sku === 'a'));
  assert.ok(calls.every((call) => call.timeoutMs !== undefined && call.timeoutMs <= 800 && call.timeoutMs > 600), JSON.stringify(calls.map((c) => c.timeoutMs)));
});

test('a scenario that throws fails the run instead of being counted', async () => {
  await assert.rejects(
    runLoad({ shape: constant(100), durationMs: 500, timeoutMs: 100, maxInFlight: 10, next: (sequence) => { if (sequence === 3) throw new Error('scenario bug'); return { name: 'x', run: async () => ({ status: 200 }) }; } }),
    /scenario bug/,
  );
  await assert.rejects(runLoad({ shape: constant(1), durationMs: 0, timeoutMs: 100, maxInFlight: 1, next: () => { throw new Error('unused'); } }), RangeError);
  await assert.rejects(runLoad({ shape: constant(1), durationMs: 100, timeoutMs: 100, maxInFlight: 0, next: () => { throw new Error('unused'); } }), RangeError);
});

test('a run\'s failures in a few words: error kinds, then the statuses the caller does not count as served', () => {
  const result = { errors: { timeout: 3, 'not-issued': 2 }, statuses: { '200': 40, '429': 4, '503': 1 } };
  assert.equal(describeFailures(result, (status) => status < 500 && status !== 429), '3 timeout, 2 not-issued, 4 × 429, 1 × 503');
  assert.equal(describeFailures(result, (status) => status === 200), '3 timeout, 2 not-issued, 4 × 429, 1 × 503');
  assert.equal(describeFailures({ errors: {}, statuses: { '200': 5, '404': 1 } }, (status) => status < 500), '', 'nothing failed, nothing said');
});

test('median: the middle value, the mean of the two middle ones for an even count, NaN for none', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});
