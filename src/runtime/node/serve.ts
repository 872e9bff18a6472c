// The app on node:http through @hono/node-server, with a `ws` server we configure
// ourselves (frame size limit while reading, no compression), protocol pings, and graceful
// shutdown. Node runs it, and so does Deno (see ../deno/server.ts).
import { serve, upgradeWebSocket, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { serveStatic } from '@hono/node-server/serve-static';
import { STATUS_CODES } from 'node:http';
import type { Server, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Context } from 'hono';
import type { WSContext } from 'hono/ws';
import type { Upgrade } from '../../core/local-rooms.ts';
import { logEvent } from '../../core/log.ts';
import { RoomRegistry } from '../../core/registry.ts';
import type { Connection } from '../../core/room.ts';
import { commitBeforeSending, NodeConnection, textFrame } from './socket.ts';
import { createProcessApp, exitOnSignals, startHeartbeat, startUp } from '../process.ts';

/** Starts serving with this process's configuration until a signal stops it; returns the listening server. */
export function serveOnNodeHttp(): Server {
  // Messages are committed once per turn, just before the turn's frames are sent.
  const { config, engine, connections } = startUp({ commitPerTurn: true });
  commitBeforeSending(() => engine.flush());
  // Each broadcast is framed once; every member's socket writes the same Buffer.
  const registry = new RoomRegistry(config, engine, { encode: textFrame });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxFrameBytes,
    perMessageDeflate: false,
  });

  // The TCP socket under each WebSocket, from the upgrade request, for NodeConnection.
  const tcpSockets = new WeakMap<WebSocket, Socket>();
  wss.on('connection', (ws, request) => tcpSockets.set(ws, request.socket));
  function toConnection(context: WSContext): Connection {
    const ws = context.raw as WebSocket;
    return new NodeConnection(ws, tcpSockets.get(ws)!);
  }

  /**
   * Hono's helper keeps the context it is given alive for as long as the socket is open. It
   * reads only the Upgrade header, the URL and the Node bindings from it, so it gets a view
   * with just those, and the Node request in the bindings is let go once the upgrade has
   * begun: together about 4 KiB less for every open connection (see BENCHMARKS.md). Should
   * a later version of the helper read more, the conformance suite fails at once.
   */
  const upgrade: Upgrade = async (c, events) => {
    const upgradeHeader = c.req.header('upgrade');
    const view = { req: { url: c.req.url, header: () => upgradeHeader }, env: c.env };
    const response = await upgradeWebSocket(view as unknown as Context, events);
    (c.env as Partial<HttpBindings>).incoming = undefined;
    return response;
  };

  const app = createProcessApp({
    config,
    registry,
    connections,
    upgrade: upgrade,
    toConnection,
    serveStatic,
    connInfo: getConnInfo,
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
    {
      fetch: fetchWithRefusalBodies,
      port: config.port,
      hostname: config.host,
      websocket: { server: wss },
      // A request must be whole within the handshake timeout; Node looks for late ones at
      // this interval (30 s by default, which would let a slow client hold on much longer).
      serverOptions: {
        headersTimeout: config.handshakeTimeoutMs,
        requestTimeout: config.handshakeTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, config.handshakeTimeoutMs),
      },
    },
    (info) => logEvent('listening', { host: config.host, port: info.port }),
  );

  // A connection silent for the handshake timeout is dropped too (one that sends nothing at
  // all is no request Node would time out); ws clears this on the sockets it takes over.
  server.setTimeout(config.handshakeTimeoutMs);

  const heartbeat = startHeartbeat(() => wss.clients, config.pingIntervalMs);
  wss.on('connection', (ws) => ws.on('pong', () => heartbeat.answered(ws)));

  exitOnSignals(registry, engine, {
    connections: () => wss.clients.size,
    drain: () => {
      heartbeat.stop();
      server.close();
      // Sockets still in their handshake were in no room yet.
      for (const ws of wss.clients) ws.close(1001, 'server_shutdown');
      return new Promise((resolve) => {
        const check = () => wss.clients.size === 0 && resolve();
        for (const ws of wss.clients) ws.once('close', check);
        check();
      });
    },
  });
  return server;
}
