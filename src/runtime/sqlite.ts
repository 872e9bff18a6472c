// The SqlDriver for node:sqlite, which Node (22.5 and later), Deno and Bun all provide.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { SqlDriver, SqlValue } from '../core/sql-store.ts';

export function openSqlite(path: string): SqlDriver {
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
  return {
    exec: (sql) => db.exec(sql),
    query: <Row extends object>(sql: string, ...params: SqlValue[]) => prepared(sql).all(...params) as Row[],
    transaction: (work) => {
      db.exec('BEGIN');
      try {
        const result = work();
        db.exec('COMMIT');
        return result;
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    close: () => db.close(),
  };
}
