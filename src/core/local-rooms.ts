// Rooms held in this process (Node, Deno, Bun): the RoomBackend over a RoomRegistry,
// joined through Hono's WebSocket helper of the runtime at hand.
import type { Context } from 'hono';
import type { WSContext, WSEvents } from 'hono/ws';
import { banned, type RoomBackend } from './app.ts';
import type { Lease } from './connections.ts';
import { logEvent } from './log.ts';
import { Close } from './protocol.ts';
import type { RoomRegistry } from './registry.ts';
import type { Connection, JoinRequest, Room } from './room.ts';

/** The longest delay a timer takes (about 24.8 days); a later expiry is waited for in steps. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** Closes the connection with 1008 token_expired when its token runs out; returns the cancel. */
function closeWhenExpired(connection: Connection, expiresAt: number): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = () => {
    const left = expiresAt - Date.now();
    timer = setTimeout(
      () => (left > LONGEST_TIMER_MS ? arm() : connection.close(Close.policyViolation, 'token_expired')),
      Math.max(0, Math.min(left, LONGEST_TIMER_MS)),
    );
  };
  arm();
  return () => clearTimeout(timer);
}

/** The `upgradeWebSocket(c, events)` form that every Hono runtime helper offers. */
export type Upgrade = (c: Context, events: WSEvents) => Promise<Response>;

/**
 * `toConnection` wraps the runtime's socket once, when it opens; the wrapper is kept for
 * that socket's events, so the room always sees the same Connection.
 */
export function localRooms(registry: RoomRegistry, upgrade: Upgrade, toConnection: (ws: WSContext) => Connection): RoomBackend {
  const joining: Joining = { registry, toConnection };
  return {
    info: async (name) => (await registry.find(name))?.info(),
    messages: async (name, query) => (await registry.find(name))?.messages(query),
    // The room is made if need be (the backend may publish to a room nobody is in), and let
    // go after ROOM_IDLE_TTL_MS like any other.
    publish: async (name, draft) => registry.get(name).hub.post(draft),
    remove: async (name, seq, by) => registry.get(name).hub.remove(seq, by),
    connect: async (c, name, join, lease) => {
      const bannedUntil = join.member && (await registry.bannedUntil(name, join.member.id));
      if (bannedUntil !== undefined) return banned(bannedUntil);
      return upgrade(c, new SocketSession(joining, name, join, lease));
    },
  };
}

/** What every socket of the process needs to join its room, shared by all of them. */
interface Joining {
  registry: RoomRegistry;
  toConnection: (ws: WSContext) => Connection;
}

/**
 * One socket's events, as methods of one object: an idle connection keeps this object and
 * no closures. Every runtime's Hono helper calls them as methods of the events it was
 * given, so `this` is the session. Closures made inside connect() would be worse
 * still: an async function's closures may keep its whole scope, the request's context
 * included, for as long as the socket is open (JavaScriptCore does, which once cost Bun
 * 2.5 KiB per idle connection).
 */
class SocketSession implements WSEvents {
  private readonly joining: Joining;
  private readonly lease: Lease | undefined;
  /** What the upgrade asked for, until the socket opens and joins. */
  private opening: { name: string; join: JoinRequest } | undefined;
  private room: Room | undefined;
  private connection: Connection | undefined;
  private cancelExpiry: (() => void) | undefined;

  constructor(joining: Joining, name: string, join: JoinRequest, lease: Lease | undefined) {
    this.joining = joining;
    this.lease = lease;
    this.opening = { name, join };
  }

  onOpen(_event: Event, ws: WSContext): void {
    if (!this.opening) return;
    const { name, join } = this.opening;
    this.opening = undefined;
    this.lease?.opened();
    const connection = this.joining.toConnection(ws);
    this.connection = connection;
    try {
      // Looked up on open, not on request: the room may have been let go meanwhile.
      const candidate = this.joining.registry.get(name);
      if (candidate.join(connection, join)) this.room = candidate;
      const expiresAt = join.member?.expiresAt;
      if (this.room && expiresAt !== undefined) this.cancelExpiry = closeWhenExpired(connection, expiresAt);
    } catch (error) {
      // Storage that fails (a full disk, say) costs this connection, not the process.
      logEvent('ws_fault', { room: name, error: String(error) });
      connection.close(Close.internalError, 'internal_error');
    }
  }

  onMessage(event: MessageEvent): void {
    if (this.room && this.connection) this.room.receive(this.connection, event.data as string | ArrayBuffer);
  }

  onClose(event: CloseEvent): void {
    this.cancelExpiry?.();
    this.lease?.release();
    if (this.room && this.connection) this.room.leave(this.connection, event.code);
  }
}
