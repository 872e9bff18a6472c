// Where rooms keep their epoch, sequence numbers and messages. The store, not the room,
// assigns each message its seq and id, and answers a resume in one call: a store that
// lives in another process must do the first atomically and the second in one round trip.
import type { ChatMessage, Member, Welcome } from './protocol.ts';
import { randomId } from './ids.ts';

/** A message as the room accepted it, before the store gives it a place in the history. */
export interface MessageDraft {
  from: Member;
  text: string;
  ts: number;
  cid?: string | undefined;
}

/**
 * Which retained messages, oldest first, at most `limit`: the first ones after `since`,
 * the last ones before `before`, or (neither given) the latest.
 */
export interface HistoryQuery {
  since?: number | undefined;
  before?: number | undefined;
  limit: number;
}

export interface ResumeRequest {
  since?: number | undefined;
  epoch?: string | undefined;
}

/** What a welcome says of the history: taken together, in one step. */
export type Resumption = Pick<Welcome, 'epoch' | 'seq' | 'history' | 'recovered'>;

export interface RoomStore {
  readonly room: string;
  /** Identifies this history stream; a new one means earlier promises may be broken. */
  readonly epoch: string;
  /** The latest sequence number, 0 before the first message. */
  readonly seq: number;
  /** Stores a message under the next seq and returns it as every member will see it. */
  append(draft: MessageDraft): ChatMessage;
  /**
   * Removes retained message `seq` from history for good (a moderator's delete); false when
   * there is no such message. Its seq is never given again.
   */
  delete(seq: number): boolean;
  history(query: HistoryQuery): ChatMessage[];
  /** The history a joining client gets: without `since` the latest `limit` messages. */
  resume(request: ResumeRequest, limit: number): Resumption;
}

/** Who is refused in which room until when: kept apart from the rooms, which may be let go. */
export interface Bans {
  /** Refuses `member` in `room` until `until` (ms since the epoch). */
  add(room: string, member: string, until: number): void;
  /** When the member's ban from the room ends, if it is banned at `now`. */
  until(room: string, member: string, now: number): number | undefined;
  /** Whether anyone is banned from the room at `now`. */
  any(room: string, now: number): boolean;
}

/** Where the stores of all rooms live. */
export interface Storage {
  readonly bans: Bans;
  /** The store of a room that is being joined; created if the room has none yet. */
  open(room: string): RoomStore;
  /** The store of a room that has one, for readers; never creates anything. */
  find(room: string): RoomStore | undefined;
  /**
   * The room has no members left and is let go from memory. A room that never had a
   * message promised nothing, so its storage is removed rather than kept forever.
   */
  release(store: RoomStore): void;
  /** Makes every append so far durable now, before what it announces leaves the process. */
  flush(): void;
  close(): void;
}

export function newEpoch(): string {
  return randomId(10);
}

/** What every store in this process shares: message ids and the resume rule. */
export abstract class LocalStore implements RoomStore {
  abstract readonly epoch: string;
  abstract readonly seq: number;

  readonly room: string;
  /** Messages kept (HISTORY_RETENTION); older ones are deleted as new ones arrive. */
  protected readonly retention: number;

  constructor(room: string, retention: number) {
    this.room = room;
    this.retention = retention;
  }

  abstract append(draft: MessageDraft): ChatMessage;
  abstract delete(seq: number): boolean;
  abstract history(query: HistoryQuery): ChatMessage[];

  resume({ since, epoch }: ResumeRequest, limit: number): Resumption {
    const at = { epoch: this.epoch, seq: this.seq };
    if (since === undefined) return { ...at, history: this.history({ limit }) };
    // Everything after `since` is still here when the stream is the same and no more than
    // `limit` (and no more than retention) messages went by since.
    const missed = this.seq - since;
    const recovered = epoch === this.epoch && missed >= 0 && missed <= Math.min(limit, this.retention);
    return { ...at, history: this.history(recovered ? { since, limit } : { limit }), recovered };
  }

  protected message(seq: number, { from, text, ts, cid }: MessageDraft): ChatMessage {
    const id = `m_${this.epoch}_${seq}`;
    return { type: 'message', room: this.room, seq, id, from, text, ts, ...(cid !== undefined && { cid }) };
  }
}

/**
 * Keeps the last `retention` messages in a ring; forgotten with the room. A deleted message
 * leaves an empty slot, so that positions still follow from seqs.
 */
export class MemoryStore extends LocalStore {
  readonly epoch = newEpoch();
  seq = 0;
  private readonly ring: (ChatMessage | undefined)[] = [];
  private start = 0;

  append(draft: MessageDraft): ChatMessage {
    const message = this.message(this.seq + 1, draft);
    this.seq = message.seq;
    if (this.retention === 0) return message;
    if (this.ring.length < this.retention) {
      this.ring.push(message);
    } else {
      this.ring[this.start] = message;
      this.start = (this.start + 1) % this.retention;
    }
    return message;
  }

  delete(seq: number): boolean {
    const position = seq - this.oldest;
    if (position < 0 || position >= this.ring.length || !this.at(position)) return false;
    this.ring[(this.start + position) % this.ring.length] = undefined;
    return true;
  }

  history({ since, before, limit }: HistoryQuery): ChatMessage[] {
    const oldest = this.oldest;
    // Ring positions [from, to) are in range; deleted slots are passed over.
    const to = before === undefined ? this.ring.length : Math.min(this.ring.length, Math.max(0, before - oldest));
    const out: ChatMessage[] = [];
    if (since !== undefined) {
      for (let i = Math.max(0, since + 1 - oldest); i < to && out.length < limit; i++) {
        const message = this.at(i);
        if (message) out.push(message);
      }
      return out;
    }
    for (let i = to - 1; i >= 0 && out.length < limit; i--) {
      const message = this.at(i);
      if (message) out.push(message);
    }
    return out.reverse();
  }

  /** The seq of ring position 0: the ring holds oldest..seq. */
  private get oldest(): number {
    return this.seq - this.ring.length + 1;
  }

  private at(position: number): ChatMessage | undefined {
    return this.ring[(this.start + position) % this.ring.length];
  }
}

/** Bans in this process, forgotten when it ends (STORAGE=memory). */
export class MemoryBans implements Bans {
  private readonly ends = new Map<string, number>();

  add(room: string, member: string, until: number): void {
    // Ended bans go whenever one is added: the map holds no more than the bans in force.
    const now = Date.now();
    for (const [key, end] of this.ends) if (end <= now) this.ends.delete(key);
    this.ends.set(banKey(room, member), until);
  }

  until(room: string, member: string, now: number): number | undefined {
    const until = this.ends.get(banKey(room, member));
    return until !== undefined && until > now ? until : undefined;
  }

  any(room: string, now: number): boolean {
    for (const [key, end] of this.ends) if (end > now && key.startsWith(`${room} `)) return true;
    return false;
  }
}

/** Room names have no spaces. */
const banKey = (room: string, member: string) => `${room} ${member}`;

/** Rooms whose history lives and dies with this process (STORAGE=memory). */
export class MemoryStorage implements Storage {
  readonly bans = new MemoryBans();

  private readonly retention: number;

  constructor(retention: number) {
    this.retention = retention;
  }

  open(room: string): RoomStore {
    return new MemoryStore(room, this.retention);
  }

  /** A memory store exists only inside its room, which the registry holds. */
  find(): undefined {
    return undefined;
  }

  release(): void {}

  flush(): void {}

  close(): void {}
}
