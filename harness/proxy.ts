/**
 * A TCP fault proxy in Toxiproxy's model: one proxy per upstream, with named "toxics" added and
 * removed at run time while traffic flows. It is a byte pipe — TLS passes through undecrypted.
 *
 * Directions: `upstream` is client → upstream, `downstream` is upstream → client. Latency and
 * bandwidth toxics act downstream unless told otherwise (Toxiproxy's default), so a latency toxic
 * adds its delay once per request/response round trip; `both` adds it twice.
 *
 * Several toxics of one kind combine the way a Toxiproxy chain does: latencies and jitters add up,
 * the slowest bandwidth wins, any timeout black-holes, any reset resets, any down refuses.
 *
 * Memory bound: each direction of each connection holds at most `maxQueuedBytes` (default 1 MiB)
 * plus one read chunk (≤ 64 KiB) in its latency/bandwidth queue; past that the proxy stops reading
 * that side and TCP backpressure reaches the sender. The cap is also the most data a latency toxic
 * can keep in flight, so throughput under latency L is at most maxQueuedBytes / L per direction.
 */
import net from 'node:net';
import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export type Direction = 'upstream' | 'downstream' | 'both';

export type Toxic =
  /** Delay every chunk by latencyMs ± jitterMs (uniform), never reordering bytes. */
  | { kind: 'latency'; latencyMs: number; jitterMs?: number; direction?: Direction }
  /** Forward at most bytesPerSecond. */
  | { kind: 'bandwidth'; bytesPerSecond: number; direction?: Direction }
  /** Reset (TCP RST) every existing connection, and every new one on arrival, while present. */
  | { kind: 'reset' }
  /**
   * Black hole: connections are accepted but nothing is forwarded. Bytes are held in socket buffers,
   * not dropped, so a live connection carries on intact once the toxic is removed — as TCP does
   * after a partition heals. With afterMs, a connection black-holed that long is closed.
   */
  | { kind: 'timeout'; afterMs?: number }
  /** Stop listening: new connections are refused. Existing ones are left alone (add `reset` to cut them). */
  | { kind: 'down' };

export interface FaultProxyStats {
  /** Connections handed to the proxy by its listener, including ones it reset or refused. */
  accepted: number;
  /** Connections currently open. */
  active: number;
  /** Bytes forwarded client → upstream. */
  bytesUp: number;
  /** Bytes forwarded upstream → client. */
  bytesDown: number;
  /** Connections reset by a `reset` toxic. */
  resets: number;
  /** Bytes currently held in latency/bandwidth queues over all connections. */
  queued: number;
}

export interface FaultProxy {
  readonly listenPort: number;
  readonly upstream: { host: string; port: number };
  /** Adds a toxic, or replaces the one with that name; takes effect on live connections at once. */
  add(name: string, toxic: Toxic): void;
  /** Removes a toxic; unknown names are ignored so clean-up code can call it unconditionally. */
  remove(name: string): void;
  clear(): void;
  toxics(): Record<string, Toxic>;
  stats(): FaultProxyStats;
  /**
   * Resolves once the listener matches the toxics (listening again after `down` went away).
   * Rejects when the port could not be bound again.
   */
  settled(): Promise<void>;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  upstream: { host: string; port: number };
  /** Defaults to 127.0.0.1 and a free port. */
  listen?: { host?: string; port?: number };
  /** Per connection and direction; see the module comment. */
  maxQueuedBytes?: number;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const proxy = new ToxicProxy(options);
  await proxy.start();
  return proxy;
}

// --- shaping ---------------------------------------------------------------------------------------

type Way = 'upstream' | 'downstream';

/** What the current toxics do to one direction. */
interface Shape {
  readonly latencyMs: number;
  readonly jitterMs: number;
  /** Infinity when unlimited. */
  readonly bytesPerSecond: number;
  readonly blackhole: boolean;
}

const unshaped: Shape = { latencyMs: 0, jitterMs: 0, bytesPerSecond: Infinity, blackhole: false };

const applies = (direction: Direction | undefined, way: Way): boolean => (direction ?? 'downstream') === 'both' || (direction ?? 'downstream') === way;

function shapeFor(toxics: Iterable<Toxic>, way: Way): Shape {
  let latencyMs = 0;
  let jitterMs = 0;
  let bytesPerSecond = Infinity;
  let blackhole = false;
  for (const toxic of toxics) {
    if (toxic.kind === 'latency' && applies(toxic.direction, way)) {
      latencyMs += toxic.latencyMs;
      jitterMs += toxic.jitterMs ?? 0;
    } else if (toxic.kind === 'bandwidth' && applies(toxic.direction, way)) {
      bytesPerSecond = Math.min(bytesPerSecond, toxic.bytesPerSecond);
    } else if (toxic.kind === 'timeout') {
      blackhole = true;
    }
  }
  return { latencyMs, jitterMs, bytesPerSecond, blackhole };
}

