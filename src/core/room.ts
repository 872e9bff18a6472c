// One chat room as this instance holds it: the members connected here, and the protocol
// rules for every inbound frame. It knows sockets only through the small Connection
// interface, and what other instances must see (history, the member list, events) only
// through its RoomHub. All of its state is in the hub or rebuilt from the open connections
// (restore), so a Durable Object that hibernates can wake it up again.
import type { Config } from './config.ts';
import { RoomFull, type HubListener, type RoomEvent, type RoomHub, type Snapshot } from './hub.ts';
import type { ResumeRequest } from './store.ts';
import type { Metrics } from './metrics.ts';
import { randomId } from './ids.ts';
import { logEvent } from './log.ts';
import { TokenBucket, type ClientBuckets } from './rate-limit.ts';
import {
  ClientFrame,
  Close,
  DisplayName,
  describeIssues,
  textProblem,
  type ErrorCode,
  type ErrorFrame,
  type Member,
  type ServerFrame,
  type Welcome,
} from './protocol.ts';

/** A member's socket as the room sees it. */
export interface Connection {
  /** Sends one text frame: `payload` is the frame's JSON as the room's `encode` made it. */
  send(payload: string | Uint8Array): void;
  close(code: number, reason: string): void;
  /** Bytes queued for this socket and not yet written to the network. */
  readonly bufferedAmount: number;
  /**
   * Keeps the member's identity and what its token settled with the socket (on join and
   * rename), for runtimes that rebuild the room from its sockets after hibernating.
   */
  remember?(member: Member, grants: Grants): void;
}

/**
 * One call that delivers a frame to many members, for runtimes that frame it once in
 * native code (Bun's topic publish) rather than once per member.
 */
export interface Fanout {
  /** Delivers to `connection` from now on: it has just become a member. */
  add(connection: Connection): void;
  /**
   * Sends `payload` as a text frame to every added connection that is still open, but
   * `except`, in the same order as each connection's own `send`s. A connection drops out
   * by itself as soon as it is closed (on either side).
   */
  publish(payload: string | Uint8Array, except?: Connection): void;
}

export type RoomConfig = Pick<Config, 'historyLimit' | 'maxText' | 'maxRoomMembers' | 'rateBurst' | 'ratePerSecond'>;

export interface RoomOptions {
  name: string;
  config: RoomConfig;
  /** What the instances holding the room share (in one process, a LocalHub). */
  hub: RoomHub;
  metrics: Metrics;
  /**
   * Turns a frame's JSON into what is handed to every recipient's `send`, once per
   * broadcast. Node frames it whole here, so that every socket writes the same bytes.
   */
  encode?: (text: string) => string | Uint8Array;
  /** Broadcasts through this instead of a `send` per member; queues are still checked. */
  fanout?: Fanout;
  /** Each client's message budget, shared by all of its connections (in every room given it). */
  clientBudgets?: ClientBuckets | undefined;
  /** Called when the last member has left. */
  onEmpty?: (room: Room) => void;
  now?: () => number;
}

export interface JoinRequest extends ResumeRequest {
  name?: string | undefined;
  /** Who is joining (see clientOf), for the budget all of a client's connections share. */
  client?: string | undefined;
  /** Who a token says is joining; absent for a guest. */
  member?: TokenMember | undefined;
}

/** A member as its token fixes it. */
export interface TokenMember {
  /** Derived from the token's `sub`: the same on every connection and reconnect. */
  id: string;
  /** From the token's `name`: then it cannot be changed. */
  name?: string | undefined;
  /** When the token runs out (ms since the epoch): the connection is closed then. */
  expiresAt?: number | undefined;
  /** Moderators may delete messages and kick members in this room. */
  role?: Role | undefined;
}

export type Role = 'moderator';

/** What a member's token settled, kept with its socket through hibernation (see restore). */
export interface Grants {
  fixedName?: boolean | undefined;
  role?: Role | undefined;
}

/** Output a member may queue before it is closed as a slow consumer. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Rate-limited frames in a row after which the connection is closed (1008). */
export const FLOOD_LIMIT = 50;
/**
 * How long presence and typing may wait to go out together with others of their kind. Each
 * of them is a frame to every member, and a burst of joins (a restart of the server, or a
 * client reconnecting in a loop) would otherwise cost one write per member per join: in a
 * room of 2,000, 2 million writes. The first one of a quiet room goes out at once; those in
 * the next window go out together at its end (one write per member on Node), or sooner,
 * before the next message. Nobody notices presence that is a tenth of a second late.
 */
