// The Durable Object behind one room: a thin adapter that gives the shared Room its
// sockets (through the WebSocket Hibernation API) and its storage (the object's SQLite,
// through the same SqlStorage as everywhere). Every protocol rule stays in Room; all this
// file decides about a frame is whether it is too big.
import type {
  DurableObjectState,
  DurableObjectStorage,
  WebSocket as HibernatableWebSocket,
  WebSocketPair as WebSocketPairType,
  WebSocketRequestResponsePair as WebSocketRequestResponsePairType,
} from '@cloudflare/workers-types/index.ts';
import { readConfig, type Config } from '../../core/config.ts';
import { logEvent } from '../../core/log.ts';
import { Metrics } from '../../core/metrics.ts';
import { ClientBuckets } from '../../core/rate-limit.ts';
import { Close, type Member } from '../../core/protocol.ts';
import { LocalEngine } from '../../core/engine.ts';
import { LocalHub } from '../../core/hub.ts';
import { banned } from '../../core/app.ts';
import { Room, type Connection, type Grants, type JoinRequest } from '../../core/room.ts';
import { SqlStorage, type SqlDriver, type SqlValue } from '../../core/sql-store.ts';
import { roomDirectory, type RoomDirectoryClient } from './directory.ts';
import type { HistoryQuery, MessageDraft } from '../../core/store.ts';

// Globals of workerd.
declare const WebSocketPair: typeof WebSocketPairType;
declare const WebSocketRequestResponsePair: typeof WebSocketRequestResponsePairType;

/** The Worker's bindings: the rooms' namespace, the static assets, and the [vars]. */
export interface Env {
  ROOMS: RoomNamespace;
  DIRECTORY: RoomNamespace;
  ASSETS: { fetch(request: Request): Promise<Response> };
}

/** A Durable Object namespace, as far as edgechat uses one. */
export interface RoomNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(input: string, init?: RequestInit): Promise<Response> };
}

/** What the Worker asks of a room's object, with arguments the Worker has already validated. */
export type RoomCall =
  | { op: 'info' }
  | { op: 'messages'; query: HistoryQuery }
  | { op: 'connect'; join: JoinRequest }
  | { op: 'publish'; draft: MessageDraft }
  | { op: 'remove'; seq: number; by: Member };

// The call travels in the URL so that a WebSocket upgrade can carry it too; the host is
// never resolved (a stub's fetch goes to the object whatever the URL says).
export function roomCallUrl(call: RoomCall): string {
  return `https://room/?call=${encodeURIComponent(JSON.stringify(call))}`;
}

/** What a member's socket carries through hibernation (~150 bytes; the limit is 16 KiB). */
interface Attachment {
  /** Set on join, so a socket that hibernates always has it. */
  member?: Member;
  joinedAt: number;
  /** The client's address (CF-Connecting-IP), for its message budget; absent before v1.1. */
  client?: string;
  /** When the member's token runs out (ms since the epoch), if it came with one that does. */
  expiresAt?: number;
  /** What the member's token settled (a fixed name, a role); set with `member`. */
  grants?: Grants;
}

export class RoomObject {
  private readonly name: string;
  private readonly config: Config;
  private readonly directory: RoomDirectoryClient;
  private storage: SqlStorage;
  /** Made when the room is joined, or woken with members; never for a reader. */
  private room: Room | undefined;
  /** The directory calls in the order they were made: a remove never overtakes an add. */
  private listing: Promise<unknown> = Promise.resolve();
  private readonly connections = new WeakMap<HibernatableWebSocket, Connection>();
  private readonly clientBudgets: ClientBuckets | undefined;

  // Runs on first use and again each time the object wakes from hibernation or eviction.
  private readonly ctx: DurableObjectState;