const delayOf = (shape: Shape): number => Math.max(0, shape.latencyMs + (Math.random() * 2 - 1) * shape.jitterMs);

function validate(name: string, toxic: Toxic): void {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('a toxic needs a non-empty name');
  const nonNegative = (value: unknown, field: string): void => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new RangeError(`toxic "${name}": ${field} must be a finite number ≥ 0`);
  };
  const direction = (value: unknown): void => {
    if (value !== undefined && value !== 'upstream' && value !== 'downstream' && value !== 'both') {
      throw new RangeError(`toxic "${name}": direction must be upstream, downstream or both`);
    }
  };
  switch (toxic.kind) {
    case 'latency':
      nonNegative(toxic.latencyMs, 'latencyMs');
      if (toxic.jitterMs !== undefined) nonNegative(toxic.jitterMs, 'jitterMs');
      direction(toxic.direction);
      return;
    case 'bandwidth':
      nonNegative(toxic.bytesPerSecond, 'bytesPerSecond');
      if (toxic.bytesPerSecond === 0) throw new RangeError(`toxic "${name}": bytesPerSecond must be > 0 (use a timeout toxic to stop traffic)`);
      direction(toxic.direction);
      return;
    case 'timeout':
      if (toxic.afterMs !== undefined) nonNegative(toxic.afterMs, 'afterMs');
      return;
    case 'reset':
    case 'down':
      return;
    default:
      throw new TypeError(`toxic "${name}": unknown kind "${String((toxic as { kind?: unknown }).kind)}"`);
  }
}

/** RST where node can send one; a plain close otherwise. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && !socket.connecting) socket.resetAndDestroy();
  else socket.destroy();
}

// --- one direction of one connection ----------------------------------------------------------------

interface Item {
  /** null marks the sender's FIN. */
  chunk: Buffer | null;
  readonly arrival: number;
  due: number;
}

/** A lateness a bandwidth toxic may make up in one burst, so timer slop does not lower the rate. */
const catchUpMs = 20;
/** A bandwidth toxic sends in slices of this many milliseconds' worth of bytes. */
const sliceMs = 10;

class Link {
  private readonly queue: Item[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** When the bandwidth toxic lets the next byte go. */
  private lineFreeAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The destination's write buffer is full; wait for 'drain'. */
  private blocked = false;
  private paused = true;
  /** The FIN has been passed on. */
  finished = false;

  constructor(
    private readonly conn: Connection,
    readonly way: Way,
    private readonly src: Socket,
    private readonly dst: Socket,
  ) {}

  start(): void {
    // Paused before the 'data' listener goes on, so adding it does not switch the stream to flowing.
    this.src.pause();
    this.src.on('data', (chunk: Buffer) => this.push(chunk));
    this.src.on('end', () => this.push(null));
    this.dst.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
    this.updateReading();
  }

  get queued(): number {
    return this.queuedBytes;
  }

  private get pending(): number {
    return this.queue.length - this.head;
  }

  private push(chunk: Buffer | null): void {
    const shape = this.conn.shape(this.way);
    if (this.pending === 0 && !this.blocked && !shape.blackhole && shape.latencyMs === 0 && shape.jitterMs === 0 && shape.bytesPerSecond === Infinity) {
      this.deliver(chunk);
      this.updateReading();
      return;
    }
    // The queue is strictly FIFO: a chunk whose jitter came out shorter waits behind the one before it.
    const now = performance.now();
    this.queue.push({ chunk, arrival: now, due: now + delayOf(shape) });
    if (chunk) this.queuedBytes += chunk.length;
    this.pump();
  }

  /** The toxics changed: no queued chunk waits longer than the new latency allows (none once it is gone). */
  reshape(): void {
    const shape = this.conn.shape(this.way);
    const longest = shape.latencyMs + shape.jitterMs;
    for (let i = this.head; i < this.queue.length; i++) {
      const item = this.queue[i]!;
      item.due = Math.min(item.due, item.arrival + longest);
    }
    this.pump();
  }

  pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const shape = this.conn.shape(this.way);
    while (this.pending > 0 && !this.blocked && !shape.blackhole && !this.finished) {
      const item = this.queue[this.head]!;
      const now = performance.now();
      const limited = item.chunk !== null && shape.bytesPerSecond !== Infinity;
      const free = limited ? Math.max(this.lineFreeAt, now - catchUpMs) : now;
      const startAt = Math.max(item.due, free);
      if (startAt > now) {
        this.timer = setTimeout(() => this.pump(), startAt - now);
        break;
      }
      let piece = item.chunk;
      if (piece && limited) {
        const slice = Math.max(1, Math.min(piece.length, Math.ceil((shape.bytesPerSecond * sliceMs) / 1000)));
        this.lineFreeAt = free + (slice * 1000) / shape.bytesPerSecond;
        if (slice < piece.length) {
          item.chunk = piece.subarray(slice);
          piece = piece.subarray(0, slice);
        } else this.shift();
      } else this.shift();
      if (piece) this.queuedBytes -= piece.length;
      this.deliver(piece);
    }
    this.updateReading();
  }

