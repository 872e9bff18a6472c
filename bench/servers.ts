// The servers a benchmark run compares, and starting each one as its own process on a free
// 127.0.0.1 port, in its own process group so that any launcher goes down with it. The
// process measured is the one that holds the listening socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proto } from './client.ts';
import { listenerPid } from './proc.ts';
import { freePort, npmScript } from '../test/support/server.ts';

export const root = fileURLToPath(new URL('..', import.meta.url));

export type ServerId =
  | 'edgechat-node'
  | 'edgechat-node-sqlite'
  | 'edgechat-bun'
  | 'edgechat-bun-sqlite'
  | 'edgechat-deno'
  | 'floor-node'
  | 'socketio-node'
  | 'bun-publish';

export interface ServerDef {
  id: ServerId;
  label: string;
  runtime: 'node' | 'bun' | 'deno';
  proto: Proto;
  /** The command line; Node servers take extra Node flags (for --cpu-prof). */
  command(nodeArgs?: string[]): string[];
  /** Variables of its own, over BENCH_ENV. */
  env?: Record<string, string>;
}

export const SERVERS: readonly ServerDef[] = [
  {
    id: 'edgechat-node',
    label: 'edgechat on Node',
    runtime: 'node',
    proto: 'edgechat',
    command: (nodeArgs = []) => [process.execPath, ...nodeArgs, 'dist/runtime/node/server.js'],
  },
  {
    id: 'edgechat-node-sqlite',
    label: 'edgechat on Node, SQLite',
    runtime: 'node',
    proto: 'edgechat',
    command: (nodeArgs = []) => [process.execPath, ...nodeArgs, 'dist/runtime/node/server.js'],
    env: { STORAGE: 'sqlite' },
  },
  {
    id: 'edgechat-bun',
    label: 'edgechat on Bun',
    runtime: 'bun',
    proto: 'edgechat',
    command: () => npmScript('start:bun'),
  },
  {
    id: 'edgechat-bun-sqlite',
    label: 'edgechat on Bun, SQLite',
    runtime: 'bun',
    proto: 'edgechat',
    command: () => npmScript('start:bun'),
    env: { STORAGE: 'sqlite' },
  },
  {
    id: 'edgechat-deno',
    label: 'edgechat on Deno',
    runtime: 'deno',
    proto: 'edgechat',
    command: () => npmScript('start:deno'),
  },
  {
    id: 'floor-node',
    label: 'floor: tuned ws (Node)',
    runtime: 'node',
    proto: 'edgechat',
    command: (nodeArgs = []) => [process.execPath, ...nodeArgs, 'bench/servers/floor.mjs'],
  },
  {
    id: 'socketio-node',
    label: 'Socket.IO 4 (Node)',
    runtime: 'node',
    proto: 'socketio',
    command: (nodeArgs = []) => [process.execPath, ...nodeArgs, 'bench/servers/socketio.mjs'],
  },
  {
    id: 'bun-publish',
    label: 'Bun native publish',
    runtime: 'bun',
    proto: 'edgechat',
    command: () => [join(root, 'node_modules', '.bin', 'bun'), 'bench/servers/bun-publish.ts'],
  },
];

export function serverById(id: string): ServerDef {
  const def = SERVERS.find((server) => server.id === id);
  if (!def) throw new Error(`unknown server "${id}"; known: ${SERVERS.map((s) => s.id).join(', ')}`);
  return def;
}


export interface Running {
  def: ServerDef;
  port: number;
  /** The process that listens (and is measured). */
  pid: number;
  output(): string;
  /**
   * Ends the process group: SIGKILL at once, or with `graceMs` SIGTERM first and SIGKILL
   * after that long. Resolves when the process is gone.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The configuration every edgechat run gets: no rate limit, rooms as large as any shape,
 * history in memory (the SQLite row measures what storing it costs).
 */
export const BENCH_ENV: Record<string, string> = {
  RATE_LIMIT_PER_SEC: '0',
  MAX_ROOM_MEMBERS: '100000',
  STORAGE: 'memory',
};

export async function startServer(
  def: ServerDef,
  options: { env?: Record<string, string>; nodeArgs?: string[]; readyTimeoutMs?: number } = {},
): Promise<Running> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `edgechat-bench-${def.id}-`));
  const [file, ...args] = def.command(options.nodeArgs);
  const child: ChildProcess = spawn(file!, args, {
    cwd: root,
    env: {
      ...process.env,
      ...BENCH_ENV,
      ...def.env,
      // A database of its own for every run, removed with the process.
      DATA_DIR: dataDir,
      ...options.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // Only the tail is kept: edgechat logs a line per connection.
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 64_000) output = output.slice(-32_000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      rmSync(dataDir, { recursive: true, force: true });
      resolve();
    }),
  );
  child.once('error', (error) => {
    output += `\nspawn failed: ${error.message}`;
  });

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const stop = async (graceMs = 0) => {
    if (exited) return;
    killGroup(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
    const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
    await exit;
    clearTimeout(timer);
    killGroup('SIGKILL'); // anything the wrapper left behind
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (true) {
    if (exited || child.pid === undefined) throw new Error(`${def.id} exited before it was ready:\n${output.slice(-4000)}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(0);
      throw new Error(`${def.id} was not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${output.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = listenerPid(child.pid, port);
  if (pid === undefined) {
    await stop(0);
    throw new Error(`${def.id}: no process in its tree listens on ${port}`);
  }
  return { def, port, pid, output: () => output, stop };
}