export const MEMBER_EVENTS_WINDOW_MS = 100;

type CloseWith = readonly [code: number, reason: string];
const SLOW_CONSUMER: CloseWith = [Close.tryAgainLater, 'slow_consumer'];
const INTERNAL_ERROR: CloseWith = [Close.internalError, 'internal_error'];
/** How long a client is asked to wait when the hub cannot take a message. */
const UNAVAILABLE_RETRY_MS = 1000;
const PONG = JSON.stringify({ type: 'pong' } satisfies ServerFrame);
/** The client of a connection that came without one (tests driving a Room directly). */
const UNKNOWN_CLIENT = 'unknown';

interface MemberState {
  member: Member;
  joinedAt: number;
  client: string;
  bucket: TokenBucket | undefined;
  limitedInARow: number;
  /** Events that arrived while its welcome was on its way (a hub in another process). */
  pending: RoomEvent[] | undefined;
  /** The name comes from the member's token and cannot be changed. */
  fixedName: boolean;
  role: Role | undefined;
  /**
   * Welcomed from a snapshot taken in another process: events up to this order are in the
   * welcome already and may still arrive (over another connection than the snapshot's).
   * The member gets only later ones, and joins the fan-out with the first of them.
   */
  after: number | undefined;
}

export class Room implements HubListener {
  readonly name: string;
  readonly hub: RoomHub;
  private readonly config: RoomConfig;
  private readonly metrics: Metrics;
  private readonly encode: (text: string) => string | Uint8Array;
  private readonly fanout: Fanout | undefined;
  private readonly clientBudgets: ClientBuckets | undefined;
  private readonly onEmpty: (room: Room) => void;
  private readonly now: () => number;
  /**
   * Every connection here, with its member. A member with a token is one member however
   * many connections (tabs) it has; those are found by going through this map, since a
   * map of their own costs each idle connection about 100 bytes, and each join or leave
   * goes to every member anyway.
   */
  private readonly members = new Map<Connection, MemberState>();
  /** How many members (not connections) are here. */
  private memberCount = 0;
  /** Members whose `after` is set. */
  private catchingUp = 0;
  /** Presence and typing waiting for the end of the window (see MEMBER_EVENTS_WINDOW_MS). */
  private held: RoomEvent[] = [];
  /** Set while the window is open: what comes about a member meanwhile is held. */
  private window: ReturnType<typeof setTimeout> | undefined;

  constructor(options: RoomOptions) {
    this.name = options.name;
    this.config = options.config;
    this.hub = options.hub;
    this.hub.listener = this;
    this.metrics = options.metrics;
    this.encode = options.encode ?? ((text) => text);
    this.fanout = options.fanout;
    this.clientBudgets = options.clientBudgets;
    this.onEmpty = options.onEmpty ?? (() => {});
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.members.size;
  }

  /**
   * Whether join() takes this request in: a room that is full still takes another
   * connection of a member who is here, which takes no place of its own.
   */
  admits(request: JoinRequest): boolean {
    if (this.memberCount < this.config.maxRoomMembers) return true;
    return request.member !== undefined && this.isHere(request.member.id);
  }

  /**
   * Admits a new connection: sends its welcome and tells the others. Returns the member,
   * or undefined when the room was full and the connection has been closed. With a hub in
   * another process the welcome follows later (or a close, when the hub refuses).
   */
  join(connection: Connection, request: JoinRequest): Member | undefined {
    if (!this.admits(request)) {
      closeQuietly(connection, Close.tryAgainLater, 'room_full');
      return undefined;
    }
    const given = request.member;
    const member: Member = {
      id: given?.id ?? `u_${randomId(8)}`,
      name: given?.name ?? request.name ?? `guest-${randomId(4)}`,
    };
    const grants: Grants = { fixedName: given?.name !== undefined, role: given?.role };
    const state = this.attach(connection, member, request.client ?? UNKNOWN_CLIENT, this.now(), grants);
    connection.remember?.(member, grants);
    try {
      const snapshot = this.hub.join(member, request, this.config.historyLimit);
      if (!(snapshot instanceof Promise)) {
        this.welcome(connection, state, snapshot, true);
        return this.memberOf(connection);
      }
      // Until the welcome is sent, what happens in the room waits for this member.
      state.pending = [];
      snapshot.then(
        (taken) => this.welcome(connection, state, taken, false),
        (error) =>
          error instanceof RoomFull
            ? this.remove(connection, Close.tryAgainLater, 'room_full')
            : this.drop(connection, state, error, [Close.tryAgainLater, 'unavailable']),
      );
    } catch (error) {
      this.drop(connection, state, error, INTERNAL_ERROR);
      return undefined;
    }
    return member;
  }

