// The SqlDriver for node:sqlite, which Node (22.5 and later), Deno and Bun all provide.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { SqlDriver, SqlValue } from '../core/sql-store.ts';

export interface SqliteOptions {
  /**
   * Commit once per event-loop turn instead of once per transaction: a commit costs about
   * 30 µs, mostly in writing pages, and a busy room appends several messages a turn. Only
   * for a runtime that calls `flush` before anything it has said about them leaves the
   * process (Node uncorks its sockets once per turn, Bun holds its socket operations until
   * then), so that a crash can never lose a message someone has already received.
   */
  commitPerTurn?: boolean;
}

export function openSqlite(path: string, { commitPerTurn = false }: SqliteOptions = {}): SqlDriver & { flush(): void } {
  const db = new DatabaseSync(path);
  // WAL: readers (a backup, say) never block the writer, and a commit is one append to
  // the log. synchronous=NORMAL: a commit survives the process being killed; only an OS
  // crash or power cut can lose the last ones (see "Storage" in README.md).
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;`);
  // Statements are prepared once and reused: the same few run for every message.
  const statements = new Map<string, StatementSync>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  /** Whether this turn's transaction is open (commitPerTurn). */
  let open = false;
  const flush = () => {
    if (!open) return;
    open = false;
    prepared('COMMIT').run();
  };
  /** Runs `work` as one unit: all of its writes, or (it threw) none of them. */
  const unit = <T>(begin: string, end: string, undo: string[], work: () => T): T => {
    prepared(begin).run();
    try {
      const result = work();
      prepared(end).run();
      return result;
    } catch (error) {
      for (const statement of undo) prepared(statement).run();
      throw error;
    }
  };
  return {
    exec: (sql) => db.exec(sql),
    query: <Row extends Record<string, SqlValue>>(sql: string, ...params: SqlValue[]) => prepared(sql).all(...params) as Row[],
    transaction: (work) => {
      if (!commitPerTurn) return unit('BEGIN', 'COMMIT', ['ROLLBACK'], work);
      if (!open) {
        prepared('BEGIN').run();
        open = true;
        setImmediate(flush);
      }
      return unit('SAVEPOINT unit', 'RELEASE unit', ['ROLLBACK TO unit', 'RELEASE unit'], work);
    },
    flush,
    close: () => {
      flush();
      db.close();
    },
  };
}
