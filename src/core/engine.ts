// Where the rooms of a process keep what they share: an Engine opens each room's hub. The
// local engine keeps it in this process (Storage: memory or SQLite); the Redis engine
// (redis-engine.ts) in Redis, for any number of instances.
import { LocalHub, pageOf, type RoomHub } from './hub.ts';
import type { RoomInfo, RoomMessages } from './protocol.ts';
import type { Room } from './room.ts';
import type { HistoryQuery, Storage } from './store.ts';

/** What the HTTP API reads of a room. */
export interface RoomReader {
  info(): RoomInfo | Promise<RoomInfo>;
  messages(query: HistoryQuery): RoomMessages | Promise<RoomMessages>;
}

export interface Engine {
  /** The hub of a room that is being joined. */
  open(room: string): RoomHub;
  /**
   * The room as readers see it (`held`: the Room this instance holds, if any); nothing
   * when it has neither members nor stored messages (the API's 404 no_room). Creates
   * nothing.
   */
  reader(room: string, held: Room | undefined): RoomReader | undefined | Promise<RoomReader | undefined>;
  /** The room has no members here any more and is let go from memory. */
  release(hub: RoomHub): void;
  /** When member `id`'s ban from `room` ends, if it is banned now. */
  bannedUntil(room: string, id: string): number | undefined | Promise<number | undefined>;
  /** Why rooms cannot work right now (their storage is unreachable), or undefined. */
  readonly problem: string | undefined;
  /** Makes every append so far durable, before the frames that announce it leave. */
  flush(): void;
  close(): void | Promise<void>;
}

/** Rooms in this process, over its Storage. */
export class LocalEngine implements Engine {
  readonly problem = undefined;

  private readonly storage: Storage;

  constructor(storage: Storage) {
    this.storage = storage;
  }

  open(room: string): LocalHub {
    return new LocalHub(this.storage.open(room), this.storage.bans);
  }

  bannedUntil(room: string, id: string): number | undefined {
    return this.storage.bans.until(room, id, Date.now());
  }

  reader(room: string, held: Room | undefined): RoomReader | undefined {
    // A room held here is read from its hub: its members are only there.
    if (held) return held.hub instanceof LocalHub && held.hub.exists ? held.hub : undefined;
    const stored = this.storage.find(room);
    if (!stored || stored.seq === 0) return undefined;
    return {
      info: () => ({ room, count: 0, members: [], seq: stored.seq, epoch: stored.epoch }),
      messages: (query) => pageOf(stored, query),
    };
  }

  release(hub: RoomHub): void {
    if (hub instanceof LocalHub) this.storage.release(hub.store);
  }

  flush(): void {
    this.storage.flush();
  }

  close(): void {
    this.storage.close();
  }
}
