// The load client. It speaks just enough WebSocket over raw `net` sockets to be cheap:
// every socket reads into one shared buffer (net's `onread`, so no stream machinery and
// no Buffer per read), frames are walked in place, a delivery is recognised by a byte or
// two of its prefix, and only a sender looks for its own `cid` (a backwards search over
// the last few bytes of the frame). Nothing is JSON-parsed unless `mode` is 'verify'.
// Client frames are masked with a zero key, which every server accepts and which costs
// nothing to apply. One process, one thread: the server under test needs the other core.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { readMachineBusy, readProcCpu, readProcRss, readProcWrites } from './proc.ts';

/** How the client talks to a server: edgechat's protocol, or Socket.IO over engine.io 4. */
export type Proto = 'edgechat' | 'socketio';

/** 'load' measures, 'verify' records every member's seq sequence and checks it, 'idle' only connects. */
export type Mode = 'load' | 'verify' | 'idle';

export interface Job {
  host: string;
  /**
   * The server's ports: one per process of a cluster. Each room's members connect to them
   * in turn (member 0 to the first, member 1 to the second, …), senders included.
   */
  ports: number[];
  proto: Proto;
  mode: Mode;
  rooms: number;
  /** Members per room. */
  members: number;
  /** Senders per room (the first members of each room). */
  senders: number;
  /** Messages each sender keeps in flight. */
  inflight: number;
  /** Length of each message text (ASCII). */
  textBytes: number;
  warmupMs: number;
  durationMs: number;
  /** The server's processes, whose CPU time and memory are summed from /proc; absent, none is read. */
  serverPids?: number[];
  /** Handshakes in flight at once while connecting. */
  connectConcurrency?: number;
  /** Time allowed for connecting every member. */
  connectTimeoutMs?: number;
  /** Verify mode: how long to wait for the last deliveries after the senders stop. */
  drainTimeoutMs?: number;
  /** Idle mode: how long the frames must have stopped before the memory is read. */
  settleMs?: number;
}