  /** `settled`: the snapshot was taken here and now, so no event older than it can come. */
  private welcome(connection: Connection, state: MemberState, snapshot: Snapshot, settled: boolean): void {
    if (this.members.get(connection) !== state) return; // gone before its welcome
    const { epoch, seq, history, recovered, members } = snapshot;
    // Another connection of a member that is here already is that member, under its name.
    state.member = members.find((member) => member.id === state.member.id) ?? state.member;
    const welcome: Welcome = {
      type: 'welcome',
      room: this.name,
      epoch,
      seq,
      you: state.role ? { ...state.member, role: state.role } : state.member,
      members,
      history,
      ...(recovered !== undefined && { recovered }),
    };
    const later = (state.pending ?? []).filter((event) => event.order > snapshot.order);
    state.pending = undefined;
    this.send(connection, JSON.stringify(welcome satisfies ServerFrame));
    logEvent('ws_open', { room: this.name, member: state.member.id });
    for (const event of later) if (this.members.has(connection)) this.send(connection, event.frame);
    if (!this.members.has(connection)) return;
    // Held events may be older than the snapshot (and events from another process may
    // still come that are): the member waits for the first one it has not been told of.
    if ((!settled && later.length === 0) || this.held.length > 0) {
      state.after = later.at(-1)?.order ?? snapshot.order;
      this.catchingUp += 1;
      return;
    }
    this.fanout?.add(connection);
  }

  /** A join that failed: this connection goes, and nobody else notices. */
  private drop(connection: Connection, state: MemberState, error: unknown, [code, reason]: CloseWith): void {
    logEvent('ws_fault', { room: this.name, member: state.member.id, error: String(error) });
    this.remove(connection, code, reason);
  }

  /** Re-attaches a member that is already connected (after hibernation), silently. */
  restore(connection: Connection, member: Member, client: string, joinedAt: number, grants: Grants): void {
    this.attach(connection, member, client, joinedAt, grants);
    this.hub.restore(member);
    this.fanout?.add(connection);
  }

  private attach(connection: Connection, member: Member, client: string, joinedAt: number, grants: Grants): MemberState {
    const { rateBurst, ratePerSecond } = this.config;
    const limited = rateBurst > 0 && ratePerSecond > 0;
    const state: MemberState = {
      member,
      joinedAt,
      client,
      bucket: limited ? new TokenBucket(rateBurst, ratePerSecond, this.now()) : undefined,
      limitedInARow: 0,
      pending: undefined,
      after: undefined,
      fixedName: grants.fixedName ?? false,
      role: grants.role,
    };
    if (!this.isHere(member.id)) this.memberCount += 1;
    this.members.set(connection, state);
    return state;
  }

  private isHere(id: string): boolean {
    for (const state of this.members.values()) if (state.member.id === id) return true;
    return false;
  }

  /** Whether anyone is here but member `id` (anyone at all when it is undefined). */
  private isHereBesides(id: string | undefined): boolean {
    if (id === undefined) return this.members.size > 0;
    for (const state of this.members.values()) if (state.member.id !== id) return true;
    return false;
  }

  private connectionsOf(id: string): Connection[] {
    const found: Connection[] = [];
    for (const [connection, state] of this.members) if (state.member.id === id) found.push(connection);
    return found;
  }

  /** Counts out a connection that has just been deleted from `members`. */
  private forget(state: MemberState): void {
    if (state.after !== undefined) this.catchingUp -= 1;
    if (!this.isHere(state.member.id)) this.memberCount -= 1;
  }

