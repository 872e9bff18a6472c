// Room history in SQLite, written once for every runtime: node:sqlite (Node, Deno and Bun
// alike: one database for all rooms) and a Durable Object's own database (one room each).
// Both are synchronous, so the store answers at once, as the memory store does.
import type { ChatMessage } from './protocol.ts';
import { LocalStore, newEpoch, type Bans, type HistoryQuery, type MessageDraft, type RoomStore, type Storage } from './store.ts';

export type SqlValue = string | number | null;

/** The little of a SQLite connection the store needs; each runtime has a small driver. */
export interface SqlDriver {
  /** Runs statements that return nothing (schema changes); several may be given at once. */
  exec(sql: string): void;
  /** Runs one statement with `?` parameters and returns its rows. */
  query<Row extends Record<string, SqlValue>>(sql: string, ...params: SqlValue[]): Row[];
  /** Runs `work` in one transaction: all of its writes land, or none. */
  transaction<T>(work: () => T): T;
  /** Commits what is still pending (a driver that commits once per turn). */
  flush?(): void;
  /** Closes a database this process opened (a Durable Object's closes with the object). */
  close?(): void;
}

/** The layout this code writes; a database from a newer version is refused, not guessed at. */
export const SCHEMA_VERSION = 1;

/**
 * A room's latest seq is the larger of `rooms.seq` and its newest row in `room_messages`:
 * appending a message writes only its row, and `rooms.seq` is written where no row can
 * carry the seq (a room that keeps no messages). Whatever removes rows must first bring
 * `rooms.seq` up to date, unless it only removes rows older than the newest. A deleted
 * message's row is removed; `bans` holds each ban until it ends.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS rooms (name TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS room_messages (
    room TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (room, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS bans (
    room TEXT NOT NULL, member TEXT NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (room, member)
  ) WITHOUT ROWID;
`;

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/**
 * Rooms in one SQLite database. Nothing is written until a room is joined, and readers
 * of rooms that were never joined find nothing: a read never creates storage.
 */
export class SqlStorage implements Storage {
  private ready = false;
  readonly bans: Bans = {
    add: (room, member, until) => {
      this.prepare();
      this.sql.transaction(() => {
        this.sql.query(`DELETE FROM bans WHERE until <= ?`, Date.now());
        this.sql.query(`INSERT OR REPLACE INTO bans (room, member, until) VALUES (?, ?, ?)`, room, member, until);
      });
    },
    until: (room, member, now) => {
      if (!this.ready && !this.hasTable('bans')) return undefined;
      const [row] = this.sql.query<{ until: number }>(
        `SELECT until FROM bans WHERE room = ? AND member = ? AND until > ?`,
        room,
        member,
        now,
      );
      return row?.until;
    },
    any: (room, now) =>
      (this.ready || this.hasTable('bans')) &&
      this.sql.query(`SELECT 1 FROM bans WHERE room = ? AND until > ? LIMIT 1`, room, now).length > 0,
  };

  private readonly sql: SqlDriver;
  private readonly retention: number;
  /**
   * The room whose history an edgechat before schema version 1 kept in this database
   * (a Durable Object's tables `meta` with epoch and seq, and `messages`).
   */
  private readonly legacyRoom?: string;

  constructor(sql: SqlDriver, retention: number, legacyRoom?: string) {
    this.sql = sql;
    this.retention = retention;
    this.legacyRoom = legacyRoom;
  }

  open(room: string): RoomStore {
    this.prepare();
    this.sql.query(`INSERT OR IGNORE INTO rooms (name, epoch, seq) VALUES (?, ?, 0)`, room, newEpoch());
    return this.find(room)!;
  }

  find(room: string): RoomStore | undefined {
    if (!this.ready && !this.hasTable('rooms')) return undefined;
    this.prepare();
    const [row] = this.sql.query<{ epoch: string; seq: number }>(
      `SELECT epoch, max(seq, coalesce((SELECT max(seq) FROM room_messages WHERE room = name), 0)) AS seq
       FROM rooms WHERE name = ?`,
      room,
    );
    return row && new SqlRoomStore(this.sql, room, row.epoch, row.seq, this.retention);
  }

  release(store: RoomStore): void {
    if (store.seq > 0) return;
    this.sql.query(
      `DELETE FROM rooms WHERE name = ?1 AND seq = 0 AND NOT EXISTS (SELECT 1 FROM room_messages WHERE room = ?1)`,
      store.room,
    );
  }

