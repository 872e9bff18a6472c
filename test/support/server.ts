// Starts a real edgechat server process on a free 127.0.0.1 port and stops it again.
// Each runtime is one command line; the tests only ever see the base URL.
import { spawn, type ChildProcess } from 'node:child_process';
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
}

export interface RunningServer {
  runtime: RuntimeName;
  baseUrl: string;
  /** Where the server keeps its data (a fresh directory unless the test gave DATA_DIR). */
  dataDir: string;
  /** ws://… URL for a path such as `/ws/lobby?name=ann`. */
  wsUrl(path: string): string;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves once the printed output satisfies `test`. */
  waitForOutput(test: (output: string) => boolean, waitMs?: number): Promise<void>;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** Sends `signal` and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The command line that starts each runtime; PORT, HOST and the test's variables are in
 * `env`, and `scratch` is an empty directory removed when the process has ended (also the
 * DATA_DIR unless the test names one).
 */
const commands: Record<RuntimeName, (env: Record<string, string>) => string[]> = {
  node: () => [process.execPath, 'dist/runtime/node/server.js'],
  deno: () => npmScript('start:deno'),
  bun: () => npmScript('start:bun'),
  // wrangler dev on workerd, offline (no telemetry, update check or Request.cf download), the
  // test's variables as --var, and the Durable Objects' storage in DATA_DIR.
  workers: ({ PORT, HOST, DATA_DIR, ...vars }) => [
    'env', 'WRANGLER_SEND_METRICS=false', 'WRANGLER_HIDE_BANNER=true', 'CLOUDFLARE_CF_FETCH_ENABLED=false',
    process.execPath, 'node_modules/wrangler/bin/wrangler.js', 'dev', '--port', PORT!, '--ip', HOST!,
    '--inspector-port', '0',
    '--persist-to', DATA_DIR!,
    ...Object.entries(vars).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ],
};

/**
 * A package.json script's command line, run by sh as npm would run it (so that `${VAR}`
 * in it is expanded) but with `exec`, so the runtime itself gets the signals: npm would not
 * pass SIGTERM on.
 */
export function npmScript(name: string): string[] {
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return ['/bin/sh', '-c', `PATH="${join(root, 'node_modules/.bin')}:$PATH" exec ${scripts[name]}`];
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const runtime = options.runtime ?? 'node';
  const port = options.port ?? (await freePort());
  const scratch = mkdtempSync(join(tmpdir(), `edgechat-${runtime}-`));
  const env = { DATA_DIR: scratch, ...options.env, PORT: String(port), HOST: '127.0.0.1' };
  const [command, ...args] = commands[runtime](env);
  const child = spawn(command!, args, {
    cwd: root,
    // Its own process group, signalled whole: a launcher (wrangler, a wrapper script) and
    // the server it starts stop together, as they would at a terminal.
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk;
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      rmSync(scratch, { recursive: true, force: true });
      resolve(code);
    }),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilHealthy(baseUrl, child, exited, () => output);
  return {
    runtime,
    baseUrl,
    dataDir: env.DATA_DIR,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
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
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
      return exited;
    },
  };
}

async function waitUntilHealthy(
  baseUrl: string,
  child: ChildProcess,
  exited: Promise<number | null>,
  output: () => string,
): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`server exited before it was ready:\n${output()}`);
    try {
      const response = await fetch(`${baseUrl}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.kill(-child.pid!, 'SIGKILL');
  throw new Error(`server did not become ready within 60 s:\n${output()}`);
}
