// Deno entry: the shared app on Deno.serve with Hono's Deno WebSocket helper. Deno's
// upgrade has no frame size limit we can set, so frames are measured here; protocol
// pings are Deno's own (idleTimeout); and graceful shutdown.
/// <reference lib="deno.ns" />
import { getConnInfo, serveStatic, upgradeWebSocket } from 'hono/deno';
import type { Context } from 'hono';
import type { WSContext } from 'hono/ws';
import type { Upgrade } from '../../core/local-rooms.ts';
import { logEvent } from '../../core/log.ts';
import { Close } from '../../core/protocol.ts';
import { RoomRegistry } from '../../core/registry.ts';
import type { Connection } from '../../core/room.ts';
import { createProcessApp, exitOnSignals, startUp } from '../process.ts';

const { config, storage, connections } = startUp();
const registry = new RoomRegistry(config, storage);

function toConnection(context: WSContext): Connection {
  const ws = context.raw as WebSocket;
  return {
    // The registry has no `encode`, so every payload is the room's string (a text frame).
    send: (payload) => ws.send(payload as string),
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}

const encoder = new TextEncoder();
/** UTF-8 size is at least the UTF-16 length and at most 3 times it: encode only in between. */
function tooBig(data: unknown): boolean {
  const limit = config.maxFrameBytes;
  if (typeof data !== 'string') return (data as ArrayBuffer).byteLength > limit;
  if (data.length > limit) return true;
  return data.length * 3 > limit && encoder.encode(data).byteLength > limit;
}

// Open sockets, so that shutdown can close them and wait for them to go.
const sockets = new Set<WebSocket>();
/**
 * hono/deno compares the Upgrade header with "websocket" to the letter, but its value is
 * case-insensitive (RFC 6455 §4.2.1) and app.ts has checked it so; the helper is shown it
 * in lower case.
 */
function withLowerCaseUpgrade(c: Context): Context {
  const header = (name: string) => (name.toLowerCase() === 'upgrade' ? 'websocket' : c.req.header(name));
  return { req: { raw: c.req.raw, header } } as unknown as Context;
}

const upgrade: Upgrade = (c, events) =>
  upgradeWebSocket(
    withLowerCaseUpgrade(c),
    {
      ...events,
      onOpen: (event, ws) => {
        sockets.add(ws.raw!);
        events.onOpen?.(event, ws);
      },
      onMessage: (event, ws) => {
        if (tooBig(event.data)) ws.close(Close.tooBig, 'frame_too_big');
        else events.onMessage?.(event, ws);
      },
      onClose: (event, ws) => {
        sockets.delete(ws.raw!);
        // Deno says 0 for a connection lost without a close frame; the protocol's word is 1006.
        events.onClose?.(event.code === 0 ? new CloseEvent('close', { code: 1006 }) : event, ws);
        if (sockets.size === 0) allClosed?.();
      },
    },
    // Deno pings a socket that has been silent for half of idleTimeout, and closes it
    // (1001) when the other half passes without a pong.
    { idleTimeout: (2 * config.pingIntervalMs) / 1000 },
  );

const app = createProcessApp({
  config,
  registry,
  connections,
  upgrade: upgrade,
  toConnection,
  serveStatic,
  connInfo: getConnInfo,
});

const server = Deno.serve(
  {
    port: config.port,
    hostname: config.host,
    onListen: ({ port }) => logEvent('listening', { host: config.host, port }),
  },
  app.fetch,
);

/** Set while shutting down: called when the last socket has closed. */
let allClosed: (() => void) | undefined;
exitOnSignals(registry, storage, {
  connections: () => sockets.size,
  drain: () => {
    void server.shutdown();
    // Sockets that were in no room yet.
    for (const ws of sockets) ws.close(Close.goingAway, 'server_shutdown');
    return new Promise((resolve) => {
      allClosed = resolve;
      if (sockets.size === 0) resolve();
    });
  },
});