  /** Commits what the driver may still hold back; see SqliteOptions.commitPerTurn. */
  flush(): void {
    this.sql.flush?.();
  }

  close(): void {
    this.sql.close?.();
  }

  /** Creates or upgrades the tables on first use; throws SchemaError for a newer layout. */
  prepare(): void {
    if (this.ready) return;
    this.sql.transaction(() => {
      const legacy = this.legacyRoom !== undefined && this.hasTable('messages') && !this.hasTable('room_messages');
      this.sql.exec(SCHEMA);
      const [row] = this.sql.query<{ value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`);
      const version = row ? Number(row.value) : 0;
      if (version > SCHEMA_VERSION) {
        throw new SchemaError(`the database has schema version ${version}; this edgechat knows ${SCHEMA_VERSION}`);
      }
      if (legacy) this.migrateLegacy(this.legacyRoom!);
      this.sql.query(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)`, String(SCHEMA_VERSION));
    });
    this.ready = true;
  }

  /** Moves a pre-version-1 room (meta epoch and seq, `messages` by seq) into the tables above. */
  private migrateLegacy(room: string): void {
    const meta = new Map(this.sql.query<{ key: string; value: string }>(`SELECT key, value FROM meta`).map((r) => [r.key, r.value]));
    const epoch = meta.get('epoch');
    if (epoch !== undefined) {
      this.sql.query(`INSERT INTO rooms (name, epoch, seq) VALUES (?, ?, ?)`, room, epoch, Number(meta.get('seq') ?? 0));
      this.sql.query(`INSERT INTO room_messages (room, seq, body) SELECT ?, seq, body FROM messages`, room);
    }
    this.sql.exec(`DROP TABLE messages; DELETE FROM meta WHERE key IN ('epoch', 'seq');`);
  }

  private hasTable(name: string): boolean {
    return this.sql.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, name).length > 0;
  }
}

/**
 * Rows older than the retained ones are deleted in batches, every this many messages: the
 * few extra rows are never read, and most appends are one INSERT.
 */
const PRUNE_EVERY = 64;

/** One room's rows. This process is the room's only writer, so seq is kept in memory too. */
class SqlRoomStore extends LocalStore {
  private readonly sql: SqlDriver;
  readonly epoch: string;
  seq: number;

  constructor(sql: SqlDriver, room: string, epoch: string, seq: number, retention: number) {
    super(room, retention);
    this.sql = sql;
    this.epoch = epoch;
    this.seq = seq;
  }

  append(draft: MessageDraft): ChatMessage {
    const message = this.message(this.seq + 1, draft);
    const { seq } = message;
    // One transaction: the room's seq never runs ahead of or behind its history.
    this.sql.transaction(() => {
      if (this.retention === 0) {
        this.sql.query(`UPDATE rooms SET seq = ? WHERE name = ?`, seq, this.room);
        return;
      }
      this.sql.query(`INSERT INTO room_messages (room, seq, body) VALUES (?, ?, ?)`, this.room, seq, JSON.stringify(message));
      if (seq % PRUNE_EVERY === 0 && seq > this.retention) {
        this.sql.query(`DELETE FROM room_messages WHERE room = ? AND seq <= ?`, this.room, seq - this.retention);
      }
    });
    this.seq = seq;
    return message;
  }

  delete(seq: number): boolean {
    if (seq <= this.seq - this.retention) return false;
    return this.sql.transaction(() => {
      // The newest row may be the one going: rooms.seq carries the room's seq from now on.
      this.sql.query(`UPDATE rooms SET seq = max(seq, ?) WHERE name = ?`, this.seq, this.room);
      return this.sql.query(`DELETE FROM room_messages WHERE room = ? AND seq = ? RETURNING seq`, this.room, seq).length > 0;
    });
  }

  history({ since, before, limit }: HistoryQuery): ChatMessage[] {
    // Rows at or below `oldest` may still be there (PRUNE_EVERY) but are not retained.
    const oldest = this.seq - this.retention;
    const rows =
      since !== undefined
        ? this.select(`seq > ? ORDER BY seq LIMIT ?`, Math.max(since, oldest), limit)
        : this.select(`seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?`, oldest, before ?? this.seq + 1, limit).reverse();
    return rows.map((row) => JSON.parse(row.body) as ChatMessage);
  }

  private select(where: string, ...params: number[]): { body: string }[] {
    return this.sql.query(`SELECT body FROM room_messages WHERE room = ? AND ${where}`, this.room, ...params);
  }
}