export interface Latency {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface Verification {
  ok: boolean;
  messages: number;
  deliveries: number;
  problems: string[];
}

export interface Result {
  connections: number;
  /** From the first connection attempt to the last welcome. */
  connectMs: number;
  /** From the first connection attempt to the last frame of the join storm (presence). */
  fillMs: number;
  windowMs: number;
  /** Message frames received by all members in the window (messages × recipients). */
  deliveries: number;
  /** Senders' own copies received in the window (acknowledged messages). */
  messages: number;
  deliveriesPerSec: number;
  messagesPerSec: number;
  /** deliveries / (messages × members): about 1 when every member keeps up. */
  fanoutRatio: number;
  /** Send to the sender's own copy, in ms. */
  latency: Latency;
  serverCpuSec?: number;
  /** Server CPU time over wall time in the window (1 = one core busy). */
  serverCpuShare?: number;
  /** The same for each of the server's processes, in the order of `serverPids`. */
  serverCpuShares?: number[];
  serverCpuUsPerDelivery?: number;
  /**
   * Deliveries per write-type system call of the server, all its processes (write/writev as
   * counted in /proc/<pid>/io; a runtime that uses send/sendmsg shows none, and then this is
   * absent).
   */
  deliveriesPerWrite?: number;
  /** This client's CPU time over wall time in the window. */
  clientCpuShare: number;
  /**
   * The rest of the machine's busy CPU in the window (other processes, and kernel interrupt
   * work such as loopback TCP), over wall time. Well above the benchmark's own kernel share
   * means something else competed for the cores.
   */
  otherCpuShare?: number;
  rssBeforeKiB?: number;
  /** Idle mode: RSS once the first half of the rooms has filled. */
  rssHalfwayKiB?: number;
  rssAfterKiB?: number;
  kibPerConnection?: number;
  /**
   * Idle mode: what the second half of the rooms added, per connection. Costs paid once (a
   * young generation that has grown to its size, allocator pages) are in the first half,
   * so this is closer to what each further connection costs.
   */
  kibPerAddedConnection?: number;
  /** Connections the server closed, or that failed, during the run. */
  dropped: number;
  /** Error frames received. */
  errorFrames: number;
  firstError?: string;
  /** Own copies that did not come back in the order they were sent. */
  outOfOrderAcks: number;
  verify?: Verification;
}

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const CID = Buffer.from('"cid":"');
const CRLFCRLF = Buffer.from('\r\n\r\n');
const KEY = 'ZWRnZWNoYXQtYmVuY2gtMQ==';

const Kind = { Message: 0, Welcome: 1, Other: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

class Run {
  readonly job: Job;
  readonly socketio: boolean;
  readonly text: string;
  readonly verifying: boolean;
  sending = false;
  recording = false;
  /** Every frame received, of any kind (used to tell when a join storm has passed). */
  frames = 0;
  delivered = 0;
  acked = 0;
  samples: number[] = [];
  dropped = 0;
  errorFrames = 0;
  firstError: string | undefined;
  outOfOrderAcks = 0;
  connections: Conn[] = [];
  /** Verify mode: per room, cid → seq of every acknowledged message. */
  roomAcks: Map<string, number>[] = [];

  constructor(job: Job) {
    this.job = job;
    this.socketio = job.proto === 'socketio';
    this.verifying = job.mode === 'verify';
    // No quotes, backslashes or non-ASCII: the frame is built by concatenation.
    const filler = 'the quick brown fox jumps over the lazy dog 0123456789 ';
    this.text = filler.repeat(Math.ceil(job.textBytes / filler.length)).slice(0, job.textBytes);
  }

  path(room: number, member: number): string {
    const name = `m${member}`;
    return this.socketio ? `/socket.io/?EIO=4&transport=websocket&room=r${room}&name=${name}` : `/ws/r${room}?name=${name}`;
  }

  /** The text of a client message frame. */
  messageFrame(cid: string): string {
    return this.socketio
      ? `42["message",{"text":"${this.text}","cid":"${cid}"}]`
      : `{"type":"message","text":"${this.text}","cid":"${cid}"}`;
  }

  kind(buf: Buffer, s: number, e: number): Kind {
    if (this.socketio) {
      // 42["message",{…}] and 42["welcome",{…}]
      if (e - s > 5 && buf[s] === 0x34 && buf[s + 1] === 0x32) {
        if (buf[s + 4] === 0x6d) return Kind.Message;
        if (buf[s + 4] === 0x77) return Kind.Welcome;
      }
      return Kind.Other;
    }
    // {"type":"message",… and {"type":"welcome",… (every server puts `type` first)
    if (e - s > 10 && buf[s + 2] === 0x74) {
      if (buf[s + 9] === 0x6d) return Kind.Message;
      if (buf[s + 9] === 0x77) return Kind.Welcome;
    }
    return Kind.Other;
  }
}

class Conn {
  readonly run: Run;
  readonly room: number;
  readonly member: number;
  readonly senderId: number;
  socket: net.Socket | undefined;
  private handshaken = false;
  welcomed = false;
  closed = false;
  private pending: Buffer | null = null;
  private fragments: Buffer[] | null = null;
  private onWelcome: (() => void) | undefined;
  private onFail: ((error: Error) => void) | undefined;
  // Sender state: the cids (as numbers) in flight, oldest first, and when each was sent.
  private nextN = 0;
  private queueN: number[] = [];
  private queueT: number[] = [];
  // Verify mode.
  seqs: number[] = [];
  cids: string[] = [];

  constructor(run: Run, room: number, member: number) {
    this.run = run;
    this.room = room;
    this.member = member;
    this.senderId = member < run.job.senders ? room * run.job.senders + member : -1;
  }

  get inflight(): number {
    return this.queueN.length;
  }

  open(): Promise<void> {
    const { host, ports } = this.run.job;
    const port = ports[this.member % ports.length]!;
    return new Promise((resolve, reject) => {
      this.onWelcome = resolve;
      this.onFail = reject;
      const socket = net.connect({
        host,
        port,
        noDelay: true,
        onread: {
          buffer: READ_BUFFER,
          callback: (bytes: number, buf: Buffer) => {
            this.feed(buf, 0, bytes);
            return true;
          },
        },
      });
      this.socket = socket;
      socket.on('connect', () => {
        socket.write(
          `GET ${this.run.path(this.room, this.member)} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
            `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n` +
            `Sec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      socket.on('error', (error) => this.fail(error));
      socket.on('close', () => this.fail(new Error('connection closed')));
    });
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.welcomed) {
      this.run.dropped += 1;
    } else {
      this.onFail?.(new Error(`${this.run.path(this.room, this.member)}: ${error.message}`));
    }
  }

  /** Drops the connection with a reset, so that no port is left in TIME_WAIT. */
  destroy(): void {
    this.closed = true;
    const socket = this.socket;
    if (socket && !socket.destroyed) {
      if (socket.readyState === 'open') socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  private feed(buf: Buffer, start: number, end: number): void {
    if (this.pending) {
      buf = Buffer.concat([this.pending, buf.subarray(start, end)]);
      start = 0;
      end = buf.length;
      this.pending = null;
    }
    if (!this.handshaken) {
      const at = buf.indexOf(CRLFCRLF, start);
      if (at < 0 || at + 4 > end) {
        this.pending = Buffer.from(buf.subarray(start, end));
        return;
      }
      const head = buf.toString('latin1', start, at);
      if (!head.startsWith('HTTP/1.1 101')) {
        this.fail(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        this.destroy();
        return;
      }
      this.handshaken = true;
      start = at + 4;
    }
    let pos = start;
    while (end - pos >= 2) {
      const b0 = buf[pos]!;
      let length = buf[pos + 1]! & 0x7f;
      let header = 2;
      if (length === 126) {
        if (end - pos < 4) break;
        length = buf.readUInt16BE(pos + 2);
        header = 4;
      } else if (length === 127) {
        if (end - pos < 10) break;
        length = buf.readUInt32BE(pos + 6) + buf.readUInt32BE(pos + 2) * 2 ** 32;
        header = 10;
      }
      const s = pos + header;
      const e = s + length;
      if (e > end) break;
      pos = e;
      this.run.frames += 1;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x80) !== 0 && opcode === 1) {
        this.text(buf, s, e);
      } else if (opcode >= 8) {
        this.control(opcode, buf, s, e);
      } else {
        // A fragmented frame: collected (copied) and handled when its last part arrives.
        this.fragments ??= [];
        this.fragments.push(Buffer.from(buf.subarray(s, e)));
        if ((b0 & 0x80) !== 0) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.text(whole, 0, whole.length);
        }
      }
    }
    if (pos < end) this.pending = Buffer.from(buf.subarray(pos, end));
  }

  private control(opcode: number, buf: Buffer, s: number, e: number): void {
    if (opcode === 9) {
      this.write(0x8a, buf.subarray(s, e));
    } else if (opcode === 8) {
      const code = e - s >= 2 ? buf.readUInt16BE(s) : 1005;
      const reason = buf.toString('utf8', Math.min(s + 2, e), e);
      this.fail(new Error(`closed by the server: ${code} ${reason}`));
      this.destroy();
    }
  }

  private text(buf: Buffer, s: number, e: number): void {
    const run = this.run;
    const kind = run.kind(buf, s, e);
    if (kind === Kind.Message) {
      run.delivered += 1;
      if (this.senderId >= 0) this.ownCopy(buf, s, e);
      if (run.verifying) this.record(buf, s, e);
      return;
    }
    if (kind === Kind.Welcome) {
      if (!this.welcomed) {
        this.welcomed = true;
        this.onWelcome?.();
      }
      return;
    }
    if (run.socketio) {
      if (e - s === 1 && buf[s] === 0x32)
        this.sendText('3'); // engine.io ping → pong
      else if (buf[s] === 0x30)
        this.sendText('40'); // engine.io open → connect to namespace "/"
      else if (buf[s] === 0x34 && buf[s + 1] === 0x30)
        return; // connected; the welcome event follows
      else this.otherFrame(buf, s, e);
      return;
    }
    // presence, typing and pong are expected; an error frame is counted
    if (buf[s + 9] === 0x65) this.otherFrame(buf, s, e);
  }

  private otherFrame(buf: Buffer, s: number, e: number): void {
    const run = this.run;
    run.errorFrames += 1;
    run.firstError ??= buf.toString('utf8', s, Math.min(e, s + 300));
  }

  /** A delivery at a sender: its own copy when the cid is `<senderId>.<n>`. */
  private ownCopy(buf: Buffer, s: number, e: number): void {
    const at = buf.lastIndexOf(CID, e - CID.length);
    if (at < s) return;
    let p = at + CID.length;
    let sender = 0;
    let c = buf[p]!;
    while (c !== 0x2e) {
      if (c < 0x30 || c > 0x39 || p >= e) return;
      sender = sender * 10 + c - 0x30;
      c = buf[++p]!;
    }
    if (sender !== this.senderId) return;
    let n = 0;
    c = buf[++p]!;
    while (c !== 0x22 && p < e) {
      n = n * 10 + c - 0x30;
      c = buf[++p]!;
    }
    this.acknowledged(n);
  }

  private acknowledged(n: number): void {
    const run = this.run;
    const now = performance.now();
    let index = 0;
    if (this.queueN[0] !== n) {
      index = this.queueN.indexOf(n);
      if (index < 0) return; // not in flight (cannot happen unless a server duplicates)
      run.outOfOrderAcks += 1;
    }
    const sentAt = this.queueT[index]!;
    if (index === 0) {
      this.queueN.shift();
      this.queueT.shift();
    } else {
      this.queueN.splice(index, 1);
      this.queueT.splice(index, 1);
    }
    run.acked += 1;
    if (run.recording) run.samples.push(now - sentAt);
    if (run.sending) this.sendMessage();
  }

  sendMessage(): void {
    const n = this.nextN++;
    this.queueN.push(n);
    this.queueT.push(performance.now());
    this.sendText(this.run.messageFrame(`${this.senderId}.${n}`));
  }

  private record(buf: Buffer, s: number, e: number): void {
    const text = buf.toString('utf8', s, e);
    const frame = this.run.socketio ? JSON.parse(text.slice(2))[1] : JSON.parse(text);
    this.seqs.push(frame.seq);
    this.cids.push(frame.cid);
    if (this.senderId >= 0 && typeof frame.cid === 'string' && frame.cid.startsWith(`${this.senderId}.`)) {
      this.run.roomAcks[this.room]!.set(frame.cid, frame.seq);
    }
  }

  private sendText(text: string): void {
    this.write(0x81, Buffer.from(text));
  }

  /** One masked frame (mask key 0000, so the payload goes out as it is). */
  private write(first: number, payload: Buffer): void {
    const socket = this.socket;
    if (!socket || this.closed || socket.destroyed) return;
    const length = payload.length;
    const header = length < 126 ? 6 : length < 65536 ? 8 : 14;
    const frame = Buffer.allocUnsafe(header + length);
    frame[0] = first;
    if (length < 126) {
      frame[1] = 0x80 | length;
    } else if (length < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(0, 2);
      frame.writeUInt32BE(length, 6);
    }
    frame.writeUInt32BE(0, header - 4);
    payload.copy(frame, header);
    socket.write(frame);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects the members of rooms `from` to `to` (by default all of them). */
async function connectAll(run: Run, from = 0, to = run.job.rooms): Promise<void> {
  const { members } = run.job;
  const concurrency = run.job.connectConcurrency ?? 128;
  const connecting: Conn[] = [];
  for (let member = 0; member < members; member++) {
    for (let room = from; room < to; room++) connecting.push(new Conn(run, room, member));
  }
  run.connections.push(...connecting);
  // Members join round-robin across rooms, so no room fills long before the others.
  let next = 0;
  let failure: Error | undefined;
  const worker = async () => {
    while (next < connecting.length && !failure) {
      const conn = connecting[next++]!;
      try {
        await conn.open();
      } catch (error) {
        failure ??= error as Error;
      }
    }
  };
  const timeoutMs = run.job.connectTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connecting ${connecting.length} members took over ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: concurrency }, worker)), timeout]);
  } finally {
    clearTimeout(timer);
  }
  if (failure) throw failure;
}

