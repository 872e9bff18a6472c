// Token buckets: one per connection, and one per client shared by all of its connections.
// A bucket's state is two numbers, so it can be dropped and rebuilt freely (a hibernating
// Durable Object forgets it; a full bucket is the safe restart).
import type { Rate } from './config.ts';

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  private readonly burst: number;
  private readonly perSecond: number;

  constructor(burst: number, perSecond: number, now: number) {
    this.burst = burst;
    this.perSecond = perSecond;
    this.tokens = burst;
    this.updatedAt = now;
  }

  /** Takes one token. Returns 0 when allowed, otherwise the ms until a token is available. */
  take(now: number): number {
    const wait = this.waitMs(now);
    if (wait === 0) this.tokens -= 1;
    return wait;
  }

  /** The ms until a token is available (0: one is), taking nothing. */
  waitMs(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.perSecond) / 1000);
    this.updatedAt = now;
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
  }

  /** Whether the bucket has refilled completely, so that a new one would be the same. */
  isFull(now: number): boolean {
    return this.waitMs(now) === 0 && this.tokens >= this.burst;
  }
}

/**
 * A bucket per client, kept across that client's connections and reconnects for as long
 * as it is not full: a full one is forgotten, since a new one would be the same.
 */
export class ClientBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private sweepAt = SWEEP_SIZE;

  private readonly rate: NonNullable<Rate>;

  constructor(rate: NonNullable<Rate>) {
    this.rate = rate;
  }

  get size(): number {
    return this.buckets.size;
  }

  of(client: string, now: number): TokenBucket {
    let bucket = this.buckets.get(client);
    if (!bucket) {
      if (this.buckets.size >= this.sweepAt) this.sweep(now);
      bucket = new TokenBucket(this.rate.burst, this.rate.perSecond, now);
      this.buckets.set(client, bucket);
    }
    return bucket;
  }

  /** Forgets the full buckets; the next sweep waits until the map has grown again. */
  private sweep(now: number): void {
    for (const [client, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(client);
    this.sweepAt = Math.max(SWEEP_SIZE, this.buckets.size * 2);
  }
}

const SWEEP_SIZE = 1024;
