// The servers a benchmark run compares, each started by the tests' launcher as its own
// process group on a free 127.0.0.1 port. The process measured is the one that holds the
// listening socket.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proto } from './client.ts';
import { listenerPid } from './proc.ts';
import { launch, npmScript } from '../test/support/server.ts';

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
 * The configuration every edgechat run gets: no rate limits or connection caps, rooms as
 * large as any shape, history in memory (the SQLite rows measure what storing it costs).
 */
export const BENCH_ENV: Record<string, string> = {
  RATE_LIMIT_PER_SEC: '0',
  // One load client on one address stands in for every member.
  CLIENT_RATE_PER_SEC: '0',
  HTTP_RATE_PER_SEC: '0',
  MAX_CONNECTIONS_PER_CLIENT: '100000',
  MAX_CONNECTIONS: '100000',
  MAX_ROOM_MEMBERS: '100000',
  STORAGE: 'memory',
};

export async function startServer(
  def: ServerDef,
  options: { env?: Record<string, string>; nodeArgs?: string[]; readyTimeoutMs?: number } = {},
): Promise<Running> {
  const server = await launch(() => def.command(options.nodeArgs), {
    name: def.id,
    env: { ...BENCH_ENV, ...def.env, ...options.env },
    // Only the tail is kept: edgechat logs a line per connection.
    outputLimit: 64_000,
    ...(options.readyTimeoutMs !== undefined && { readyTimeoutMs: options.readyTimeoutMs }),
  });
  const stop = async (graceMs = 0) => {
    await (graceMs > 0 ? server.stop('SIGTERM', graceMs) : server.stop('SIGKILL'));
  };
  const pid = listenerPid(server.pid, server.port);
  if (pid === undefined) {
    await stop();
    throw new Error(`${def.id}: no process in its tree listens on ${server.port}`);
  }
  return { def, port: server.port, pid, output: server.output, stop };
}
