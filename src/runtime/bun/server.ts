// Bun entry: the shared app on Bun.serve with Hono's Bun WebSocket helper. Bun enforces
// the frame size limit itself and frames each broadcast once for the whole room (topic
// publish, see Fanout); protocol pings and graceful shutdown are done here.
import type { ServerWebSocket } from 'bun';
import { getConnInfo, serveStatic, upgradeWebSocket, websocket, type BunWebSocketData } from 'hono/bun';
import type { WSContext } from 'hono/ws';
import type { Upgrade } from '../../core/local-rooms.ts';
import { logEvent } from '../../core/log.ts';
import { Close } from '../../core/protocol.ts';
import { RoomRegistry } from '../../core/registry.ts';
import type { Connection } from '../../core/room.ts';
import { createProcessApp, exitOnSignals, startHeartbeat, startUp } from '../process.ts';

type Socket = ServerWebSocket<BunWebSocketData>;

// With SQLite, messages are committed once per turn, and every socket operation of the turn
// waits for that commit (see `held` below).
const { config, engine, connections } = startUp({ commitPerTurn: true });

/**
 * Socket operations held until the turn's messages are committed: Bun sends a frame as
 * soon as the handler that made it returns, so a frame sent at once could announce a
 * message that a crash before the commit would take back. One queue for every socket keeps
 * the order of the calls (a subscribe after a publish still misses it), and an operation on
 * a socket that has closed meanwhile is simply dropped.
 */
const held: (() => void)[] = [];
function afterCommit(operation: () => void): void {
  if (held.length === 0) setImmediate(releaseHeld);
  held.push(operation);
}
function releaseHeld(): void {
  engine.flush();
  for (const operation of held.splice(0)) {
    try {
      operation();
    } catch {
      // the socket closed meanwhile
    }
  }
}
const run: (operation: () => void) => void = config.storage === 'sqlite' ? afterCommit : (operation) => operation();

/** A Connection that keeps its socket, for the room's fan-out below. */
interface BunConnection extends Connection {
  readonly ws: Socket;
}
const socketOf = (connection: Connection) => (connection as BunConnection).ws;

// Each room is a topic of the same name. `ws.publish` skips that socket (presence and
// typing are not echoed to their member), and a socket leaves its topics when it closes.
// The registry has no `encode`, so every payload is the room's string: a text frame.
const registry = new RoomRegistry(config, engine, {
  fanout: (room) => ({
    add: (connection) => run(() => socketOf(connection).subscribe(room)),
    publish: (payload, except) =>
      run(() => {
        if (except) socketOf(except).publishText(room, payload as string);
        else server.publish(room, payload as string);
      }),
  }),
});

/** A class rather than an object of closures: an idle socket keeps one small object. */
class BunSocketConnection implements BunConnection {
  readonly ws: Socket;

  constructor(ws: Socket) {
    this.ws = ws;
  }

  send(payload: string | Uint8Array): void {
    run(() => this.ws.sendText(payload as string));
  }

  close(code: number, reason: string): void {
    run(() => this.ws.close(code, reason));
  }

  get bufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }
}

/**
 * Hono's helper keeps the request's URL in each socket's data and parses it again for every
 * event; nothing here reads it, so the socket lets it go once open.
 */
const toConnection = (context: WSContext): BunConnection => {
  const ws = context.raw as Socket;
  (ws.data as Partial<BunWebSocketData>).url = undefined;
  return new BunSocketConnection(ws);
};

const app = createProcessApp({
  config,
  registry,
  connections,
  upgrade: upgradeWebSocket as Upgrade,
  toConnection,
  serveStatic,
  connInfo: getConnInfo,
});

// Open sockets, for the heartbeat and for shutdown.
const sockets = new Set<Socket>();
const heartbeat = startHeartbeat(() => sockets, config.pingIntervalMs);
const server = Bun.serve<BunWebSocketData>({
  port: config.port,
  hostname: config.host,
  fetch: app.fetch,
  // Bun drops an HTTP connection silent for this long, one that never sent a whole
  // request included (whole seconds, 1 to 255).
  idleTimeout: Math.min(255, Math.max(1, Math.ceil(config.handshakeTimeoutMs / 1000))),
  websocket: {
    ...websocket,
    open: (ws) => {
      sockets.add(ws);
      websocket.open(ws);
    },
    close: (ws, code, reason) => {
      sockets.delete(ws);
      websocket.close(ws, code, reason);
    },
    pong: (ws) => heartbeat.answered(ws),
    maxPayloadLength: config.maxFrameBytes,
    perMessageDeflate: false,
    // Bun's own idle timeout and pings count in seconds (at least 8); the heartbeat
    // below follows PING_INTERVAL_MS instead.
    idleTimeout: 0,
    sendPings: false,
    // No limit: past it Bun would drop frames silently. The room closes a member whose
    // queue passes 1 MiB (slow_consumer), as on every runtime.
    backpressureLimit: 0,
  },
});
logEvent('listening', { host: config.host, port: server.port });

exitOnSignals(registry, engine, {
  connections: () => sockets.size,
  drain: () => {
    heartbeat.stop();
    // Sockets that were in no room yet.
    for (const ws of sockets) ws.close(Close.goingAway, 'server_shutdown');
    // Resolves once every connection has ended, so the close frames have gone out.
    return server.stop();
  },
});
