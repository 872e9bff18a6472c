// Where a room keeps its sequence number, epoch and recent messages. The interface is
// synchronous on purpose: memory is, and so is a Durable Object's SQLite storage.
import type { ChatMessage } from './protocol.ts';
import { randomId } from './ids.ts';

export interface RoomStore {
  /** Identifies this history stream; a new one means earlier promises may be broken. */
  readonly epoch: string;
  /** The latest sequence number, 0 before the first message. */
  readonly seq: number;
  /** Stores a message whose seq is `this.seq + 1`. */
  append(message: ChatMessage): void;
  /** The retained messages with seq > since, oldest first, at most `limit`. */
  after(since: number, limit: number): ChatMessage[];
  /** The last `limit` retained messages, oldest first. */
  latest(limit: number): ChatMessage[];
  /** The seq of the oldest retained message (seq + 1 when none are retained). */
  readonly oldestSeq: number;
}

export function newEpoch(): string {
  return randomId(10);
}

/** Keeps the last `capacity` messages in a ring; forgotten with the process. */
export class MemoryStore implements RoomStore {
  readonly epoch = newEpoch();
  seq = 0;
  private readonly ring: ChatMessage[] = [];
  private start = 0;

  constructor(private readonly capacity: number) {}

  get oldestSeq(): number {
    return this.seq - this.ring.length + 1;
  }

  append(message: ChatMessage): void {
    this.seq = message.seq;
    if (this.capacity === 0) return;
    if (this.ring.length < this.capacity) {
      this.ring.push(message);
    } else {
      this.ring[this.start] = message;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  after(since: number, limit: number): ChatMessage[] {
    const skip = Math.max(0, since - this.oldestSeq + 1);
    return this.slice(skip, Math.min(this.ring.length, skip + limit));
  }

  latest(limit: number): ChatMessage[] {
    return this.slice(Math.max(0, this.ring.length - limit), this.ring.length);
  }

  /** Messages at logical positions [from, to), oldest first. */
  private slice(from: number, to: number): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (let i = from; i < to; i++) out.push(this.ring[(this.start + i) % this.ring.length]!);
    return out;
  }
}