/**
 * Waits until no frame has arrived for `quietMs` (join storms are over), at most `maxMs`;
 * returns when the last frame arrived.
 */
async function waitQuiet(run: Run, quietMs: number, maxMs: number): Promise<number> {
  const deadline = performance.now() + maxMs;
  let seen = run.frames;
  let quietSince = performance.now();
  while (performance.now() < deadline) {
    await sleep(25);
    if (run.frames !== seen) {
      seen = run.frames;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= quietMs) {
      return quietSince;
    }
  }
  return quietSince;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function latencyOf(samples: number[]): Latency {
  const sorted = Float64Array.from(samples).sort();
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/** Runs one job against a server that is already listening, and always closes every connection. */
export async function runJob(job: Job): Promise<Result> {
  const run = new Run(job);
  run.roomAcks = Array.from({ length: job.rooms }, () => new Map());
  const pids = job.serverPids ?? [];
  try {
    if (job.mode === 'idle') return await measureIdle(run, pids, job.settleMs ?? 1000);
    const connectStart = performance.now();
    await connectAll(run);
    const connectMs = performance.now() - connectStart;
    const lastFrame = await waitQuiet(run, 150, 60_000);
    const fillMs = lastFrame - connectStart;

    const senders = run.connections.filter((conn) => conn.senderId >= 0);
    run.sending = true;
    for (const conn of senders) for (let i = 0; i < job.inflight; i++) conn.sendMessage();
    await sleep(job.warmupMs);

    const t0 = performance.now();
    const delivered0 = run.delivered;
    const acked0 = run.acked;
    const client0 = process.cpuUsage();
    const server0 = pids.map(readProcCpu);
    const machine0 = readMachineBusy();
    const writes0 = sumOver(pids, readProcWrites);
    run.recording = true;
    await sleep(job.durationMs);
    run.recording = false;
    const t1 = performance.now();
    const delivered1 = run.delivered;
    const acked1 = run.acked;
    const client = process.cpuUsage(client0);
    const server1 = pids.map(readProcCpu);
    const machine1 = readMachineBusy();
    const writes1 = sumOver(pids, readProcWrites);
    run.sending = false;

    const windowMs = t1 - t0;
    const deliveries = delivered1 - delivered0;
    const messages = acked1 - acked0;
    const writes = writes0 !== undefined && writes1 !== undefined ? writes1 - writes0 : 0;
    const perProcess = server1.map((cpu, i) => cpu - server0[i]!);
    const serverCpuSec = pids.length ? perProcess.reduce((sum, cpu) => sum + cpu, 0) : undefined;
    const result: Result = {
      ...emptyResult(run, connectMs, fillMs),
      windowMs,
      deliveries,
      messages,
      deliveriesPerSec: (deliveries * 1000) / windowMs,
      messagesPerSec: (messages * 1000) / windowMs,
      fanoutRatio: messages ? deliveries / (messages * job.members) : NaN,
      latency: latencyOf(run.samples),
      serverCpuSec,
      serverCpuShare: serverCpuSec !== undefined ? serverCpuSec / (windowMs / 1000) : undefined,
      serverCpuShares: pids.length ? perProcess.map((cpu) => cpu / (windowMs / 1000)) : undefined,
      serverCpuUsPerDelivery: serverCpuSec !== undefined && deliveries ? (serverCpuSec * 1e6) / deliveries : undefined,
      // Fewer writes than a tenth of the messages: the runtime writes some other way.
      deliveriesPerWrite: writes > messages / 10 ? deliveries / writes : undefined,
      clientCpuShare: (client.user + client.system) / 1000 / windowMs,
      otherCpuShare:
        serverCpuSec !== undefined
          ? (machine1 - machine0 - serverCpuSec - (client.user + client.system) / 1e6) / (windowMs / 1000)
          : undefined,
    };
    if (job.mode === 'verify') result.verify = await verify(run);
    return result;
  } finally {
    run.sending = false;
    for (const conn of run.connections) conn.destroy();
  }
}

/** `read` summed over the server's processes; undefined when there are none, or one cannot be read. */
function sumOver(pids: number[], read: (pid: number) => number | undefined): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const value = read(pid);
    if (value === undefined) return undefined;
    total += value;
  }
  return pids.length ? total : undefined;
}

