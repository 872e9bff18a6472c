// Who a request comes from, for the limits that are per client. Until identity exists that
// is the network address: the socket's, or behind a trusted proxy the one the proxy names;
// an IPv6 client by its /64, since one host is usually given a whole /64.
import type { Context } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';

export function clientOf(c: Context, trustProxy: boolean, connInfo: GetConnInfo): string {
  // The proxy appends the address it saw; anything before it is the client's own claim.
  const forwarded = trustProxy ? c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim() : undefined;
  const address = forwarded || connInfo(c).remote.address;
  return address ? clientKey(address) : 'unknown';
}

export function clientKey(address: string): string {
  const plain = address.replace(/%.*$/, '').toLowerCase(); // no zone (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  if (mapped) return mapped[1]!;
  if (!plain.includes(':')) return plain;
  const [head = '', tail] = plain.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  const groups = [...left, ...(tail === undefined ? [] : zeros), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
