// The stores behind rooms: one set of cases for memory and for SQLite (node:sqlite, the
// same SQL a Durable Object runs), then what only a database can show: reopening it, its
// schema version, the layout older Workers deployments wrote, and reads that create nothing.
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, SchemaError, SqlStorage } from '../src/core/sql-store.ts';
import { MemoryStorage, type RoomStore, type Storage } from '../src/core/store.ts';
import { openSqlite } from '../src/runtime/sqlite.ts';

const ann = { id: 'u_ann', name: 'ann' };

function fill(store: RoomStore, count: number) {
  for (let i = 1; i <= count; i++) store.append({ from: ann, text: `t${i}`, ts: i });
}

const seqs = (messages: { seq: number }[]) => messages.map((m) => m.seq);

function databasePath(): string {
  return join(mkdtempSync(join(tmpdir(), 'edgechat-store-')), 'edgechat.db');
}

const kinds: [string, (retention: number) => Storage][] = [
  ['memory', (retention) => new MemoryStorage(retention)],
  ['SQLite', (retention) => new SqlStorage(openSqlite(databasePath()), retention)],
];

describe.each(kinds)('%s store', (_kind, makeStorage) => {
  it('assigns seq and id on append and returns the message as members see it', () => {
    const store = makeStorage(10).open('lobby');
    const first = store.append({ from: ann, text: 'hi', ts: 5, cid: 'c1' });
    const second = store.append({ from: ann, text: 'again', ts: 6 });
    expect(first).toEqual({
      type: 'message',
      room: 'lobby',
      seq: 1,
      id: `m_${store.epoch}_1`,
      from: ann,
      text: 'hi',
      ts: 5,
      cid: 'c1',
    });
    expect(second.seq).toBe(2);
    expect(second).not.toHaveProperty('cid');
    expect(store.seq).toBe(2);
  });

  it('keeps HISTORY_RETENTION messages and pages through them with since, before and latest', () => {
    const store = makeStorage(5).open('lobby');
    fill(store, 8);
    expect(seqs(store.history({ limit: 10 }))).toEqual([4, 5, 6, 7, 8]);
    expect(seqs(store.history({ limit: 2 }))).toEqual([7, 8]);
    expect(seqs(store.history({ since: 5, limit: 10 }))).toEqual([6, 7, 8]);
    expect(seqs(store.history({ since: 0, limit: 2 }))).toEqual([4, 5]);
    expect(seqs(store.history({ since: 8, limit: 10 }))).toEqual([]);
    expect(seqs(store.history({ before: 8, limit: 2 }))).toEqual([6, 7]);
    expect(seqs(store.history({ before: 6, limit: 10 }))).toEqual([4, 5]);
    expect(seqs(store.history({ before: 4, limit: 10 }))).toEqual([]);
    expect(seqs(store.history({ before: 100, limit: 3 }))).toEqual([6, 7, 8]);
  });

  it('keeps counting with a retention of 0', () => {
    const store = makeStorage(0).open('lobby');
    fill(store, 3);
    expect(store.seq).toBe(3);
    expect(store.history({ limit: 5 })).toEqual([]);
  });

  it('resumes with exactly the missed messages, or says recovered false', () => {
    const store = makeStorage(6).open('lobby');
    fill(store, 6);
    const { epoch } = store;
    expect(store.resume({}, 3)).toMatchObject({ epoch, seq: 6 });
    expect(store.resume({}, 3)).not.toHaveProperty('recovered');
    expect(seqs(store.resume({}, 3).history)).toEqual([4, 5, 6]);
    const within = store.resume({ since: 4, epoch }, 3);
    expect(within.recovered).toBe(true);
    expect(seqs(within.history)).toEqual([5, 6]);
    expect(store.resume({ since: 6, epoch }, 3)).toMatchObject({ recovered: true, history: [] });
    // Too many missed, another epoch, no epoch, or a seq from the future.
    for (const request of [{ since: 2, epoch }, { since: 5, epoch: 'other' }, { since: 5 }, { since: 7, epoch }]) {
      const resumed = store.resume(request, 3);
      expect(resumed.recovered).toBe(false);
      expect(seqs(resumed.history)).toEqual([4, 5, 6]);
    }
  });

  it('deletes a message for good: pages, latest and resume pass over it, and its seq is not reused', () => {
    const store = makeStorage(5).open('lobby');
    fill(store, 8);
    expect(store.delete(7)).toBe(true);
    expect(store.delete(7)).toBe(false);
    expect(store.delete(2)).toBe(false); // no longer retained
    expect(store.delete(9)).toBe(false); // not yet written
    expect(store.delete(8)).toBe(true); // the newest
    expect(seqs(store.history({ limit: 2 }))).toEqual([5, 6]);
    expect(seqs(store.history({ limit: 10 }))).toEqual([4, 5, 6]);
    expect(seqs(store.history({ since: 5, limit: 10 }))).toEqual([6]);
    expect(seqs(store.history({ before: 9, limit: 1 }))).toEqual([6]);
    expect(store.resume({ since: 5, epoch: store.epoch }, 5)).toMatchObject({ recovered: true, seq: 8 });
    expect(store.append({ from: ann, text: 'next', ts: 9 }).seq).toBe(9);
    expect(seqs(store.history({ since: 3, limit: 2 }))).toEqual([5, 6]); // 4 is no longer retained
    expect(seqs(store.history({ since: 5, limit: 2 }))).toEqual([6, 9]);
  });

  it('keeps a ban until it ends, per room and member', () => {
    const { bans } = makeStorage(5);
    const now = Date.now();
    bans.add('lobby', 'u_troll', now + 60_000);
    bans.add('lobby', 'u_brief', now + 1);
    expect(bans.until('lobby', 'u_troll', now)).toBe(now + 60_000);
    expect(bans.until('team', 'u_troll', now)).toBeUndefined();
    expect(bans.until('lobby', 'u_ann', now)).toBeUndefined();
    expect(bans.until('lobby', 'u_brief', now + 1)).toBeUndefined();
    expect(bans.any('lobby', now)).toBe(true);
    expect(bans.any('team', now)).toBe(false);
    expect(bans.any('lobby', now + 60_000)).toBe(false);
  });

  it('keeps rooms apart', () => {
    const storage = makeStorage(10);
    const lobby = storage.open('lobby');
    const team = storage.open('team');
    fill(lobby, 2);
    fill(team, 1);
    expect(lobby.epoch).not.toBe(team.epoch);
    expect(seqs(team.history({ limit: 10 }))).toEqual([1]);
    expect(team.history({ limit: 10 })[0]!.room).toBe('team');
  });
});

