// The servers a benchmark run compares, and starting each one as its own process on a free
// 127.0.0.1 port (in its own process group, so that a wrapper such as `sh` or `npm` goes
// down with it). The process measured is the one that holds the listening socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { freePort } from '../test/support/server.ts';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proto } from './client.ts';
import { listenerPid } from './proc.ts';

export const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'node_modules', '.bin');

export type ServerId = 'edgechat-node' | 'edgechat-bun' | 'edgechat-deno' | 'floor-node' | 'socketio-node' | 'bun-publish';

export interface ServerDef {
  id: ServerId;
  label: string;
  runtime: 'node' | 'bun' | 'deno';
  proto: Proto;
  /** The command line, or why this server cannot run here. */
  command(nodeArgs?: string[]): { argv: string[] } | { missing: string };
}

function scripts(): Record<string, string> {
  try {
    return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts ?? {};
  } catch {
    return {};
  }
}

/** The npm script's own command line (run by `sh` with node_modules/.bin on PATH), else a fallback. */
function viaScript(script: string, entry: string, fallback: string[], tool: string) {
  const line = scripts()[script];
  if (line) return { argv: ['sh', '-c', line] };
  if (!existsSync(join(root, entry))) return { missing: `neither ${entry} nor the npm script "${script}" exists yet` };
  if (!existsSync(join(bin, tool))) return { missing: `node_modules/.bin/${tool} is not installed` };
  return { argv: fallback };
}

export const SERVERS: readonly ServerDef[] = [
  {
    id: 'edgechat-node',
    label: 'edgechat on Node',
    runtime: 'node',
    proto: 'edgechat',
    command: (nodeArgs = []) =>
      existsSync(join(root, 'dist', 'node.js'))
        ? { argv: [process.execPath, ...nodeArgs, 'dist/node.js'] }
        : { missing: 'dist/node.js is not built (npm run build)' },
  },
  {
    id: 'edgechat-bun',
    label: 'edgechat on Bun',
    runtime: 'bun',
    proto: 'edgechat',
    command: () => viaScript('start:bun', 'src/bun.ts', ['bun', 'run', 'src/bun.ts'], 'bun'),
  },
  {
    id: 'edgechat-deno',
    label: 'edgechat on Deno',
    runtime: 'deno',
    proto: 'edgechat',
    command: () => viaScript('start:deno', 'src/deno.ts', ['deno', 'run', '-A', 'src/deno.ts'], 'deno'),
  },
  {
    id: 'floor-node',
    label: 'floor: tuned ws (Node)',
    runtime: 'node',
    proto: 'edgechat',
    command: (nodeArgs = []) => ({ argv: [process.execPath, ...nodeArgs, 'bench/servers/floor.mjs'] }),
  },
  {
    id: 'socketio-node',
    label: 'Socket.IO 4 (Node)',
    runtime: 'node',
    proto: 'socketio',
    command: (nodeArgs = []) =>
      existsSync(join(root, 'node_modules', 'socket.io'))
        ? { argv: [process.execPath, ...nodeArgs, 'bench/servers/socketio.mjs'] }
        : { missing: 'socket.io is not installed (npm install)' },
  },
  {
    id: 'bun-publish',
    label: 'Bun native publish',
    runtime: 'bun',
    proto: 'edgechat',
    command: () =>
      existsSync(join(bin, 'bun'))
        ? { argv: ['bun', 'bench/servers/bun-publish.ts'] }
        : { missing: 'node_modules/.bin/bun is not installed' },
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

/** The configuration every edgechat run gets: no rate limit, rooms as large as any shape. */
export const BENCH_ENV: Record<string, string> = {
  RATE_LIMIT_PER_SEC: '0',
  MAX_ROOM_MEMBERS: '100000',
};

export async function startServer(
  def: ServerDef,
  options: { env?: Record<string, string>; nodeArgs?: string[]; readyTimeoutMs?: number } = {},
): Promise<Running> {
  const command = def.command(options.nodeArgs);
  if ('missing' in command) throw new Error(`${def.id}: ${command.missing}`);
  const port = await freePort();
  const [file, ...args] = command.argv;
  const child: ChildProcess = spawn(file!, args, {
    cwd: root,
    env: {
      ...process.env,
      PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
      ...BENCH_ENV,
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
