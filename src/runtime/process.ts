// What the runtimes with a process share (Node, and Deno and Bun through node:process):
// start-up (configuration, storage), process metrics, protocol pings and shutdown. Not in
// the core, which also runs on Workers, where none of these exist.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import type { MiddlewareHandler } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';
import type { WSContext } from 'hono/ws';
import { createApp } from '../core/app.ts';
import { LocalEngine, type Engine } from '../core/engine.ts';
import { ConfigError, readConfig, type Config } from '../core/config.ts';
import { ConnectionCounter } from '../core/connections.ts';
import { logEvent } from '../core/log.ts';
import { localRooms, type Upgrade } from '../core/local-rooms.ts';
import type { RoomRegistry } from '../core/registry.ts';
import type { Connection } from '../core/room.ts';
import { SqlStorage } from '../core/sql-store.ts';
import { MemoryStorage, type Storage } from '../core/store.ts';
import { RedisEngine } from './redis-engine.ts';
import { openSqlite, type SqliteOptions } from './sqlite.ts';

/** How long shutdown waits for sockets to close before it exits anyway. */
const SHUTDOWN_GRACE_MS = 4000;

/** The database file inside DATA_DIR. */
const DATABASE_FILE = 'edgechat.db';

/** Start-up: the configuration and the rooms' engine; on a problem, one line on stderr and exit 1. */
export function startUp(sqlite: SqliteOptions = {}): { config: Config; engine: Engine; connections: ConnectionCounter } {
  let config: Config | undefined;
  try {
    config = readConfig(process.env);
    const connections = new ConnectionCounter(config.maxConnectionsPerClient, config.maxConnections);
    return { config, engine: openEngine(config, sqlite), connections };
  } catch (error) {
    const problem = error instanceof ConfigError ? error.message : `cannot open storage in DATA_DIR=${config?.dataDir}: ${String(error)}`;
    console.error(`edgechat: ${problem}`);
    process.exit(1);
  }
}

/** The engine STORAGE names: Redis, or rooms in this process over SQLite or memory. */
export function openEngine(config: Config, sqlite: SqliteOptions = {}): Engine {
  return config.storage === 'redis' ? new RedisEngine(config) : new LocalEngine(openStorage(config, sqlite));
}

function openStorage(config: Config, sqlite: SqliteOptions): Storage {
  if (config.storage === 'memory') return new MemoryStorage(config.historyRetention);
  mkdirSync(config.dataDir, { recursive: true });
  const sql = openSqlite(join(config.dataDir, DATABASE_FILE), sqlite);
  const storage = new SqlStorage(sql, config.historyRetention);
  // At once rather than on the first join: a database that cannot be used stops start-up.
  storage.prepare();
  return storage;
}

/** What differs between the runtimes in the app they serve. */
export interface ProcessAppParts {
  config: Config;
  registry: RoomRegistry;
  connections: ConnectionCounter;
  upgrade: Upgrade;
  toConnection: (ws: WSContext) => Connection;
  /** The runtime's static-file middleware (Hono's serveStatic for it); without it, no chat page. */
  serveStatic?: ((options: { root: string }) => MiddlewareHandler) | undefined;
  connInfo: GetConnInfo;
}

/** The app of a runtime with a process: rooms in this process, /metrics, and static/ if asked. */
export function createProcessApp(parts: ProcessAppParts) {
  const { config, registry, connections, upgrade, toConnection, serveStatic, connInfo } = parts;
  return createApp({
    config,
    rooms: localRooms(registry, upgrade, toConnection),
    metrics: () => registry.renderMetrics(processMetrics()),
    assets: serveStatic?.({ root: staticRoot() }),
    connInfo,
    connections,
    problem: () => registry.problem,
  });
}

/**
 * The chat page's directory: `static/` at the top of the project, which this file sees
 * two levels up in the repository (src/runtime/) and three in the package (dist/src/runtime/).
 */
export function staticRoot(): string {
  const candidates = ['../../static', '../../../static'].map((path) => fileURLToPath(new URL(path, import.meta.url)));
  return candidates.find((root) => existsSync(join(root, 'index.html'))) ?? candidates[0]!;
}

/** Memory and CPU of this process, appended to /metrics. */
export function processMetrics(): string {
  const { rss, heapUsed } = process.memoryUsage();
  const { user, system } = process.cpuUsage();
  return [
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${rss}`,
    '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${(user + system) / 1e6}`,
    '# TYPE nodejs_heap_used_bytes gauge',
    `nodejs_heap_used_bytes ${heapUsed}`,
    '',
  ].join('\n');
}

interface Pingable {
  ping(): void;
  terminate(): void;
}

/**
 * Protocol pings: every interval each socket is pinged, and one that has not answered the
 * previous ping is terminated (its close then announces the leave). Call `answered` from
 * the runtime's pong event.
 */
export function startHeartbeat<S extends Pingable>(sockets: () => Iterable<S>, intervalMs: number) {
  const awaitingPong = new WeakSet<S>();
  const timer = setInterval(() => {
    for (const ws of sockets()) {
      if (awaitingPong.has(ws)) {
        ws.terminate();
      } else {
        awaitingPong.add(ws);
        ws.ping();
      }
    }
  }, intervalMs);
  // The server keeps the process alive, not its pings.
  timer.unref?.();
  return {
    answered: (ws: S) => void awaitingPong.delete(ws),
    stop: () => clearInterval(timer),
  };
}

/** What shutdown needs of the runtime's server. */
export interface Drainable {
  /** Open sockets, for the log line. */
  connections(): number;
  /**
   * Stops accepting, closes every socket that is still open with 1001 (those in a room
   * are closed already), and resolves once they are all gone.
   */
  drain(): Promise<void>;
}

/**
 * On SIGTERM or SIGINT: every member is closed with 1001 so that clients reconnect and
 * resume, the storage is closed once the sockets are gone (or the grace period is over),
 * and the process exits.
 */
export function exitOnSignals(registry: RoomRegistry, engine: Engine, server: Drainable): void {
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logEvent('shutdown', { signal, connections: server.connections() });
    registry.shutdown();
    const grace = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS));
    void Promise.race([server.drain(), grace])
      .then(() => engine.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
