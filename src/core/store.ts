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
  history(query: HistoryQuery): ChatMessage[];
  /** The history a joining client gets: without `since` the latest `limit` messages. */
  resume(request: ResumeRequest, limit: number): Resumption;
}

/** Where the stores of all rooms live. */
export interface Storage {
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

  constructor(
    readonly room: string,
    /** Messages kept (HISTORY_RETENTION); older ones are deleted as new ones arrive. */
    protected readonly retention: number,
  ) {}

  abstract append(draft: MessageDraft): ChatMessage;
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

/** Keeps the last `retention` messages in a ring; forgotten with the room. */
export class MemoryStore extends LocalStore {
  readonly epoch = newEpoch();
  seq = 0;
  private readonly ring: ChatMessage[] = [];
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

  history({ since, before, limit }: HistoryQuery): ChatMessage[] {
    // The ring holds seq oldest..this.seq without gaps, so positions follow from seqs.
    const oldest = this.seq - this.ring.length + 1;
    const from = since === undefined ? 0 : Math.max(0, since + 1 - oldest);
    const to = before === undefined ? this.ring.length : Math.min(this.ring.length, Math.max(0, before - oldest));
    return since === undefined ? this.slice(Math.max(from, to - limit), to) : this.slice(from, Math.min(to, from + limit));
  }

  /** Messages at ring positions [from, to), oldest first. */
  private slice(from: number, to: number): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (let i = from; i < to; i++) out.push(this.ring[(this.start + i) % this.ring.length]!);
    return out;
  }
}

/** Rooms whose history lives and dies with this process (STORAGE=memory). */
export class MemoryStorage implements Storage {
  constructor(private readonly retention: number) {}

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