  /** The member behind a connection, if it is in this room. */
  private memberOf(connection: Connection): Member | undefined {
    return this.members.get(connection)?.member;
  }

  /** Handles one inbound frame. Never throws: a fault closes this connection only (1011). */
  receive(connection: Connection, data: string | ArrayBuffer | Uint8Array): void {
    const state = this.members.get(connection);
    if (!state) return;
    try {
      this.handle(connection, state, data);
    } catch (error) {
      logEvent('ws_fault', { room: this.name, member: state.member.id, error: String(error) });
      this.remove(connection, ...INTERNAL_ERROR);
    }
  }

  /** Forgets a connection that has closed, and tells the others it left. */
  leave(connection: Connection, code: number): void {
    const state = this.members.get(connection);
    if (!state) return;
    this.members.delete(connection);
    this.forget(state);
    this.logClose(state, code);
    this.hub.leave(state.member);
    if (this.members.size === 0) this.onEmpty(this);
  }

  /**
   * Closes every connection with 1001 so that clients reconnect and resume elsewhere.
   * Members on other instances are told of their leaving; those here are all going.
   */
  shutdown(): void {
    this.closeAll(Close.goingAway, 'server_shutdown');
  }

  /**
   * HubListener: what the members were told may no longer hold (the room's storage was
   * lost, or events were missed): each resumes. Members whose welcome is still on its way
   * get the room as it is now.
   */
  reset(): void {
    // Held events belong to what was lost, and their order to the room as it was.
    this.held = [];
    this.closeAll(Close.serviceRestart, 'storage_lost', (state) => state.pending === undefined);
  }

  private closeAll(code: number, reason: string, which: (state: MemberState) => boolean = () => true): void {
    const states = [...this.members].filter(([, state]) => which(state));
    for (const [connection, state] of states) {
      this.members.delete(connection);
      this.forget(state);
    }
    for (const [connection, state] of states) {
      closeQuietly(connection, code, reason);
      this.logClose(state, code);
      this.hub.leave(state.member);
    }
    if (states.length > 0 && this.members.size === 0) this.onEmpty(this);
  }

  private logClose(state: MemberState, code: number) {
    const durationMs = this.now() - state.joinedAt;
    logEvent('ws_close', { room: this.name, member: state.member.id, code, durationMs });
  }

  private handle(connection: Connection, state: MemberState, data: string | ArrayBuffer | Uint8Array) {
    let json: unknown;
    let parsed = false;
    if (typeof data === 'string') {
      try {
        json = JSON.parse(data);
        parsed = true;
      } catch {
        // reported below, after the rate limit has had its say
      }
    }
    if (parsed && isPing(json)) {
      this.send(connection, PONG);
      return;
    }
    const cid = clientIdOf(json);
    if (!this.admit(connection, state, cid, isTyping(json))) return;

    if (typeof data !== 'string') {
      return this.reject(connection, 'bad_message', 'binary frames are not accepted; send JSON as text', cid);
    }
    if (!parsed) return this.reject(connection, 'bad_json', 'the frame is not valid JSON', cid);
    const frame = ClientFrame.safeParse(json);
    if (!frame.success) return this.reject(connection, 'bad_message', describeIssues(frame.error), cid);

    switch (frame.data.type) {
      case 'message':
        return this.post(connection, state.member, frame.data.text, frame.data.cid);
      case 'typing':
        return this.hub.typing(state.member, frame.data.active);
      case 'rename':
        return this.rename(connection, state, frame.data.name);
      case 'delete':
        if (state.role !== 'moderator') return this.reject(connection, 'forbidden', 'only moderators delete messages');
        return this.settle(
          connection,
          this.hub.remove(frame.data.seq, state.member),
          `message ${frame.data.seq} is not in this room's history`,
        );
      case 'kick': {
        if (state.role !== 'moderator') return this.reject(connection, 'forbidden', 'only moderators kick members');
        const { member, banSeconds } = frame.data;
        const banMs = banSeconds === undefined ? undefined : banSeconds * 1000;
        return this.settle(connection, this.hub.kick(member, banMs), `${member} is not a member of this room`);
      }
      case 'ping':
        return; // answered above
    }
  }