describe('SQLite storage', () => {
  it('keeps deletions and bans across a reopen, and the seq of a deleted newest message', () => {
    const path = databasePath();
    const first = new SqlStorage(openSqlite(path), 100);
    const store = first.open('lobby');
    fill(store, 3);
    store.delete(3);
    store.delete(1);
    const until = Date.now() + 60_000;
    first.bans.add('lobby', 'u_troll', until);
    first.close();
    const again = new SqlStorage(openSqlite(path), 100);
    const reopened = again.find('lobby')!;
    expect(reopened.seq).toBe(3);
    expect(seqs(reopened.history({ limit: 10 }))).toEqual([2]);
    expect(again.bans.until('lobby', 'u_troll', Date.now())).toBe(until);
    expect(again.open('lobby').append({ from: ann, text: 'four', ts: 4 }).seq).toBe(4);
    again.close();
  });

  it('gives a reopened database the same epoch, seq and history', () => {
    const path = databasePath();
    const first = new SqlStorage(openSqlite(path), 100);
    const before = first.open('lobby');
    fill(before, 3);
    first.close();
    const again = new SqlStorage(openSqlite(path), 100);
    const after = again.open('lobby');
    expect(after).toMatchObject({ epoch: before.epoch, seq: 3 });
    expect(after.history({ limit: 10 }).map((m) => m.text)).toEqual(['t1', 't2', 't3']);
    expect(after.append({ from: ann, text: 't4', ts: 4 }).id).toBe(`m_${before.epoch}_4`);
  });

  it('deletes rows past retention from disk, and keeps the seq of a room that stores nothing', () => {
    const path = databasePath();
    const storage = new SqlStorage(openSqlite(path), 10);
    fill(storage.open('lobby'), 300);
    const rows = new DatabaseSync(path).prepare(`SELECT count(*) AS n FROM room_messages`).get()!.n as number;
    expect(rows).toBeGreaterThanOrEqual(10);
    expect(rows).toBeLessThan(10 + 64);
    const silent = new SqlStorage(openSqlite(databasePath()), 0);
    const store = silent.open('lobby');
    fill(store, 4);
    expect(silent.find('lobby')).toMatchObject({ epoch: store.epoch, seq: 4 });
  });

  it('finds only rooms that were joined, and writes nothing to find out', () => {
    const path = databasePath();
    const storage = new SqlStorage(openSqlite(path), 100);
    expect(storage.find('lobby')).toBeUndefined();
    fill(storage.open('lobby'), 1);
    const size = statSync(path).size + statSync(`${path}-wal`).size;
    for (let i = 0; i < 200; i++) expect(storage.find(`nobody-${i}`)).toBeUndefined();
    expect(statSync(path).size + statSync(`${path}-wal`).size).toBe(size);
    expect(storage.find('lobby')?.seq).toBe(1);
  });

  it('reads nothing into being in a database it has never written', () => {
    const path = databasePath();
    const storage = new SqlStorage(openSqlite(path), 100);
    expect(storage.find('lobby')).toBeUndefined();
    const tables = new DatabaseSync(path).prepare(`SELECT name FROM sqlite_master`).all();
    expect(tables).toEqual([]);
  });

  it('removes a room that never had a message when it is let go, and keeps one that had', () => {
    const storage = new SqlStorage(openSqlite(databasePath()), 100);
    const quiet = storage.open('quiet');
    const busy = storage.open('busy');
    fill(busy, 1);
    storage.release(quiet);
    storage.release(busy);
    expect(storage.find('quiet')).toBeUndefined();
    expect(storage.find('busy')?.epoch).toBe(busy.epoch);
  });

  it('commits once per turn when asked to, and at once on flush', async () => {
    const path = databasePath();
    const storage = new SqlStorage(openSqlite(path, { commitPerTurn: true }), 100);
    const store = storage.open('lobby');
    storage.flush();
    const reader = new DatabaseSync(path);
    const committed = () => reader.prepare(`SELECT count(*) AS n FROM room_messages`).get()!.n;
    fill(store, 3);
    expect(committed()).toBe(0);
    storage.flush();
    expect(committed()).toBe(3);
    fill(store, 2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(committed()).toBe(5);
  });

  it('records its schema version and refuses a database from a newer version', () => {
    const path = databasePath();
    new SqlStorage(openSqlite(path), 100).prepare();
    const db = new DatabaseSync(path);
    expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get()).toEqual({
      value: String(SCHEMA_VERSION),
    });
    db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION + 1));
    db.close();
    expect(() => new SqlStorage(openSqlite(path), 100).prepare()).toThrow(SchemaError);
  });

  it('moves the history a Durable Object kept before schema version 1 into the new tables', () => {
    const path = databasePath();
    const legacy = new DatabaseSync(path);
    legacy.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE messages (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
      INSERT INTO meta VALUES ('epoch', 'oldepoch01'), ('seq', '2');`);
    for (const seq of [1, 2]) {
      const body = { type: 'message', room: 'lobby', seq, id: `m_oldepoch01_${seq}`, from: ann, text: `old ${seq}`, ts: seq };
      legacy.prepare(`INSERT INTO messages VALUES (?, ?)`).run(seq, JSON.stringify(body));
    }
    legacy.close();
    const storage = new SqlStorage(openSqlite(path), 100, 'lobby');
    const store = storage.open('lobby');
    expect(store).toMatchObject({ epoch: 'oldepoch01', seq: 2 });
    expect(store.history({ limit: 10 }).map((m) => m.text)).toEqual(['old 1', 'old 2']);
    expect(store.append({ from: ann, text: 'new', ts: 3 }).seq).toBe(3);
    const tables = new DatabaseSync(path).prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all();
    expect(tables.map((t) => t.name)).toEqual(['bans', 'meta', 'room_messages', 'rooms']);
  });
});
