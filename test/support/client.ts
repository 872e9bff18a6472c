// A real `ws` client for tests: it records every frame and lets a test await the next
// frame of a kind, the close, or the HTTP answer that refused the upgrade.
import type { Socket } from 'node:net';
import WebSocket, { type ClientOptions } from 'ws';

export type Frame = { type: string; [field: string]: any };
type Match = string | ((frame: Frame) => boolean);

export interface Refusal {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface Closed {
  code: number;
  reason: string;
}

const WAIT_MS = 10_000;

export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<Closed>;
  private readonly consumed = new Set<Frame>();
  private readonly waiters = new Set<() => void>();

  readonly socket: WebSocket;
  private upgradedOn: Socket | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.once('upgrade', (response) => (this.upgradedOn = response.socket));
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    socket.on('message', (data, isBinary) => {
      this.frames.push(isBinary ? { type: '<binary>' } : JSON.parse(data.toString()));
      for (const wake of this.waiters) wake();
    });
    socket.on('error', () => {}); // the close event carries what a test needs
  }

  /** Opens a connection and waits for its welcome frame. */
  static async join(url: string, options?: ClientOptions): Promise<TestClient> {
    const client = await TestClient.open(url, options);
    // A close instead of the welcome (room_full, say) is said at once, with its code.
    const closedFirst = client.closed.then(({ code, reason }) => new Error(`closed with ${code} ${reason} before its welcome`));
    const first = await Promise.race([client.next('welcome'), closedFirst]);
    if (first instanceof Error) throw first;
    return client;
  }

  /** Opens a connection without waiting for any frame. */
  static open(url: string, options?: ClientOptions): Promise<TestClient> {
    const socket = new WebSocket(url, options);
    const client = new TestClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused with ${response.statusCode}`)));
      socket.once('error', reject);
    });
  }

  /** Expects the upgrade to be refused, and returns the HTTP status and JSON body. */
  static refused(url: string, options?: ClientOptions): Promise<Refusal> {
    const socket = new WebSocket(url, options);
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        socket.terminate();
        reject(new Error('the upgrade was accepted'));
      });
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(body) }));
      });
      socket.once('error', () => {});
    });
  }

  /**
   * The TCP connection under the WebSocket: for bytes that `ws` refuses to send, a reset,
   * or a reader that stops reading.
   */
  get tcp(): Socket {
    if (!this.upgradedOn) throw new Error('not upgraded yet');
    return this.upgradedOn;
  }

  get welcome(): Frame {
    const welcome = this.frames.find((frame) => frame.type === 'welcome');
    if (!welcome) throw new Error('no welcome yet');
    return welcome;
  }

  send(frame: object | string): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame not yet taken that matches, waiting for it if need be. */
  next(match: Match, waitMs = WAIT_MS): Promise<Frame> {
    const test = typeof match === 'string' ? (frame: Frame) => frame.type === match : match;
    return new Promise((resolve, reject) => {
      const look = () => {
        const found = this.frames.find((frame) => !this.consumed.has(frame) && test(frame));
        if (!found) return false;
        this.consumed.add(found);
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const wake = () => void look();
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`no ${String(match)} frame within ${waitMs} ms; got ${JSON.stringify(this.frames)}`));
      }, waitMs);
      if (!look()) this.waiters.add(wake);
    });
  }

  /** Sends a ping and waits for its pong: every frame the server sent before it has arrived. */
  async roundTrip(): Promise<void> {
    this.send({ type: 'ping' });
    await this.next('pong');
  }

  /** Frames seen so far that match (taken or not). */
  seen(match: Match): Frame[] {
    const test = typeof match === 'string' ? (frame: Frame) => frame.type === match : match;
    return this.frames.filter(test);
  }

  close(): Promise<Closed> {
    this.socket.close(1000);
    return this.closed;
  }
}