  /**
   * Applies the rate limit; false when the frame must be dropped. Typing frames over the
   * budget are dropped without an error: the user did nothing wrong by typing.
   */
  private admit(connection: Connection, state: MemberState, cid: string | undefined, quiet: boolean): boolean {
    const now = this.now();
    // The connection's budget and its client's: the tighter one decides, and a frame that
    // one of them refuses costs neither.
    const shared = this.clientBudgets?.of(state.client, now);
    const waitMs = Math.max(state.bucket?.waitMs(now) ?? 0, shared?.waitMs(now) ?? 0);
    if (waitMs === 0) {
      state.bucket?.take(now);
      shared?.take(now);
      state.limitedInARow = 0;
      return true;
    }
    state.limitedInARow += 1;
    this.metrics.rejected('rate_limited');
    if (state.limitedInARow >= FLOOD_LIMIT) {
      this.remove(connection, Close.policyViolation, 'flooding');
      return false;
    }
    if (quiet) return false;
    this.sendError(connection, {
      type: 'error',
      code: 'rate_limited',
      message: `too many frames; wait ${waitMs} ms`,
      ...(cid !== undefined && { cid }),
      retryAfterMs: waitMs,
    });
    return false;
  }

  private post(connection: Connection, from: Member, text: string, cid: string | undefined) {
    const problem = textProblem(text, this.config.maxText);
    if (problem) return this.reject(connection, 'bad_text', problem, cid);
    const posted = this.hub.post({ from, text, ts: this.now(), cid });
    if (!(posted instanceof Promise)) {
      this.metrics.messagesAccepted += 1;
      return;
    }
    posted.then(
      () => (this.metrics.messagesAccepted += 1),
      () => this.unavailable(connection, cid),
    );
  }

  /** A moderator's delete or kick: not_found when there was nothing to do it to. */
  private settle(connection: Connection, done: boolean | Promise<boolean>, notFound: string): void {
    if (!(done instanceof Promise)) {
      if (!done) this.reject(connection, 'not_found', notFound);
      return;
    }
    done.then(
      (found) => {
        if (!found && this.members.has(connection)) this.reject(connection, 'not_found', notFound);
      },
      () => this.unavailable(connection),
    );
  }

  /** The hub could not do what the member asked (its storage is unreachable). */
  private unavailable(connection: Connection, cid?: string): void {
    this.metrics.rejected('unavailable');
    if (!this.members.has(connection)) return;
    this.sendError(connection, {
      type: 'error',
      code: 'unavailable',
      message: 'the room cannot do that right now; try again',
      ...(cid !== undefined && { cid }),
      retryAfterMs: UNAVAILABLE_RETRY_MS,
    });
  }

  private rename(connection: Connection, state: MemberState, requested: string) {
    if (state.fixedName) return this.reject(connection, 'forbidden', 'the name is fixed by your token');
    const name = DisplayName.safeParse(requested);
    if (!name.success) {
      return this.reject(connection, 'bad_name', describeIssues(name.error, 'name'));
    }
    const renamed = { id: state.member.id, name: name.data };
    // Every connection of the member carries the new name.
    for (const [own, ownState] of this.members) {
      if (ownState.member.id !== renamed.id) continue;
      ownState.member = renamed;
      own.remember?.(renamed, { fixedName: false, role: ownState.role });
    }
    this.hub.rename(renamed);
  }

  private reject(connection: Connection, code: ErrorCode, message: string, cid?: string) {
    this.metrics.rejected(code);
    this.sendError(connection, { type: 'error', code, message, ...(cid !== undefined && { cid }) });
  }

  private sendError(connection: Connection, frame: ErrorFrame) {
    this.send(connection, JSON.stringify(frame satisfies ServerFrame));
  }

  private send(connection: Connection, text: string): void {
    const problem = this.trySend(connection, this.encode(text));
    if (problem) this.remove(connection, ...problem);
  }

