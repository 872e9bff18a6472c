// The pieces behind the per-client limits, where a real client cannot reach: how addresses
// become clients, how budgets are forgotten, and a place given back by an upgrade that
// never opened. The limits themselves are tested against real servers in the conformance suite.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientKey } from '../src/core/client.ts';
import { ConnectionCounter } from '../src/core/connections.ts';
import { ClientBuckets } from '../src/core/rate-limit.ts';

describe('clientKey', () => {
  it('keeps IPv4 addresses, unwraps IPv4-mapped IPv6, and groups IPv6 by its /64', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:DB8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('2001:0db8:0000:0002::1')).toBe('2001:db8:0:2::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});

describe('ClientBuckets', () => {
  it("keeps a client's bucket while it is spent and forgets it once it has refilled", () => {
    const buckets = new ClientBuckets({ burst: 2, perSecond: 1 });
    expect(buckets.of('a', 0).take(0)).toBe(0);
    expect(buckets.of('a', 0).take(0)).toBe(0);
    expect(buckets.of('a', 0).take(0)).toBe(1000);
    // Many other clients make the map sweep: the spent one stays, full ones go.
    for (let i = 0; i < 2000; i++) buckets.of(`other-${i}`, 10);
    expect(buckets.of('a', 10).take(10)).toBeGreaterThan(0);
    expect(buckets.size).toBeLessThan(2000);
  });
});

describe('ConnectionCounter', () => {
  afterEach(() => vi.useRealTimers());

  it('caps per client and in all, and frees a place on release or when the socket never opens', () => {
    vi.useFakeTimers();
    const counter = new ConnectionCounter(2, 3);
    const first = counter.admit('a');
    const second = counter.admit('a');
    expect(counter.admit('a')).toBe('too_many_connections');
    const third = counter.admit('b');
    expect(counter.admit('c')).toBe('server_full');
    if (typeof first === 'string' || typeof second === 'string' || typeof third === 'string') throw new Error('refused');
    first.opened();
    first.release();
    first.release(); // twice is once
    expect(typeof counter.admit('a')).toBe('object');
    // `third` never opened: its place comes back after the handshake window.
    second.opened();
    expect(counter.admit('d')).toBe('server_full');
    vi.advanceTimersByTime(10_000);
    expect(typeof counter.admit('d')).toBe('object');
  });
});
