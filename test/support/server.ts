// Starts a real edgechat server process on a free 127.0.0.1 port and stops it again.
// Each runtime is one command line; the tests only ever see the base URL.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export type RuntimeName = 'node';

export interface StartOptions {
  runtime?: RuntimeName;
  env?: Record<string, string>;
}

export interface RunningServer {
  runtime: RuntimeName;
  baseUrl: string;
  /** ws://… URL for a path such as `/ws/lobby?name=ann`. */
  wsUrl(path: string): string;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** Sends `signal` and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The command line that starts each runtime; PORT, HOST and the test's variables are in `env`. */
const commands: Record<RuntimeName, (env: Record<string, string>) => string[]> = {
  node: () => [process.execPath, 'dist/node.js'],
};

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const runtime = options.runtime ?? 'node';
  const port = await freePort();
  const env = { ...options.env, PORT: String(port), HOST: '127.0.0.1' };
  const [command, ...args] = commands[runtime](env);
  const child = spawn(command!, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilHealthy(baseUrl, child, exited, () => output);
  return {
    runtime,
    baseUrl,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    output: () => output,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
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
  child.kill('SIGKILL');
  throw new Error(`server did not become ready within 60 s:\n${output()}`);
}