  /**
   * HubListener: one event of the room, to every member here but the one it is about. An
   * event about a member waits while the window is open; any other event sends those
   * waiting first, so that every member sees events in their order.
   */
  deliver(event: RoomEvent): void {
    if (event.about !== undefined) {
      if (this.window !== undefined) {
        this.held.push(event);
        return;
      }
      // An event that reaches nobody (the first member's join) costs nothing to send.
      if (this.isHereBesides(event.about)) {
        this.window = setTimeout(this.windowEnds, MEMBER_EVENTS_WINDOW_MS);
      }
    } else if (this.held.length > 0) {
      this.sendHeld();
    }
    this.fanOut(event);
  }

  /** Sends what was held, and keeps the window open while events keep coming. */
  private readonly windowEnds = () => {
    this.window = this.held.length > 0 ? setTimeout(this.windowEnds, MEMBER_EVENTS_WINDOW_MS) : undefined;
    this.sendHeld();
  };

  private sendHeld(): void {
    const held = this.held;
    this.held = [];
    for (const event of held) this.fanOut(event);
  }

  /** One event to every member here but the one it is about, encoded once for all of them. */
  private fanOut(event: RoomEvent): void {
    const about = event.about;
    // Nobody to tell (a fan-out may still reach sockets that are closing: not for this).
    if (!this.isHereBesides(about)) return;
    if (this.catchingUp > 0) this.catchUp(event.order);
    const payload = this.encode(event.frame);
    let fanout = this.fanout;
    if (fanout && about !== undefined) {
      // A fan-out skips one connection; a member with several here gets sends of its own.
      const except = this.connectionsOf(about);
      if (except.length > 1) fanout = undefined;
      else fanout.publish(payload, except[0]);
    } else {
      fanout?.publish(payload);
    }
    let dropped: [Connection, number, string][] | undefined;
    for (const [connection, state] of this.members) {
      if (state.after !== undefined || (about !== undefined && state.member.id === about)) continue;
      if (state.pending) {
        state.pending.push(event);
        continue;
      }
      // After a fan-out the frame is on its way to everyone; only the queues are left to check.
      const problem = fanout ? backlogged(connection) : this.trySend(connection, payload);
      if (problem) {
        dropped ??= [];
        dropped.push([connection, ...problem]);
      }
    }
    // Dropped after the loop so that every recipient sees frames in the same order.
    if (dropped) for (const [connection, code, reason] of dropped) this.remove(connection, code, reason);
  }

  /** HubListener: a moderator kicked the member. */
  expel(member: string): void {
    for (const connection of this.connectionsOf(member)) {
      this.remove(connection, Close.policyViolation, 'kicked');
    }
  }

  /** Members whose welcome already told of every event up to `order` get the ones after it. */
  private catchUp(order: number): void {
    for (const [connection, state] of this.members) {
      if (state.after === undefined || order <= state.after) continue;
      state.after = undefined;
      this.catchingUp -= 1;
      this.fanout?.add(connection);
    }
  }

  /** Returns the close code and reason when this connection has to go. */
  private trySend(connection: Connection, payload: string | Uint8Array): CloseWith | undefined {
    try {
      connection.send(payload);
      return backlogged(connection);
    } catch {
      return INTERNAL_ERROR;
    }
  }

  /** Closes a connection from the server side and forgets it at once. */
  private remove(connection: Connection, code: number, reason: string): void {
    if (!this.members.has(connection)) return;
    closeQuietly(connection, code, reason);
    this.leave(connection, code);
  }
}

/** Slow-consumer close when more output is queued for `connection` than it may have. */
function backlogged(connection: Connection): CloseWith | undefined {
  return connection.bufferedAmount > MAX_BUFFERED_BYTES ? SLOW_CONSUMER : undefined;
}

function closeQuietly(connection: Connection, code: number, reason: string) {
  try {
    connection.close(code, reason);
  } catch {
    // the socket is already gone; forgetting it is all that is left to do
  }
}

function typeOf(json: unknown): unknown {
  return typeof json === 'object' && json !== null ? (json as { type?: unknown }).type : undefined;
}

function isPing(json: unknown): boolean {
  return typeOf(json) === 'ping';
}

function isTyping(json: unknown): boolean {
  return typeOf(json) === 'typing';
}

/** The frame's cid, if it has a well-formed one, so that errors can name the frame. */
function clientIdOf(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const cid = (json as { cid?: unknown }).cid;
  return typeof cid === 'string' && cid.length >= 1 && cid.length <= 64 ? cid : undefined;
}