/**
 * The server's RSS before the first connection, once the first half of the rooms has filled
 * and the frames have stopped for `settleMs`, and the same after the second half.
 */
async function measureIdle(run: Run, pids: number[], settleMs: number): Promise<Result> {
  const half = Math.ceil(run.job.rooms / 2);
  const rssBefore = sumOver(pids, readProcRss);
  const connectStart = performance.now();
  await connectAll(run, 0, half);
  let connectMs = performance.now() - connectStart;
  await waitQuiet(run, settleMs, 60_000);
  const rssHalfway = sumOver(pids, readProcRss);
  const firstHalf = run.connections.length;
  const secondStart = performance.now();
  await connectAll(run, half);
  connectMs += performance.now() - secondStart;
  const lastFrame = await waitQuiet(run, settleMs, 60_000);
  const rssAfter = sumOver(pids, readProcRss);
  const perConnection = (from: number | undefined, to: number | undefined, connections: number) =>
    from !== undefined && to !== undefined && connections > 0 ? (to - from) / connections : undefined;
  return {
    ...emptyResult(run, connectMs, lastFrame - connectStart),
    rssBeforeKiB: rssBefore,
    rssHalfwayKiB: rssHalfway,
    rssAfterKiB: rssAfter,
    kibPerConnection: perConnection(rssBefore, rssAfter, run.connections.length),
    kibPerAddedConnection: perConnection(rssHalfway, rssAfter, run.connections.length - firstHalf),
  };
}

