// Generated frames (fast-check, from a fixed seed) from one client, against a real server on
// every runtime, while a trusted member keeps posting and a bystander listens in the same
// room. Whatever arrives, the server must not crash, leak a stack trace, close anyone with
// 1011, broadcast a frame the protocol does not allow, or cost the bystander a message.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerFrame } from '../src/core/protocol.ts';
import { TestClient, type Closed, type Frame } from './support/client.ts';
import { startServer, type RunningServer, type RuntimeName } from './support/server.ts';

/** Rate limits off, so that every frame is read and judged rather than refused unread. */
const FUZZ_ENV = {
  RATE_LIMIT_PER_SEC: '0',
  CLIENT_RATE_PER_SEC: '0',
  HTTP_RATE_PER_SEC: '0',
  MAX_CONNECTIONS_PER_CLIENT: '100000',
};

const FRAMES: Record<RuntimeName, number> = { node: 3000, bun: 3000, deno: 3000, workers: 1500 };
const SEED = 20261123;

type Attack = { text: string } | { bytes: Uint8Array; binary: boolean };

/** Frames that look like the protocol's, with every field taken anywhere it can go. */
const protocolish = fc
  .record(
    {
      type: fc.constantFrom('message', 'typing', 'rename', 'ping', 'delete', 'kick', 'welcome', '', 'MESSAGE'),
      text: fc.oneof(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.string({ minLength: 1995, maxLength: 2005 }),
        fc.constantFrom('\u200B\u200D', '\u202Eevil', ' \n\t ', '<script>alert(1)</script>'),
        fc.anything(),
      ),
      cid: fc.oneof(fc.string({ maxLength: 70 }), fc.integer(), fc.constant(null)),
      active: fc.anything(),
      name: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.anything()),
      seq: fc.anything(),
      __proto__: fc.anything(),
    },
    { requiredKeys: ['type'] },
  )
  .map((frame) => JSON.stringify(frame));

const attack: fc.Arbitrary<Attack> = fc.oneof(
  protocolish.map((text) => ({ text })),
  fc.jsonValue().map((value) => ({ text: JSON.stringify(value) ?? 'null' })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ text })),
  // Raw bytes as a text frame (mostly invalid UTF-8), and as a binary frame.
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes, binary: false })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes, binary: true })),
  // Over MAX_FRAME_BYTES (16 KiB by default).
  fc.integer({ min: 16_400, max: 20_000 }).map((size) => ({ text: `{"type":"message","text":"${'x'.repeat(size)}"}` })),
);

/** Close codes a server may use on a client that sent garbage; 1011 would mean a fault. */
const CLOSES_FOR_GARBAGE = [1007, 1008, 1009, 1002, 1006, 1005];

const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

describe.each(Object.keys(FRAMES) as RuntimeName[])('generated frames against %s', (runtime) => {
  let server: RunningServer | undefined;
  afterAll(() => server?.stop());

  it('never crash it, leak a stack trace, broadcast an invalid frame or lose a bystander a message', { timeout: 180_000 }, async () => {
    server = await startServer({ runtime, env: FUZZ_ENV });
    const room = `fuzz-${Math.random().toString(36).slice(2, 8)}`;
    const url = server.wsUrl(`/ws/${room}`);
    const bystander = await TestClient.join(url);
    const trusted = await TestClient.join(url);
    let attacker = await TestClient.join(url);
    const closes: Closed[] = [];
    const refusals: Frame[] = [];
    const attacks = fc.sample(attack, { numRuns: FRAMES[runtime], seed: SEED });
    let known = 0;

    for (const [i, frame] of attacks.entries()) {
      if ('text' in frame) attacker.send(frame.text);
      else attacker.socket.send(frame.bytes, { binary: frame.binary });
      // Every few frames, and after any that may end the connection, wait until the server
      // has handled them: a frame sent after the server's close would never be read.
      if (i % 10 === 0 || !('text' in frame) || frame.text.length > 16_000) {
        const open = await Promise.race([attacker.roundTrip().then(() => true), attacker.closed.then(() => false)]);
        if (!open) {
          closes.push(await attacker.closed);
          refusals.push(...attacker.seen('error'));
          attacker = await TestClient.join(url);
        }
      }
      if (i % 50 === 0) {
        trusted.send({ type: 'message', text: `known ${known}`, cid: `known-${known}` });
        known += 1;
        // Paced by the server: every frame sent so far has been handled.
        await trusted.next((f) => f.type === 'message' && f.cid === `known-${known - 1}`);
      }
    }
    trusted.send({ type: 'message', text: 'the end', cid: 'end' });
    await bystander.next((f) => f.type === 'message' && f.cid === 'end', 60_000);
    refusals.push(...attacker.seen('error'));

    // Most frames were read and judged (an error frame each), not lost to a closed socket.
    expect(refusals.length).toBeGreaterThan(FRAMES[runtime] / 3);
    // The server is up and serving, and said nothing it should not have.
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    expect(server.output()).not.toMatch(STACK_LINE);
    expect(server.output()).not.toMatch(/uncaught/i);
    for (const { code } of closes) expect(CLOSES_FOR_GARBAGE).toContain(code);
    for (const refusal of refusals) {
      expect(refusal.type).toBe('error');
      expect(refusal.message).not.toMatch(STACK_LINE);
    }

    // Every frame the bystander got is one the protocol allows, and messages come once, in order.
    for (const frame of bystander.frames) expect(ServerFrame.safeParse(frame).success, JSON.stringify(frame)).toBe(true);
    const messages = bystander.seen('message');
    const seqs = messages.map((m) => m.seq as number);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    const knownSeen = messages.filter((m) => typeof m.cid === 'string' && m.cid.startsWith('known-')).map((m) => m.cid);
    expect(knownSeen).toEqual(Array.from({ length: known }, (_, k) => `known-${k}`));
    for (const message of messages) expect(message.text.trim()).not.toBe('');

    for (const client of [bystander, trusted, attacker]) client.socket.terminate();
  });
});
