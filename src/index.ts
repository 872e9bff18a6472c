// edgechat as a library: the chat service as a Hono app, to mount into an app of your own
// on Node, Deno or Bun (the runtime entries in runtime/ do the same around a server of
// their own). Workers mount src/runtime/workers/worker.ts instead: rooms are Durable
// Objects there.
import type { Hono, MiddlewareHandler } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';
import type { WSContext } from 'hono/ws';
import type { AppEnv } from './core/app.ts';
import { readConfig, type Config } from './core/config.ts';
import { ConnectionCounter } from './core/connections.ts';
import type { Engine } from './core/engine.ts';
import type { Upgrade } from './core/local-rooms.ts';
import { RoomRegistry } from './core/registry.ts';
import type { Connection } from './core/room.ts';
import { createProcessApp, openEngine, startHeartbeat } from './runtime/process.ts';

export { readConfig, type Config } from './core/config.ts';
export type { Engine } from './core/engine.ts';
export type { RoomRegistry } from './core/registry.ts';
export type * from './core/protocol.ts';

export interface ChatAppOptions {
  /**
   * The configuration variables of the README's table (`process.env`, `Deno.env.toObject()`,
   * or a plain object); what is not given takes its default.
   */
  env?: object;
  /** The runtime's Hono WebSocket helper: `upgradeWebSocket` of `@hono/node-server`, `hono/bun` or `hono/deno`. */
  upgradeWebSocket: Upgrade;
  /** The runtime's `getConnInfo`, which tells clients apart for the limits. */
  getConnInfo: GetConnInfo;
  /** The runtime's `serveStatic`, to serve the chat page at `/`; without it, only the API and `/ws`. */
  serveStatic?: (options: { root: string }) => MiddlewareHandler;
  /** Where rooms live; by default what STORAGE says (SQLite in DATA_DIR, memory, or Redis). */
  engine?: Engine;
}

export interface ChatApp {
  /** Routes `/ws/:room`, `/api/rooms/*`, `/healthz`, `/metrics` (and `/` with `serveStatic`). */
  app: Hono<AppEnv>;
  /** The rooms of this process. */
  rooms: RoomRegistry;
  config: Config;
  /** Closes every connection with 1001 (clients resume elsewhere) and then the storage. */
  close(): Promise<void>;
}

/**
 * The chat service as a Hono app. Mount it with `app.route('/', chat.app)`. The runtime's
 * WebSocket server should refuse frames over MAX_FRAME_BYTES while reading them (`ws`'s
 * `maxPayload`, Bun's `maxPayloadLength`), as the runtime entries do.
 */
export function createChatApp(options: ChatAppOptions): ChatApp {
  const config = readConfig(options.env ?? {});
  const engine = options.engine ?? openEngine(config);
  const rooms = new RoomRegistry(config, engine);
  // Bun and Deno ping their sockets themselves (idleTimeout); Node's `ws` needs it done.
  const pingable = new Set<PingableSocket>();
  const heartbeat = startHeartbeat(() => pingable, config.pingIntervalMs);
  const app = createProcessApp({
    config,
    registry: rooms,
    connections: new ConnectionCounter(config.maxConnectionsPerClient, config.maxConnections),
    upgrade: options.upgradeWebSocket,
    toConnection: (ws) => {
      if (isPingable(ws.raw)) {
        const raw = ws.raw;
        pingable.add(raw);
        raw.on('pong', () => heartbeat.answered(raw));
        raw.once('close', () => pingable.delete(raw));
      }
      return socketConnection(ws);
    },
    serveStatic: options.serveStatic,
    connInfo: options.getConnInfo,
  });
  return {
    app,
    rooms,
    config,
    close: async () => {
      heartbeat.stop();
      rooms.shutdown();
      await engine.close();
    },
  };
}

/** A socket of `ws` (Node): pinged every PING_INTERVAL_MS, and dropped when it stops answering. */
interface PingableSocket {
  ping(): void;
  terminate(): void;
  on(event: 'pong', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

function isPingable(raw: unknown): raw is PingableSocket {
  if (typeof raw !== 'object' || raw === null) return false;
  return ['ping', 'terminate', 'on', 'once'].every((method) => typeof Reflect.get(raw, method) === 'function');
}

/** A socket through Hono's WebSocket helper, whatever the runtime under it. */
function socketConnection(ws: WSContext): Connection {
  return {
    // Without an encode (see RoomOptions) the room hands over strings: nothing is copied.
    send: (payload) => ws.send(typeof payload === 'string' ? payload : Uint8Array.from(payload)),
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return bufferedAmountOf(ws.raw);
    },
  };
}

/** What the runtime's socket has queued: Bun's `getBufferedAmount()`, or the standard property. */
function bufferedAmountOf(raw: unknown): number {
  if (typeof raw !== 'object' || raw === null) return 0;
  if ('getBufferedAmount' in raw && typeof raw.getBufferedAmount === 'function') return Number(raw.getBufferedAmount());
  if ('bufferedAmount' in raw && typeof raw.bufferedAmount === 'number') return raw.bufferedAmount;
  return 0;
}
