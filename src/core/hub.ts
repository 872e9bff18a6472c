// What the instances holding members of one room share: its history, who is in it, and the
// events between them. A Room keeps its own sockets and the protocol's rules, and goes
// through its hub for everything that other instances must see. In one process the hub is
// a LocalHub, synchronous from end to end; with several instances it lives in Redis (see
// redis-engine.ts), where a join or a post takes a round trip and events come back from
// the room's channel.
import type { ChatMessage, Deleted, Member, Presence, RoomInfo, RoomMessages, ServerFrame, Typing, Welcome } from './protocol.ts';
import type { Bans, HistoryQuery, MessageDraft, ResumeRequest, RoomStore } from './store.ts';

/** Something that happened in a room, as every instance with members in it hears it. */
export interface RoomEvent {
  /** The frame's JSON, made once where the event happened. */
  readonly frame: string;
  /** The member it is about, who does not get it (presence, typing); absent for messages. */
  readonly about?: string | undefined;
  /**
   * Its place in the room's order of events. A welcome says where it was taken (see
   * Snapshot.order), and a member whose welcome is on its way gets only later events.
   */
  readonly order: number;
}

/** What a joining member's welcome says, taken in one step with its joining. */
export interface Snapshot extends Pick<Welcome, 'epoch' | 'seq' | 'history' | 'recovered' | 'members'> {
  /** The order of the last event that the snapshot includes. */
  readonly order: number;
}

/** A join refused because the room has MAX_ROOM_MEMBERS members on all instances together. */
export class RoomFull extends Error {
  override name = 'RoomFull';
}

/** Where the hub's events go: the room's members on this instance. */
export interface HubListener {
  deliver(event: RoomEvent): void;
  /** A moderator kicked the member: each of its connections here closes (1008 kicked). */
  expel(member: string): void;
  /**
   * What the members were told may no longer hold (the room's storage was lost, or events
   * were missed while the hub was cut off): every member must resume.
   */
  reset(): void;
}

export interface RoomHub {
  readonly name: string;
  /** Set by the room, which is where the hub's events go. */
  listener: HubListener | undefined;
  /**
   * Adds a connection of a member, and announces the member to the others when it is its
   * first (on every instance); answers with what its welcome says. Refuses with RoomFull
   * when a new member would pass MAX_ROOM_MEMBERS.
   */
  join(member: Member, request: ResumeRequest, limit: number): Snapshot | Promise<Snapshot>;
  /** Adds a connection that was already announced (a Durable Object waking up), silently. */
  restore(member: Member): void;
  /** A connection of the member has gone; its last one takes the member out, announced. */
  leave(member: Member): void;
  rename(member: Member): void;
  typing(member: Member, active: boolean): void;
  /** Stores a message under the room's next seq; it reaches every member as an event. */
  post(draft: MessageDraft): ChatMessage | Promise<ChatMessage>;
  /**
   * Deletes message `seq` from the room's history, and tells every member who did (`by`);
   * false when no such message is retained.
   */
  remove(seq: number, by: Member): boolean | Promise<boolean>;
  /**
   * Closes every connection of member `id` on every instance; with `banMs`, refuses it in
   * this room for that long. False when it is not a member.
   */
  kick(id: string, banMs: number | undefined): boolean | Promise<boolean>;
}

/** A hub inside one process, over the room's RoomStore: every event is delivered at once. */
export class LocalHub implements RoomHub {
  /** Each member, with how many connections it has in the room. */
  private readonly roster = new Map<string, { member: Member; connections: number }>();
  private order = 0;
  listener: HubListener | undefined;

  readonly store: RoomStore;
  private readonly bans: Bans;

  constructor(store: RoomStore, bans: Bans) {
    this.store = store;
    this.bans = bans;
  }

  get name(): string {
    return this.store.room;
  }

  /** Whether readers see the room: it has members or stored messages. */
  get exists(): boolean {
    return this.roster.size > 0 || this.store.seq > 0;
  }

  join(member: Member, request: ResumeRequest, limit: number): Snapshot {
    const first = this.add(member);
    const snapshot = { ...this.store.resume(request, limit), members: this.members(), order: this.order };
    if (first) this.announce('join', member);
    return snapshot;
  }

  restore(member: Member): void {
    this.add(member);
  }

  leave(member: Member): void {
    const entry = this.roster.get(member.id);
    if (!entry) return;
    entry.connections -= 1;
    if (entry.connections > 0) return;
    this.roster.delete(member.id);
    this.announce('leave', entry.member);
  }

  rename(member: Member): void {
    const entry = this.roster.get(member.id);
    if (!entry) return;
    entry.member = member;
    this.announce('rename', member);
  }

  /** Whether this is the member's first connection. */
  private add(member: Member): boolean {
    const entry = this.roster.get(member.id);
    if (entry) entry.connections += 1;
    else this.roster.set(member.id, { member, connections: 1 });
    return entry === undefined;
  }

  private members(): Member[] {
    return Array.from(this.roster.values(), (entry) => entry.member);
  }

  typing(member: Member, active: boolean): void {
    const typing: Typing = { type: 'typing', from: member, active };
    this.emit(JSON.stringify(typing satisfies ServerFrame), member.id);
  }

  post(draft: MessageDraft): ChatMessage {
    const message = this.store.append(draft);
    this.emit(JSON.stringify(message satisfies ServerFrame));
    return message;
  }

  remove(seq: number, by: Member): boolean {
    if (!this.store.delete(seq)) return false;
    const deleted: Deleted = { type: 'deleted', room: this.name, seq, by };
    this.emit(JSON.stringify(deleted satisfies ServerFrame));
    return true;
  }

  kick(id: string, banMs: number | undefined): boolean {
    if (!this.roster.has(id)) return false;
    if (banMs !== undefined) this.bans.add(this.name, id, Date.now() + banMs);
    this.listener?.expel(id);
    return true;
  }

  info(): RoomInfo {
    const members = this.members();
    return { room: this.name, count: members.length, members, seq: this.store.seq, epoch: this.store.epoch };
  }

  messages(query: HistoryQuery): RoomMessages {
    return pageOf(this.store, query);
  }

  private announce(event: Presence['event'], member: Member): void {
    const presence: Presence = { type: 'presence', event, member, count: this.roster.size };
    this.emit(JSON.stringify(presence satisfies ServerFrame), member.id);
  }

  private emit(frame: string, about?: string): void {
    this.order += 1;
    this.listener?.deliver({ frame, about, order: this.order });
  }
}

/** One page of a stored room's messages. */
export function pageOf(store: RoomStore, query: HistoryQuery): RoomMessages {
  return { room: store.room, epoch: store.epoch, messages: store.history(query) };
}
