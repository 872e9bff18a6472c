// RoomStore on a Durable Object's SQLite storage, so that a room's epoch, sequence number
// and history outlive the object itself (eviction, hibernation, deploys). SQLite here is
// local to the object and synchronous, which is what lets RoomStore be synchronous.
import type { DurableObjectStorage } from '@cloudflare/workers-types/index.ts';
import { newEpoch, type RoomStore } from './core/history.ts';
import type { ChatMessage } from './core/protocol.ts';

export class SqliteStore implements RoomStore {
  readonly epoch: string;
  // Kept in memory as well: this object is the only writer, and Room reads it often.
  seq: number;

  constructor(
    private readonly storage: DurableObjectStorage,
    /** How many messages to keep (HISTORY_LIMIT); older rows are deleted as new ones come. */
    private readonly capacity: number,
  ) {
    const { sql } = storage;
    sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)`);
    // The epoch is drawn once, when the storage is new; it changes only if storage is lost.
    sql.exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?), ('seq', '0')`, newEpoch());
    const meta = new Map(sql.exec(`SELECT key, value FROM meta`).raw<[string, string]>());
    this.epoch = meta.get('epoch')!;
    this.seq = Number(meta.get('seq'));
  }

  get oldestSeq(): number {
    const { oldest } = this.storage.sql.exec<{ oldest: number | null }>(`SELECT MIN(seq) AS oldest FROM messages`).one();
    return oldest ?? this.seq + 1;
  }

  append(message: ChatMessage): void {
    // One transaction: the sequence number never runs ahead of or behind the history.
    this.storage.transactionSync(() => {
      const { sql } = this.storage;
      if (this.capacity > 0) {
        sql.exec(`INSERT INTO messages (seq, body) VALUES (?, ?)`, message.seq, JSON.stringify(message));
      }
      sql.exec(`DELETE FROM messages WHERE seq <= ?`, message.seq - this.capacity);
      sql.exec(`UPDATE meta SET value = ? WHERE key = 'seq'`, String(message.seq));
    });
    this.seq = message.seq;
  }

  after(since: number, limit: number): ChatMessage[] {
    return this.select(`SELECT body FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`, since, limit);
  }

  latest(limit: number): ChatMessage[] {
    // The newest `limit` rows, turned back to oldest first.
    return this.select(`SELECT body FROM messages ORDER BY seq DESC LIMIT ?`, limit).reverse();
  }

  private select(query: string, ...bindings: number[]): ChatMessage[] {
    return Array.from(
      this.storage.sql.exec<{ body: string }>(query, ...bindings),
      (row) => JSON.parse(row.body) as ChatMessage,
    );
  }
}
