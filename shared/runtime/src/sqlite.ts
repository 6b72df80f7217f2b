// Every service's own state lives in SQLite, opened the same way: WAL (readers don't block the one
// writer) and synchronous=NORMAL (a kill -9 loses nothing committed; a power loss can lose the last
// transactions, which the service then re-derives from the streams it replays, by design).
import Database from "better-sqlite3";

export type StateDb = Database.Database;

export function openStateDb(path: string, schema: string): StateDb {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(schema);
  return db;
}
