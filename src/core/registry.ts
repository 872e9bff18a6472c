// The rooms of one process, by normalised name. A room is made when it is joined and let go
// ROOM_IDLE_TTL_MS after its last member left; its history stays with the engine (in
// memory mode it goes with the room, and a room made again later starts a new epoch, which
// tells resuming clients that its history is gone). Readers are served from what exists
// and never make a room.
import type { Config } from './config.ts';
import { logEvent } from './log.ts';
import { ClientBuckets } from './rate-limit.ts';
import { Metrics } from './metrics.ts';
import type { Engine, RoomReader } from './engine.ts';
import { Room, type Fanout, type RoomOptions } from './room.ts';

/** How a runtime hands frames to its sockets. */
export interface Transport {
  /** See RoomOptions.encode. */
  encode?: RoomOptions['encode'];
  /** Makes each room's fan-out (see Fanout), given the room's name. */
  fanout?: (room: string) => Fanout;
}

export class RoomRegistry {
  readonly metrics = new Metrics();
  private readonly rooms = new Map<string, Room>();
  private readonly idleTimers = new Map<Room, ReturnType<typeof setTimeout>>();
  /** One message budget per client across all rooms of the process. */
  private readonly clientBudgets: ClientBuckets | undefined;

  private readonly config: Config;
  private readonly engine: Engine;
  private readonly transport: Transport;

  constructor(config: Config, engine: Engine, transport: Transport = {}) {
    this.config = config;
    this.engine = engine;
    this.transport = transport;
    this.clientBudgets = config.clientRate && new ClientBuckets(config.clientRate);
  }

  get size(): number {
    return this.rooms.size;
  }

  /** See Engine.problem. */
  get problem(): string | undefined {
    return this.engine.problem;
  }

  /** The room called `name` (already normalised), for a joining member: made if need be. */
  get(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room({
        name,
        config: this.config,
        hub: this.engine.open(name),
        metrics: this.metrics,
        encode: this.transport.encode,
        fanout: this.transport.fanout?.(name),
        clientBudgets: this.clientBudgets,
        onEmpty: (empty) => this.forgetLater(empty),
      });
      this.rooms.set(name, room);
      this.forgetLater(room);
    }
    return room;
  }

  /** The room `name` as readers see it, if it exists; see Engine.reader. */
  find(name: string): RoomReader | undefined | Promise<RoomReader | undefined> {
    return this.engine.reader(name, this.rooms.get(name));
  }

  /** See Engine.bannedUntil. */
  bannedUntil(name: string, id: string): number | undefined | Promise<number | undefined> {
    return this.engine.bannedUntil(name, id);
  }

  connections(): number {
    let count = 0;
    for (const room of this.rooms.values()) count += room.size;
    return count;
  }

  renderMetrics(extra?: string): string {
    return this.metrics.render({ connections: this.connections(), rooms: this.rooms.size }, extra);
  }

  /** Closes every connection with 1001 and stops the idle timers. */
  shutdown(): void {
    for (const timer of this.idleTimers.values()) clearTimeout(timer);
    this.idleTimers.clear();
    for (const room of this.rooms.values()) room.shutdown();
  }

  private forgetLater(room: Room): void {
    clearTimeout(this.idleTimers.get(room));
    this.idleTimers.set(
      room,
      setTimeout(() => {
        this.idleTimers.delete(room);
        if (room.size === 0 && this.rooms.get(room.name) === room) {
          this.rooms.delete(room.name);
          this.engine.release(room.hub);
          logEvent('room_released', { room: room.name });
        }
      }, this.config.roomIdleTtlMs),
    );
  }
}
