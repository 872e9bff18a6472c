// Starts a real redis-server process for the tests, each call its own: on a free 127.0.0.1
// port, in a fresh directory, in its own process group (as test/support/server.ts launches
// edgechat), so that a test can stop, crash and restart the server its storage talks to.
//
// The directory outlives stop() and kill(), so that restart() finds the data again (the
// append-only file, with `appendonly: true`); dispose() ends the server and removes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort } from './server.ts';

export interface RedisOptions {
  /**
   * Log every write to the append-only file and fsync it before replying, so that what a
   * client was told is stored survives kill() as well as stop(). Otherwise Redis keeps
   * nothing on disk (no RDB snapshots either) and every start is empty.
   */
  appendonly?: boolean;
  /** How long to wait for PING to be answered after each start (default 10 s). */
  readyTimeoutMs?: number;
}

export interface RunningRedis {
  /** redis://127.0.0.1:PORT, for createClient({ url }). */
  url: string;
  port: number;
  /** The server's working directory (`--dir`): where the append-only file lives. */
  dir: string;
  /** Everything the server has logged, across restarts. */
  output(): string;
  /** SIGTERM (a clean shutdown: the AOF is flushed), SIGKILL when not gone after 5 s. Keeps `dir`. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. Keeps `dir`. */
  kill(): Promise<void>;
  /** SIGSTOP: a Redis that hangs, its connections open and silent, until resume() (SIGCONT). */
  pause(): void;
  resume(): void;
  /** Stops the server if it runs, and starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** Empties every database, through a short-lived client. */
  flushAll(): Promise<void>;
  /** How many keys database 0 holds (DBSIZE), through a short-lived client. */
  keyCount(): Promise<number>;
  /** Stops the server if it runs and removes `dir`: the last call, in afterEach/afterAll. */
  dispose(): Promise<void>;
}

const stopGraceMs = 5_000;

export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'edgechat-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    // No RDB snapshots: with appendonly no, nothing is ever written to `dir`.
    '--save',
    '',
    ...(options.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ];
  const readyMs = options.readyTimeoutMs ?? 10_000;
  let output = '';
  // The process running now, if any, and its end.
  let current: { child: ChildProcess; exited: Promise<void> } | undefined;

  const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
    if (child.pid === undefined) return; // never started
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };

  const end = async (signal: NodeJS.Signals) => {
    if (!current) return;
    const { child, exited } = current;
    signalGroup(child, signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => signalGroup(child, 'SIGKILL'), stopGraceMs);
    await exited;
    clearTimeout(timer);
    // A child it forked (an AOF rewrite) goes too: the next server must be alone in `dir`.
    signalGroup(child, 'SIGKILL');
    if (current?.child === child) current = undefined;
  };

  const start = async () => {
    const child = spawn('redis-server', args, {
      // Its own process group, signalled whole, as server.ts does.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let running = true;
    const collect = (chunk: Buffer) => (output += chunk);
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      // Not started at all (no redis-server on PATH): 'exit' need not follow.
      child.once('error', (error) => {
        output += `\nspawn redis-server failed: ${error.message} (.ci/run installs Debian's redis-server)`;
        resolve();
      });
    }).then(() => {
      running = false;
    });
    current = { child, exited };
    // Ready once it answers PING: listening, and done loading the AOF (until then PING
    // gets a LOADING error).
    for (const deadline = Date.now() + readyMs; ; ) {
      if (!running) throw new Error(`redis-server exited before it was ready:\n${output}`);
      if (Date.now() > deadline) {
        await end('SIGKILL');
        throw new Error(`redis-server did not answer PING within ${readyMs} ms:\n${output}`);
      }
      try {
        if ((await withClient(url, (client) => client.ping())) === 'PONG') return;
      } catch {
        // not listening yet, or still loading
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    port,
    dir,
    output: () => output,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    pause: () => current && signalGroup(current.child, 'SIGSTOP'),
    resume: () => current && signalGroup(current.child, 'SIGCONT'),
    restart: async () => {
      await end('SIGTERM');
      await start();
    },
    flushAll: async () => void (await withClient(url, (client) => client.flushAll())),
    keyCount: () => withClient(url, (client) => client.dbSize()),
    dispose: async () => {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `use` on a client of its own, connected once (no reconnecting), and closes it. */
async function withClient<T>(url: string, use: (client: ReturnType<typeof createClient>) => Promise<T>): Promise<T> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 1_000 } });
  // Failures reach the caller through connect() or the command; unheard, the 'error' event
  // would be thrown.
  client.on('error', () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    if (client.isOpen) client.destroy();
  }
}
