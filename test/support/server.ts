// Starts a real server process on a free 127.0.0.1 port and stops it again: edgechat on
// each runtime for the tests (one command line per runtime; the tests only ever see the
// base URL), and through the same launcher every server the benchmark compares.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type RuntimeName = 'node' | 'workers' | 'deno' | 'bun';

export interface StartOptions {
  runtime?: RuntimeName;
  env?: Record<string, string>;
  /** Listen on this port (a restart that clients should find again); a free one otherwise. */
  port?: number;
  /** Start the server with at most this many open file descriptors (`ulimit -n`). */
  fileLimit?: number;
}

export interface RunningServer extends Launched {
  runtime: RuntimeName;
  /** ws://… URL for a path such as `/ws/lobby?name=ann`. */
  wsUrl(path: string): string;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The command line that starts each runtime, given PORT, HOST, DATA_DIR and the test's variables. */
const commands: Record<RuntimeName, (env: Record<string, string>) => string[]> = {
  // What `npm start` runs: Node strips the types itself.
  node: () => [process.execPath, 'src/runtime/node/server.ts'],
  deno: () => npmScript('start:deno'),
  bun: () => npmScript('start:bun'),
  // wrangler dev on workerd, offline (no telemetry, update check or Request.cf download), the
  // test's variables as --var, and the Durable Objects' storage in DATA_DIR.
  workers: ({ PORT, HOST, DATA_DIR, ...vars }) => [
    'env',
    'WRANGLER_SEND_METRICS=false',
    'WRANGLER_HIDE_BANNER=true',
    'CLOUDFLARE_CF_FETCH_ENABLED=false',
    process.execPath,
    'node_modules/wrangler/bin/wrangler.js',
    'dev',
    '--port',
    PORT!,
    '--ip',
    HOST!,
    '--inspector-port',
    '0',
    '--persist-to',
    DATA_DIR!,
    ...Object.entries(vars).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ],
};

/**
 * A package.json script's command line, run by sh as npm would run it (so that `${VAR}`
 * in it is expanded); each start script `exec`s its runtime, which so gets the signals.
 */
export function npmScript(name: string): string[] {
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return ['/bin/sh', '-c', `PATH="${join(root, 'node_modules/.bin')}:$PATH" ${scripts[name]}`];
}

/**
 * A port nothing listens on now, below Linux's range of ephemeral ports (32768 and up):
 * one the kernel handed out for "any port" could meanwhile become the local port of one of
 * the tests' many outgoing connections, and the server started on it would find it taken.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const probe = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => probe.close(resolve));
    return port;
  }
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const runtime = options.runtime ?? 'node';
  const server = await launch((env) => commands[runtime](env), { ...options, name: runtime });
  return { runtime, ...server, wsUrl: (path) => `ws://127.0.0.1:${server.port}${path}` };
}

/**
 * Servers of several runtimes that share one Redis (STORAGE=redis in `options.env`), seen
 * as one server: each WebSocket goes to the next of them in turn, HTTP to the first, and
 * their output is read together.
 */
export async function startCluster(runtimes: RuntimeName[], options: StartOptions = {}): Promise<RunningServer> {
  // Behind a load balancer every instance answers for one public origin; here each has its
  // own port, so each lets the others' origins in as well.
  const ports = await Promise.all(runtimes.map(() => freePort()));
  const origins = [options.env?.ALLOWED_ORIGINS, ...ports.map((port) => `http://127.0.0.1:${port}`)];
  const env = { ...options.env, ALLOWED_ORIGINS: origins.filter(Boolean).join(',') };
  const servers = await Promise.all(runtimes.map((runtime, i) => startServer({ ...options, env, runtime, port: ports[i] })));
  const first = servers[0]!;
  let next = 0;
  const output = () => servers.map((server) => server.output()).join('\n');
  const firstFailure = (codes: (number | null)[]) => codes.find((code) => code !== 0) ?? 0;
  return {
    ...first,
    wsUrl: (path) => servers[next++ % servers.length]!.wsUrl(path),
    output,
    waitForOutput: async (test, waitMs = 10_000) => {
      for (const deadline = Date.now() + waitMs; !test(output()); ) {
        if (Date.now() > deadline) throw new Error(`expected output did not appear within ${waitMs} ms:\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    exited: Promise.all(servers.map((server) => server.exited)).then(firstFailure),
    stop: async (signal, killAfterMs) => firstFailure(await Promise.all(servers.map((server) => server.stop(signal, killAfterMs)))),
  };
}

export interface LaunchOptions {
  /** Names the process in error messages and its scratch directory. */
  name: string;
  env?: Record<string, string> | undefined;
  port?: number | undefined;
  /** Keeps only the newest output beyond this many characters (servers that log a lot). */
  outputLimit?: number;
  /** At most this many open file descriptors (`ulimit -n`) for the process. */
  fileLimit?: number | undefined;
  readyTimeoutMs?: number;
}

export interface Launched {
  port: number;
  baseUrl: string;
  dataDir: string;
  /** The process started, the leader of its own process group. */
  pid: number;
  output(): string;
  waitForOutput(test: (output: string) => boolean, waitMs?: number): Promise<void>;
  exited: Promise<number | null>;
  /**
   * Signals the whole process group and waits for the process to end; with `killAfterMs`,
   * SIGKILL follows when it has not ended by then.
   */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<number | null>;
}

/**
 * The one launcher of servers, for tests and benchmarks alike: the command line made from
 * the environment (PORT, HOST 127.0.0.1, a fresh DATA_DIR unless one is given, and the
 * caller's variables), its own process group, output collected, and ready once /healthz
 * answers.
 */
export async function launch(command: (env: Record<string, string>) => string[], options: LaunchOptions): Promise<Launched> {
  const port = options.port ?? (await freePort());
  const scratch = mkdtempSync(join(tmpdir(), `edgechat-${options.name}-`));
  const env = { DATA_DIR: scratch, ...options.env, PORT: String(port), HOST: '127.0.0.1' };
  const line = command(env);
  const limited = options.fileLimit === undefined ? line : ['/bin/sh', '-c', `ulimit -n ${options.fileLimit} && exec "$@"`, 'sh', ...line];
  const [file, ...args] = limited;
  const child = spawn(file!, args, {
    cwd: root,
    // Its own process group, signalled whole: a launcher (wrangler, a wrapper script) and
    // the server it starts stop together, as they would at a terminal.
    detached: true,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const limit = options.outputLimit ?? Infinity;
  const collect = (chunk: Buffer) => {
    output += chunk;
    if (output.length > limit) output = output.slice(-limit / 2);
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  child.once('error', (error) => (output += `\nspawn failed: ${error.message}`));
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running = false;
      rmSync(scratch, { recursive: true, force: true });
      resolve(code);
    }),
  );
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', killAfterMs?: number) => {
    if (running) signalGroup(signal);
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => signalGroup('SIGKILL'), killAfterMs);
    const code = await exited;
    clearTimeout(timer);
    // Anything the leader left behind (workerd under wrangler) goes too, and is gone before
    // this resolves: a server started next on the same DATA_DIR must find its files free.
    signalGroup('SIGKILL');
    for (let tries = 0; tries < 100 && groupAlive(child.pid!); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return code;
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const readyMs = options.readyTimeoutMs ?? 60_000;
  for (const deadline = Date.now() + readyMs; ; ) {
    if (!running || child.pid === undefined) throw new Error(`${options.name} exited before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      await stop('SIGKILL');
      throw new Error(`${options.name} was not ready within ${readyMs} ms:\n${output}`);
    }
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    baseUrl,
    dataDir: env.DATA_DIR,
    pid: child.pid,
    output: () => output,
    waitForOutput: (test, waitMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!test(output)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`expected output did not appear within ${waitMs} ms:\n${output}`));
        }, waitMs);
        listeners.add(check);
        check();
      }),
    exited,
    stop,
  };
}

/** Whether any process of the group led by `pid` is still there. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