  private shift(): void {
    this.head++;
    // Compact now and then so a long-lived queue does not keep every delivered item.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private deliver(chunk: Buffer | null): void {
    if (this.dst.destroyed || this.dst.writableEnded) return;
    if (chunk === null) {
      this.finished = true;
      this.dst.end();
      return;
    }
    this.conn.counted(this.way, chunk.length);
    if (!this.dst.write(chunk)) this.blocked = true;
  }

  /** Reads only while the destination keeps up, nothing is black-holed and the queue is under its cap. */
  updateReading(): void {
    if (this.src.destroyed) return;
    const cap = this.conn.maxQueuedBytes;
    const hold = this.conn.shape(this.way).blackhole || this.blocked || this.queuedBytes >= cap;
    if (hold && !this.paused) {
      this.src.pause();
      this.paused = true;
    } else if (!hold && this.paused && this.queuedBytes <= cap / 2) {
      this.src.resume();
      this.paused = false;
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }
}

// --- one client connection ---------------------------------------------------------------------------

/** How long a refused client gets to send its FIN back before its socket is dropped. */
const refuseGraceMs = 1000;

class Connection {
  readonly upstream: Socket;
  private up: Link | undefined;
  private down: Link | undefined;
  private connected = false;
  private done = false;
  private blackholeSince: number | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly proxy: ToxicProxy,
    readonly client: Socket,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    client.setNoDelay(true);
    client.on('error', (error) => this.onError(client, error));
    client.on('close', () => this.onClose(client));
    this.upstream = net.connect({ host: proxy.upstream.host, port: proxy.upstream.port, allowHalfOpen: true });
    this.upstream.setNoDelay(true);
    this.upstream.on('error', (error) => this.onError(this.upstream, error));
    this.upstream.on('close', () => this.onClose(this.upstream));
    this.upstream.once('connect', () => {
      if (this.client.destroyed) return;
      this.connected = true;
      this.up = new Link(this, 'upstream', client, this.upstream);
      this.down = new Link(this, 'downstream', this.upstream, client);
      this.up.start();
      this.down.start();
    });
    this.refresh();
  }

  get maxQueuedBytes(): number {
    return this.proxy.maxQueuedBytes;
  }

  shape(way: Way): Shape {
    return this.proxy.shape(way);
  }

  counted(way: Way, bytes: number): void {
    this.proxy.counted(way, bytes);
  }

  get queued(): number {
    return (this.up?.queued ?? 0) + (this.down?.queued ?? 0);
  }

  /** Applies the proxy's current toxics to this connection. */
  refresh(): void {
    if (this.done) return;
    const blackhole = this.proxy.shape('upstream').blackhole;
    if (blackhole) this.blackholeSince ??= performance.now();
    else this.blackholeSince = undefined;
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    const afterMs = this.proxy.timeoutAfterMs;
    if (this.blackholeSince !== undefined && afterMs !== undefined) {
      const wait = Math.max(0, this.blackholeSince + afterMs - performance.now());
      this.timeoutTimer = setTimeout(() => this.destroy(), wait);
    }
    this.up?.reshape();
    this.down?.reshape();
  }

  /** Returns false when the connection was already on its way out. */
  reset(): boolean {
    if (this.done) return false;
    this.done = true;
    resetSocket(this.client);
    resetSocket(this.upstream);
    return true;
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  private peer(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }

  private onError(socket: Socket, error: NodeJS.ErrnoException): void {
    if (socket === this.upstream && !this.connected) {
      this.refuseClient();
      return;
    }
    // A reset on one side is passed on as a reset, so both ends see the cut the same way.
    const other = this.peer(socket);
    if (error.code === 'ECONNRESET') resetSocket(other);
    else other.destroy();
  }

  /** The upstream cannot be reached: close the client with a FIN, reading what it sent so the close is not a reset. */
  private refuseClient(): void {
    const client = this.client;
    if (client.destroyed) return;
    client.on('data', () => {});
    client.resume();
    client.end();
    this.graceTimer = setTimeout(() => client.destroy(), refuseGraceMs);
  }

  private onClose(socket: Socket): void {
    const other = this.peer(socket);
    // The upstream never connected: refuseClient is closing the client gently.
    if (socket === this.upstream && !this.connected && !other.destroyed) return;
    if (!other.destroyed) {
      // A clean close means this side's FIN was passed on and ours was delivered; anything else
      // leaves data with nowhere to go, so the other side goes too.
      const towards = socket === this.client ? this.down : this.up;
      if (!this.connected || !towards?.finished) other.destroy();
      return;
    }
    this.done = true;
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.up?.dispose();
    this.down?.dispose();
    this.proxy.forget(this);
    this.resolveClosed();
  }
}

// --- the proxy -------------------------------------------------------------------------------------

class ToxicProxy implements FaultProxy {
  readonly upstream: { host: string; port: number };
  readonly maxQueuedBytes: number;
  private readonly host: string;
  private port: number;
  private server: Server | undefined;
  private opening: Promise<void> | undefined;
  private listenError: Error | undefined;
  private readonly serversClosed: Promise<void>[] = [];
  private closing = false;
  private readonly connections = new Set<Connection>();
  private readonly active = new Map<string, Toxic>();
  private shapes: Record<Way, Shape> = { upstream: unshaped, downstream: unshaped };
  private resetting = false;
  private refusing = false;
  timeoutAfterMs: number | undefined;
  private readonly counters = { accepted: 0, bytesUp: 0, bytesDown: 0, resets: 0 };

