// What the instances holding members of one room share: its history, who is in it, and the
// events between them. A Room keeps its own sockets and the protocol's rules, and goes
// through its hub for everything that other instances must see. In one process the hub is
// a LocalHub, synchronous from end to end; with several instances it lives in Redis (see
// redis-engine.ts), where a join or a post takes a round trip and events come back from
// the room's channel.
import type { Member, Presence, RoomInfo, RoomMessages, ServerFrame, Typing, Welcome } from './protocol.ts';
import type { HistoryQuery, MessageDraft, ResumeRequest, RoomStore } from './store.ts';

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
   * Adds a member and announces it to the others; answers with what its welcome says.
   * Refuses with RoomFull when the room, on every instance, is at MAX_ROOM_MEMBERS.
   */
  join(member: Member, request: ResumeRequest, limit: number): Snapshot | Promise<Snapshot>;
  /** Adds a member that was already announced (a Durable Object waking up), silently. */
  restore(member: Member): void;
  leave(member: Member): void;
  rename(member: Member): void;
  typing(member: Member, active: boolean): void;
  /** Stores a message under the room's next seq; it reaches every member as an event. */
  post(draft: MessageDraft): void | Promise<void>;
}

/** A hub inside one process, over the room's RoomStore: every event is delivered at once. */
export class LocalHub implements RoomHub {
  private readonly roster = new Map<string, Member>();
  private order = 0;
  listener: HubListener | undefined;

  constructor(readonly store: RoomStore) {}

  get name(): string {
    return this.store.room;
  }

  /** Whether readers see the room: it has members or stored messages. */
  get exists(): boolean {
    return this.roster.size > 0 || this.store.seq > 0;
  }

  join(member: Member, request: ResumeRequest, limit: number): Snapshot {
    this.roster.set(member.id, member);
    const snapshot = { ...this.store.resume(request, limit), members: [...this.roster.values()], order: this.order };
    this.announce('join', member);
    return snapshot;
  }

  restore(member: Member): void {
    this.roster.set(member.id, member);
  }

  leave(member: Member): void {
    if (this.roster.delete(member.id)) this.announce('leave', member);
  }

  rename(member: Member): void {
    this.roster.set(member.id, member);
    this.announce('rename', member);
  }

  typing(member: Member, active: boolean): void {
    const typing: Typing = { type: 'typing', from: member, active };
    this.emit(JSON.stringify(typing satisfies ServerFrame), member.id);
  }

  post(draft: MessageDraft): void {
    const message = this.store.append(draft);
    this.emit(JSON.stringify(message satisfies ServerFrame));
  }

  info(): RoomInfo {
    const members = [...this.roster.values()];
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