  constructor(ctx: DurableObjectState, env: Env) {
    this.ctx = ctx;
    // The Worker addresses the object with idFromName(normalised room name).
    this.name = ctx.id.name!;
    // readConfig picks its own names among the bindings.
    this.config = readConfig(env);
    this.directory = roomDirectory(env.DIRECTORY);
    this.clientBudgets = this.config.clientRate && new ClientBuckets(this.config.clientRate);
    this.storage = this.openStorage();
    // The runtime answers the usual spelling of a ping without waking the object (Room
    // answers any other the same way), after whatever the object sent before.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
    // The members are the sockets still open, each with its member as attachment, listed
    // in the order they joined as before.
    const sockets = ctx.getWebSockets().map((ws) => ({ ws, ...(ws.deserializeAttachment() as Attachment) }));
    if (sockets.length === 0) return;
    sockets.sort((a, b) => a.joinedAt - b.joinedAt);
    const room = this.openRoom();
    for (const { ws, member, joinedAt, client, grants } of sockets) {
      if (member) room.restore(this.connectionOf(ws), member, client ?? member.id, joinedAt, grants ?? {});
    }
    logEvent('room_restored', { room: this.name, members: sockets.length });
  }

  async fetch(request: Request): Promise<Response> {
    const call = JSON.parse(new URL(request.url).searchParams.get('call')!) as RoomCall;
    const reader = () => new LocalEngine(this.storage).reader(this.name, this.room);
    switch (call.op) {
      // null: no such room (404 no_room), and nothing was created to find that out.
      case 'info':
        return Response.json((await reader()?.info()) ?? null);
      case 'messages':
        return Response.json((await reader()?.messages(call.query)) ?? null);
      case 'connect':
        return this.connect(call.join);
      case 'publish':
        await this.listed();
        return Response.json(this.openRoom().hub.post(call.draft));
      case 'remove': {
        // A room never joined has no messages to remove, and gets no storage to find that out.
        const removed = this.room !== undefined || (await reader()) !== undefined;
        return Response.json(removed && this.openRoom().hub.remove(call.seq, call.by));
      }
    }
  }

  webSocketMessage(ws: HibernatableWebSocket, message: string | ArrayBuffer): void {
    const connection = this.connectionOf(ws);
    // workerd has no maxPayload option: the frame has arrived whole, and is refused here.
    if (isLarger(message, this.config.maxFrameBytes)) {
      ws.close(Close.tooBig, 'frame_too_big');
      this.room?.leave(connection, Close.tooBig);
      return;
    }
    this.room?.receive(connection, message);
  }

  webSocketClose(ws: HibernatableWebSocket, code: number, reason: string): void {
    this.room?.leave(this.connectionOf(ws), code);
    // Answers the client's close frame. The runtime is meant to do so itself from
    // compatibility date 2026-04-07 (web_socket_auto_reply_to_close), but under wrangler
    // dev the client still waits 10 s and sees 1006. No frame may carry 1005 (the client
    // gave no code) or 1006 (the connection dropped, nobody to answer), and a code that no
    // endpoint may send (999, 1004, 1015, 5000…) is a protocol error (RFC 6455 §7.4).
    try {
      if (code === 1005) ws.close();
      else if (isSendableCloseCode(code)) ws.close(code, reason);
      else if (code !== 1006) ws.close(Close.protocolError, 'invalid_close_code');
    } catch {
      // the socket is already closed
    }
  }

  webSocketError(ws: HibernatableWebSocket): void {
    this.room?.leave(this.connectionOf(ws), 1006);
  }

  private openRoom(): Room {
    if (this.room) return this.room;
    const hub = new LocalHub(this.storage.open(this.name), this.storage.bans);
    this.room = new Room({
      name: this.name,
      config: this.config,
      hub,
      // Counted but never read: a Worker has no /metrics.
      metrics: new Metrics(),
      // Per client within this room: a budget across rooms would cost a call per message.
      clientBudgets: this.clientBudgets,
      onEmpty: (room) => this.release(room, hub),
    });
    return this.room;
  }

  /**
   * The last member has left. A room that never had a message promised nothing, so its
   * storage is deleted, and the object is again as if the room had never been joined.
   */
  private release(room: Room, hub: LocalHub): void {
    // Bans still in force are kept, and with them the storage.
    if (hub.exists || room !== this.room || this.storage.bans.any(this.name, Date.now())) return;
    this.room = undefined;
    // Tables included; the next join starts from nothing.
    this.list(async () => {
      await this.ctx.storage.deleteAll();
      await this.directory.remove(this.name);
    });
    this.ctx.waitUntil(this.listing);
    this.storage = this.openStorage();
  }