function emptyResult(run: Run, connectMs: number, fillMs: number): Result {
  return {
    connections: run.connections.length,
    connectMs,
    fillMs,
    windowMs: 0,
    deliveries: 0,
    messages: 0,
    deliveriesPerSec: 0,
    messagesPerSec: 0,
    fanoutRatio: NaN,
    latency: latencyOf([]),
    clientCpuShare: 0,
    dropped: run.dropped,
    errorFrames: run.errorFrames,
    firstError: run.firstError,
    outOfOrderAcks: run.outOfOrderAcks,
  };
}

/**
 * Waits for every message in flight to be acknowledged and delivered, then checks that each
 * member received every acknowledged message of its room exactly once, in seq order.
 */
async function verify(run: Run): Promise<Verification> {
  const { rooms, members } = run.job;
  const problems: string[] = [];
  const settled = () => run.connections.every((conn) => conn.inflight === 0 && conn.seqs.length >= run.roomAcks[conn.room]!.size);
  const drainMs = run.job.drainTimeoutMs ?? 10_000;
  const deadline = performance.now() + drainMs;
  while (!settled() && performance.now() < deadline) await sleep(20);
  if (!settled()) problems.push(`deliveries still missing ${drainMs} ms after the senders stopped`);

  let messages = 0;
  let deliveries = 0;
  for (let room = 0; room < rooms; room++) {
    const acks = run.roomAcks[room]!;
    messages += acks.size;
    const seqOf = new Map(acks);
    const bySeq = new Map<number, string>();
    for (const [cid, seq] of acks) {
      if (bySeq.has(seq)) problems.push(`room r${room}: seq ${seq} given to ${bySeq.get(seq)} and ${cid}`);
      bySeq.set(seq, cid);
    }
    for (const conn of run.connections) {
      if (conn.room !== room) continue;
      const who = `room r${room} member m${conn.member}`;
      deliveries += conn.seqs.length;
      if (conn.seqs.length !== acks.size) {
        problems.push(`${who}: received ${conn.seqs.length} messages, ${acks.size} were sent`);
      }
      const seen = new Set<string>();
      for (let i = 0; i < conn.seqs.length; i++) {
        const seq = conn.seqs[i]!;
        const cid = conn.cids[i]!;
        if (i > 0 && seq <= conn.seqs[i - 1]!) {
          problems.push(`${who}: seq ${seq} after ${conn.seqs[i - 1]} (out of order or repeated)`);
        } else if (i > 0 && seq !== conn.seqs[i - 1]! + 1) {
          problems.push(`${who}: seq jumps from ${conn.seqs[i - 1]} to ${seq}`);
        }
        if (seen.has(cid)) problems.push(`${who}: ${cid} delivered twice`);
        seen.add(cid);
        if (seqOf.get(cid) !== seq) problems.push(`${who}: ${cid} arrived as seq ${seq}, its sender saw ${seqOf.get(cid)}`);
      }
      for (const cid of acks.keys()) if (!seen.has(cid)) problems.push(`${who}: ${cid} never arrived`);
      if (problems.length > 20) break;
    }
  }
  if (messages === 0) problems.push('no message was sent');
  if (run.dropped) problems.push(`${run.dropped} connections dropped`);
  if (run.errorFrames) problems.push(`${run.errorFrames} error frames, first: ${run.firstError}`);
  if (run.outOfOrderAcks) problems.push(`${run.outOfOrderAcks} own copies came back out of order`);
  if (deliveries !== messages * members) {
    problems.push(`${deliveries} deliveries, expected ${messages} messages × ${members} members`);
  }
  return { ok: problems.length === 0, messages, deliveries, problems: problems.slice(0, 20) };
}
