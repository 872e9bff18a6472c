// The Durable Object behind one room: a thin adapter that gives the shared Room its
// sockets (through the WebSocket Hibernation API) and its storage (SQLite). Every protocol
// rule stays in Room; all this file decides about a frame is whether it is too big.
import type {
  DurableObjectState,
  WebSocket as HibernatableWebSocket,
  WebSocketPair as WebSocketPairType,
  WebSocketRequestResponsePair as WebSocketRequestResponsePairType,
} from '@cloudflare/workers-types/index.ts';
import { readConfig } from './core/config.ts';
import { logEvent } from './core/log.ts';
import { Metrics } from './core/metrics.ts';
import { Close, type Member } from './core/protocol.ts';
import { Room, type Connection, type JoinRequest } from './core/room.ts';
import { SqliteStore } from './sqlite-store.ts';

// Globals of workerd.
declare const WebSocketPair: typeof WebSocketPairType;
declare const WebSocketRequestResponsePair: typeof WebSocketRequestResponsePairType;

/** The Worker's bindings: the rooms' namespace, the static assets, and the [vars]. */
export interface Env {
  ROOMS: RoomNamespace;
  ASSETS: { fetch(request: Request): Promise<Response> };
}

/** The rooms' Durable Object namespace, as far as the Worker uses it. */
export interface RoomNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(input: string, init?: RequestInit): Promise<Response> };
}


/** What the Worker asks of a room's object, with arguments the Worker has already validated. */
export type RoomCall =
  | { op: 'info' }
  | { op: 'messages'; since: number | undefined; limit: number }
  | { op: 'connect'; join: JoinRequest };

// The call travels in the URL so that a WebSocket upgrade can carry it too; the host is
// never resolved (a stub's fetch goes to the object whatever the URL says).
export function roomCallUrl(call: RoomCall): string {
  return `https://room/?call=${encodeURIComponent(JSON.stringify(call))}`;
}

/** What a member's socket carries through hibernation (~100 bytes; the limit is 16 KiB). */
interface Attachment {
  member: Member;
  joinedAt: number;
}

export class RoomObject {
  private readonly room: Room;
  private readonly maxFrameBytes: number;
  private readonly connections = new WeakMap<HibernatableWebSocket, Connection>();

  // Runs on first use and again each time the object wakes from hibernation or eviction.
  constructor(
    private readonly ctx: DurableObjectState,
    env: Env,
  ) {
    // readConfig picks its own names among the bindings.
    const config = readConfig(env as unknown as Record<string, unknown>);
    this.maxFrameBytes = config.maxFrameBytes;
    this.room = new Room({
      // The Worker addresses the object with idFromName(normalised room name).
      name: ctx.id.name!,
      config,
      store: new SqliteStore(ctx.storage, config.historyLimit),
      // Counted but never read: a Worker has no /metrics.
      metrics: new Metrics(),
    });
    // The runtime answers the usual spelling of a ping without waking the object (Room
    // answers any other the same way), after whatever the object sent before.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
    // The members are the sockets still open, each with its member as attachment, listed
    // in the order they joined as before.
    const sockets = ctx.getWebSockets().map((ws) => ({ ws, ...(ws.deserializeAttachment() as Attachment) }));
    sockets.sort((a, b) => a.joinedAt - b.joinedAt);
    for (const { ws, member, joinedAt } of sockets) this.room.restore(this.connectionOf(ws), member, joinedAt);
    if (sockets.length > 0) logEvent('room_restored', { room: this.room.name, members: sockets.length });
  }

  fetch(request: Request): Response {
    const call = JSON.parse(new URL(request.url).searchParams.get('call')!) as RoomCall;
    switch (call.op) {
      case 'info':
        return Response.json(this.room.info());
      case 'messages':
        return Response.json(this.room.page(call.since, call.limit));
      case 'connect':
        return this.connect(call.join);
    }
  }

  webSocketMessage(ws: HibernatableWebSocket, message: string | ArrayBuffer): void {
    const connection = this.connectionOf(ws);
    // workerd has no maxPayload option: the frame has arrived whole, and is refused here.
    if (isLarger(message, this.maxFrameBytes)) {
      ws.close(Close.tooBig, 'frame_too_big');
      this.room.leave(connection, Close.tooBig);
      return;
    }
    this.room.receive(connection, message);
  }

  webSocketClose(ws: HibernatableWebSocket, code: number, reason: string): void {
    this.room.leave(this.connectionOf(ws), code);
    // Answers the client's close frame. The runtime is meant to do so itself from
    // compatibility date 2026-04-07 (web_socket_auto_reply_to_close), but under wrangler
    // dev 4.86 the client still waits 10 s and sees 1006. No frame may carry 1005 (the
    // client gave no code) or 1006 (the connection dropped, nobody to answer).
    if (code === 1005) ws.close();
    else if (code !== 1006) ws.close(code, reason);
  }

  webSocketError(ws: HibernatableWebSocket): void {
    this.room.leave(this.connectionOf(ws), 1006);
  }

  private connect(join: JoinRequest): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    // acceptWebSocket, not accept(): the object may hibernate while the socket stays open.
    // Except for a socket that join() is about to close as room_full: closed right after
    // acceptWebSocket, its close completes only when the object next goes idle (~10 s,
    // under wrangler dev), while a plainly accepted one closes at once.
    if (this.room.isFull) server.accept();
    else this.ctx.acceptWebSocket(server);
    this.room.join(this.connectionOf(server), join);
    return new Response(null, { status: 101, webSocket: client } as ResponseInit);
  }

  /** The one Connection of a socket, which Room tells members apart by. */
  private connectionOf(ws: HibernatableWebSocket): Connection {
    let connection = this.connections.get(ws);
    if (!connection) {
      connection = {
        send: (payload) => ws.send(payload),
        close: (code, reason) => ws.close(code, reason),
        // workerd does not expose what it has queued for a socket (no bufferedAmount), so
        // Room's slow-consumer check cannot fire here; see the README.
        bufferedAmount: 0,
        // Called on join and on rename; the attachment survives hibernation with the socket.
        remember: (member) => {
          const joinedAt = (ws.deserializeAttachment() as Attachment | null)?.joinedAt ?? Date.now();
          ws.serializeAttachment({ member, joinedAt } satisfies Attachment);
        },
      };
      this.connections.set(ws, connection);
    }
    return connection;
  }
}

/** Whether a frame is over `max` bytes; a string is measured as UTF-8 only when it may be. */
function isLarger(message: string | ArrayBuffer, max: number): boolean {
  if (typeof message !== 'string') return message.byteLength > max;
  // A UTF-16 code unit takes at most 3 bytes in UTF-8.
  return message.length * 3 > max && new TextEncoder().encode(message).byteLength > max;
}
