// Node entry: the shared app on @hono/node-server with a `ws` server we configure
// ourselves (frame size limit, no compression), protocol pings, and graceful shutdown.
import { serve, upgradeWebSocket, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { WSContext } from 'hono/ws';
import { createApp } from './core/app.ts';
import { localRooms, type Upgrade } from './core/local-rooms.ts';
import { logEvent } from './core/log.ts';
import { RoomRegistry } from './core/registry.ts';
import type { Connection } from './core/room.ts';
import { loadConfig, processMetrics, startHeartbeat } from './process.ts';

const SHUTDOWN_GRACE_MS = 4000;

const config = loadConfig();
// Each broadcast becomes one Buffer that every member's socket writes as is.
const registry = new RoomRegistry(config, (text) => Buffer.from(text));
const wss = new WebSocketServer({
  noServer: true,
  maxPayload: config.maxFrameBytes,
  perMessageDeflate: false,
});

const connections = new WeakMap<WebSocket, Connection>();
function toConnection(context: WSContext): Connection {
  const ws = context.raw as WebSocket;
  let connection = connections.get(ws);
  if (!connection) {
    connection = {
      send: (payload) => ws.send(payload, { binary: false }),
      close: (code, reason) => ws.close(code, reason),
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    connections.set(ws, connection);
  }
  return connection;
}

const app = createApp({
  config,
  rooms: localRooms(registry, upgradeWebSocket as Upgrade, toConnection),
  metrics: () => registry.renderMetrics(processMetrics()),
  assets: serveStatic({ root: fileURLToPath(new URL('../static', import.meta.url)) }),
});

/**
 * @hono/node-server answers a refused upgrade with its status and an empty body, but the
 * protocol promises the JSON error there too, so the whole answer is written here. The
 * adapter's own empty answer that follows is refused by the ended socket and ignored.
 */
async function fetchWithRefusalBodies(request: Request, env: HttpBindings | Http2Bindings): Promise<Response> {
  const response = await app.fetch(request, env);
  const isUpgrade = env.outgoing === undefined;
  if (isUpgrade && response.status >= 400) {
    const body = Buffer.from(await response.text());
    const head = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`];
    response.headers.forEach((value, name) => {
      if (name !== 'content-length' && name !== 'connection') head.push(`${name}: ${value}`);
    });
    head.push('connection: close', `content-length: ${body.length}`, '', '');
    env.incoming.socket.end(Buffer.concat([Buffer.from(head.join('\r\n')), body]));
  }
  return response;
}

const server = serve(
  { fetch: fetchWithRefusalBodies, port: config.port, hostname: config.host, websocket: { server: wss } },
  (info) => logEvent('listening', { host: config.host, port: info.port }),
);

const heartbeat = startHeartbeat(() => wss.clients, config.pingIntervalMs);
wss.on('connection', (ws) => ws.on('pong', () => heartbeat.answered(ws)));

let shuttingDown = false;
function shutdown(signal: string): void {
  if (shuttingDown) return;
  shuttingDown = true;
  logEvent('shutdown', { signal, connections: wss.clients.size });
  heartbeat.stop();
  server.close();
  registry.shutdown();
  // Sockets still in their handshake were in no room yet.
  for (const ws of wss.clients) ws.close(1001, 'server_shutdown');
  const exit = () => process.exit(0);
  if (wss.clients.size === 0) return exit();
  const force = setTimeout(() => {
    for (const ws of wss.clients) ws.terminate();
    exit();
  }, SHUTDOWN_GRACE_MS);
  for (const ws of wss.clients) {
    ws.once('close', () => {
      if (wss.clients.size === 0) {
        clearTimeout(force);
        exit();
      }
    });
  }
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
