// Open WebSockets per client and in all, counted before an upgrade is let through, so that
// one client cannot take every socket of the process (or every place in a room).

/** One admitted connection's place; give it back when the socket closes. */
export interface Lease {
  /** The socket opened: from now on only `release` gives the place back. */
  opened(): void;
  release(): void;
}

/** An upgrade that has not opened by then never will (its handshake failed): its place is freed. */
const OPEN_WITHIN_MS = 10_000;

export class ConnectionCounter {
  private readonly perClient = new Map<string, number>();
  private total = 0;

  private readonly maxPerClient: number;
  private readonly maxTotal: number;

  constructor(maxPerClient: number, maxTotal: number) {
    this.maxPerClient = maxPerClient;
    this.maxTotal = maxTotal;
  }

  /** A place for one more connection of `client`, or why there is none. */
  admit(client: string): Lease | 'too_many_connections' | 'server_full' {
    if (this.total >= this.maxTotal) return 'server_full';
    const open = this.perClient.get(client) ?? 0;
    if (open >= this.maxPerClient) return 'too_many_connections';
    this.total += 1;
    this.perClient.set(client, open + 1);
    return new CountedLease(this, client);
  }

  /** Gives back one place of `client`. */
  free(client: string): void {
    this.total -= 1;
    const left = this.perClient.get(client)! - 1;
    if (left > 0) this.perClient.set(client, left);
    else this.perClient.delete(client);
  }
}

/**
 * A lease kept for as long as its socket is open: its fields, with no closures and no
 * cleared timer held, so that an idle connection costs as little as it can.
 */
class CountedLease implements Lease {
  private readonly counter: ConnectionCounter;
  private readonly client: string;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private released = false;

  constructor(counter: ConnectionCounter, client: string) {
    this.counter = counter;
    this.client = client;
    this.timer = setTimeout(() => this.release(), OPEN_WITHIN_MS);
  }

  opened(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.opened();
    this.counter.free(this.client);
  }
}
