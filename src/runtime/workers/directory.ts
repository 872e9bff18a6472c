// The names of the rooms that have storage, kept by one Durable Object. workerd gives every
// object it starts a database of its own, so a read that asked a room's object whether the
// room exists would itself create storage for any name; the Worker asks here first, and
// only rooms listed here ever have their object started for a reader.
import type { DurableObjectState } from '@cloudflare/workers-types/index.ts';
import type { RoomNamespace } from './room-object.ts';

type DirectoryOp = 'has' | 'add' | 'remove';

export class RoomDirectory {
  private readonly ctx: DurableObjectState;

  constructor(ctx: DurableObjectState) {
    this.ctx = ctx;
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS rooms (name TEXT PRIMARY KEY) WITHOUT ROWID`);
  }

  fetch(request: Request): Response {
    const url = new URL(request.url);
    const room = url.searchParams.get('room')!;
    const { sql } = this.ctx.storage;
    switch (url.searchParams.get('op') as DirectoryOp) {
      case 'has':
        return Response.json(sql.exec(`SELECT 1 FROM rooms WHERE name = ?`, room).toArray().length > 0);
      case 'add':
        sql.exec(`INSERT OR IGNORE INTO rooms (name) VALUES (?)`, room);
        return Response.json(true);
      case 'remove':
        sql.exec(`DELETE FROM rooms WHERE name = ?`, room);
        return Response.json(true);
    }
  }
}

/** The directory as the Worker and the rooms' objects use it. */
export function roomDirectory(namespace: RoomNamespace) {
  const call = async (op: DirectoryOp, room: string): Promise<boolean> => {
    const stub = namespace.get(namespace.idFromName('directory'));
    const url = `https://directory/?op=${op}&room=${encodeURIComponent(room)}`;
    return (await (await stub.fetch(url)).json()) as boolean;
  };
  return {
    /** Whether `room` may have members or history; false means it certainly has neither. */
    has: (room: string) => call('has', room),
    /** Called by a room's object before it first writes to its storage. */
    add: (room: string) => call('add', room),
    /** Called by a room's object once its storage is gone. */
    remove: (room: string) => call('remove', room),
  };
}

export type RoomDirectoryClient = ReturnType<typeof roomDirectory>;
