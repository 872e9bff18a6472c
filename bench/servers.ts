// The servers a benchmark run compares, each started by the tests' launcher as its own
// process group on a free 127.0.0.1 port. The process measured is the one that holds the
// listening socket. A cluster is several such processes sharing a redis-server started for
// it alone (by the tests' starter), and all of them, Redis included, are measured together.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proto } from './client.ts';
import { listenerPid } from './proc.ts';
import { startRedis } from '../test/support/redis.ts';
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
  | 'bun-publish'
  | 'edgechat-node-redis'
  | 'edgechat-node-redis-single'
  | 'socketio-node-redis';

export interface ServerDef {
  id: ServerId;
  label: string;
  runtime: 'node' | 'bun' | 'deno';
  proto: Proto;
  /** The command line; Node servers take extra Node flags (for --cpu-prof). */
  command(nodeArgs?: string[]): string[];
  /** Variables of its own, over BENCH_ENV. */
  env?: Record<string, string>;
  /** A cluster: this many processes of the command, given the REDIS_URL of a fresh redis-server. */
  instances?: number;
  /**
   * The shapes (and 'idle') it is measured in by a run that does not name its servers; all
   * when absent. A run that names it measures it in every shape asked.
   */
  shapes?: readonly string[];
}

/**
 * The clusters are there to be compared with edgechat on Node in memory and with each other
 * in room200, where each of their measurements starts three processes.
 */
const CLUSTER = { instances: 2, shapes: ['room200'] } as const;
const REDIS_NODE = {
  runtime: 'node',
  proto: 'edgechat',
  command: (nodeArgs: string[] = []) => [process.execPath, ...nodeArgs, 'src/runtime/node/server.ts'],
  env: { STORAGE: 'redis' },
} as const;

export const SERVERS: readonly ServerDef[] = [
  {
    id: 'edgechat-node',
    label: 'edgechat on Node',
    runtime: 'node',
    proto: 'edgechat',
    command: (nodeArgs = []) => [process.execPath, ...nodeArgs, 'src/runtime/node/server.ts'],
  },
  {
    id: 'edgechat-node-sqlite',
    label: 'edgechat on Node, SQLite',
    runtime: 'node',
    proto: 'edgechat',
    command: (nodeArgs = []) => [process.execPath, ...nodeArgs, 'src/runtime/node/server.ts'],
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
  {
    id: 'edgechat-node-redis',
    label: 'edgechat on Node ×2, Redis',
    ...REDIS_NODE,
    ...CLUSTER,
  },
  // The same process alone on its redis-server: what Redis costs without the room being split.
  {
    id: 'edgechat-node-redis-single',
    label: 'edgechat on Node ×1, Redis',
    ...REDIS_NODE,
    ...CLUSTER,
    instances: 1,
  },
  {
    id: 'socketio-node-redis',
    label: 'Socket.IO 4 ×2, Redis adapter',
    runtime: 'node',
    proto: 'socketio',
    // The same server as socketio-node: given REDIS_URL, it shares its rooms through the adapter.
    command: (nodeArgs = []) => [process.execPath, ...nodeArgs, 'bench/servers/socketio.mjs'],
    ...CLUSTER,
  },
];

export function serverById(id: string): ServerDef {
  const def = SERVERS.find((server) => server.id === id);
  if (!def) throw new Error(`unknown server "${id}"; known: ${SERVERS.map((s) => s.id).join(', ')}`);
  return def;
}

export interface Running {
  def: ServerDef;
  /** Where members connect: the port of each process of the server. */
  ports: number[];
  /** The processes measured: each one that listens, then redis-server for a cluster. */
  pids: number[];
  output(): string;
  /**
   * Ends every process group: SIGKILL at once, or with `graceMs` SIGTERM first and SIGKILL
   * after that long. Resolves when the processes are gone (and a cluster's Redis with them).
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The configuration every edgechat run gets: no rate limits or connection caps, rooms as
 * large as any shape, history in memory (the SQLite and Redis rows measure what storing it
 * elsewhere costs).
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

interface StartOptions {
  env?: Record<string, string>;
  nodeArgs?: string[];
  readyTimeoutMs?: number;
}

export function startServer(def: ServerDef, options: StartOptions = {}): Promise<Running> {
  return def.instances ? startCluster(def, def.instances, options) : startProcess(def, options);
}

/** `instances` processes of the server on a redis-server of their own, fresh for each measurement. */
async function startCluster(def: ServerDef, instances: number, options: StartOptions): Promise<Running> {
  const redis = await startRedis();
  const processes: Running[] = [];
  const stop = async (graceMs = 0) => {
    await Promise.all(processes.map((one) => one.stop(graceMs)));
    await redis.dispose();
  };
  try {
    const env = { ...options.env, REDIS_URL: redis.url };
    for (let i = 0; i < instances; i++) processes.push(await startProcess(def, { ...options, env }));
    // redis-server is a child of this process: the one of them that listens on its port.
    const redisPid = listenerPid(process.pid, redis.port);
    if (redisPid === undefined) throw new Error(`${def.id}: no redis-server listens on ${redis.port}`);
    return {
      def,
      ports: processes.flatMap((one) => one.ports),
      pids: [...processes.flatMap((one) => one.pids), redisPid],
      output: () => [...processes.map((one) => one.output()), redis.output()].join('\n'),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One process of the server. */
async function startProcess(def: ServerDef, options: StartOptions): Promise<Running> {
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
  return { def, ports: [server.port], pids: [pid], output: server.output, stop };
}