  /**
   * Queues a change of the room's directory entry. A failed one is logged and costs only
   * readers: the room stays unlisted (404 to readers) until it is next opened.
   */
  private list(change: () => Promise<unknown>): Promise<unknown> {
    this.listing = this.listing.then(change).catch((error) => {
      logEvent('directory_fault', { room: this.name, error: String(error) });
    });
    return this.listing;
  }

  private openStorage(): SqlStorage {
    // `name` is where an edgechat before schema version 1 kept its messages; see SqlStorage.
    return new SqlStorage(objectSql(this.ctx.storage), this.config.historyRetention, this.name);
  }

  /** Listed before anything is stored, so that readers find the room from then on. */
  private async listed(): Promise<void> {
    if (!this.room) await this.list(() => this.directory.add(this.name));
  }

  private async connect(join: JoinRequest): Promise<Response> {
    const bannedUntil = join.member && this.storage.bans.until(this.name, join.member.id, Date.now());
    if (bannedUntil !== undefined) return banned(bannedUntil);
    await this.listed();
    const room = this.openRoom();
    const { 0: client, 1: server } = new WebSocketPair();
    // acceptWebSocket, not accept(): the object may hibernate while the socket stays open.
    // Except for a socket that join() is about to close as room_full: closed right after
    // acceptWebSocket, its close completes only when the object next goes idle (~10 s,
    // under wrangler dev), while a plainly accepted one closes at once. A plainly accepted
    // socket that stayed would never reach webSocketClose, so the rule is join()'s own.
    if (room.admits(join)) this.ctx.acceptWebSocket(server);
    else server.accept();
    const expiresAt = join.member?.expiresAt;
    server.serializeAttachment({ joinedAt: Date.now(), client: join.client, expiresAt } satisfies Attachment);
    room.join(this.connectionOf(server), join);
    if (expiresAt !== undefined) await this.expireAt(expiresAt);
    return new Response(null, { status: 101, webSocket: client } as ResponseInit);
  }

  /**
   * Tokens run out while the object may be hibernating, where no timer runs: the object's
   * alarm wakes it at the earliest expiry instead.
   */
  private async expireAt(expiresAt: number): Promise<void> {
    const scheduled = await this.ctx.storage.getAlarm();
    if (scheduled === null || expiresAt < scheduled) await this.ctx.storage.setAlarm(expiresAt);
  }

  /** Closes with 1008 token_expired every socket whose token has run out, and waits for the next. */
  async alarm(): Promise<void> {
    const now = Date.now();
    let next: number | undefined;
    for (const ws of this.ctx.getWebSockets()) {
      const expiresAt = (ws.deserializeAttachment() as Attachment | null)?.expiresAt;
      if (expiresAt === undefined) continue;
      if (expiresAt > now) {
        next = Math.min(next ?? expiresAt, expiresAt);
        continue;
      }
      ws.close(Close.policyViolation, 'token_expired');
      this.room?.leave(this.connectionOf(ws), Close.policyViolation);
    }
    if (next !== undefined) await this.ctx.storage.setAlarm(next);
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
        remember: (member, grants) => {
          const attachment = ws.deserializeAttachment() as Attachment | null;
          const joinedAt = attachment?.joinedAt ?? Date.now();
          ws.serializeAttachment({ ...attachment, member, grants, joinedAt } satisfies Attachment);
        },
      };
      this.connections.set(ws, connection);
    }
    return connection;
  }
}

/** Whether a close frame may carry `code` (RFC 6455 §7.4.1 and the IANA registry). */
function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** The object's SQLite storage as SqlStorage's driver. */
function objectSql(storage: DurableObjectStorage): SqlDriver {
  return {
    exec: (query) => void storage.sql.exec(query),
    query: <Row extends Record<string, SqlValue>>(query: string, ...params: SqlValue[]) =>
      storage.sql.exec<Row>(query, ...params).toArray(),
    transaction: (work) => storage.transactionSync(work),
  };
}

/** Whether a frame is over `max` bytes; a string is measured as UTF-8 only when it may be. */
function isLarger(message: string | ArrayBuffer, max: number): boolean {
  if (typeof message !== 'string') return message.byteLength > max;
  // A UTF-16 code unit takes at most 3 bytes in UTF-8.
  return message.length * 3 > max && new TextEncoder().encode(message).byteLength > max;
}