  constructor(options: FaultProxyOptions) {
    this.upstream = { host: options.upstream.host, port: options.upstream.port };
    this.host = options.listen?.host ?? '127.0.0.1';
    this.port = options.listen?.port ?? 0;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1024 * 1024;
    if (!(this.maxQueuedBytes > 0)) throw new RangeError('maxQueuedBytes must be > 0');
  }

  get listenPort(): number {
    return this.port;
  }

  async start(): Promise<void> {
    this.reconcile();
    await this.settled();
  }

  add(name: string, toxic: Toxic): void {
    if (this.closing) throw new Error('the proxy is closed');
    validate(name, toxic);
    this.active.set(name, { ...toxic });
    this.apply();
  }

  remove(name: string): void {
    if (this.active.delete(name)) this.apply();
  }

  clear(): void {
    if (this.active.size === 0) return;
    this.active.clear();
    this.apply();
  }

  toxics(): Record<string, Toxic> {
    return Object.fromEntries([...this.active].map(([name, toxic]) => [name, { ...toxic }]));
  }

  stats(): FaultProxyStats {
    let queued = 0;
    for (const connection of this.connections) queued += connection.queued;
    return { ...this.counters, active: this.connections.size, queued };
  }

  async settled(): Promise<void> {
    while (this.opening) await this.opening;
    if (this.listenError && !this.server && !this.closing && !this.refusing) throw this.listenError;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.reconcile();
    while (this.opening) await this.opening;
    for (const connection of this.connections) connection.destroy();
    await Promise.all([...this.connections].map((connection) => connection.closed));
    await Promise.all(this.serversClosed);
  }

  shape(way: Way): Shape {
    return this.shapes[way];
  }

  counted(way: Way, bytes: number): void {
    if (way === 'upstream') this.counters.bytesUp += bytes;
    else this.counters.bytesDown += bytes;
  }

  forget(connection: Connection): void {
    this.connections.delete(connection);
  }

  private apply(): void {
    const toxics = [...this.active.values()];
    this.shapes = { upstream: shapeFor(toxics, 'upstream'), downstream: shapeFor(toxics, 'downstream') };
    this.resetting = toxics.some((t) => t.kind === 'reset');
    this.refusing = toxics.some((t) => t.kind === 'down');
    const afters = toxics.flatMap((t) => (t.kind === 'timeout' && t.afterMs !== undefined ? [t.afterMs] : []));
    this.timeoutAfterMs = afters.length > 0 ? Math.min(...afters) : undefined;
    for (const connection of this.connections) {
      if (this.resetting) {
        if (connection.reset()) this.counters.resets++;
      } else connection.refresh();
    }
    this.reconcile();
  }

  /** Brings the listener in line with `down` and `close`: closing at once, opening asynchronously. */
  private reconcile(): void {
    const wanted = !this.closing && !this.refusing;
    if (!wanted && this.server) {
      const server = this.server;
      this.server = undefined;
      this.serversClosed.push(new Promise((resolve) => server.close(() => resolve())));
    } else if (wanted && !this.server && !this.opening) {
      this.opening = this.open().finally(() => {
        this.opening = undefined;
        this.reconcile();
      });
    }
  }

  private async open(): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.host, port: this.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.listenError = error instanceof Error ? error : new Error(String(error));
      return;
    }
    // Accept errors (e.g. EMFILE) are transient; the listener stays up.
    server.on('error', () => {});
    this.listenError = undefined;
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  private accept(socket: Socket): void {
    this.counters.accepted++;
    socket.on('error', () => {});
    if (this.closing || this.refusing) {
      socket.destroy();
      return;
    }
    if (this.resetting) {
      this.counters.resets++;
      resetSocket(socket);
      return;
    }
    this.connections.add(new Connection(this, socket));
  }
}
