import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientFrame, DisplayName, describeIssues, JoinQuery, RoomName } from '../src/core/protocol.ts';
import { nameProblem, roomProblem } from '../static/client.js';

describe('RoomName', () => {
  it('lower-cases, then allows 1-64 of a-z 0-9 _ - starting with a letter or digit', () => {
    expect(RoomName.parse('Lobby')).toBe('lobby');
    expect(RoomName.parse('a')).toBe('a');
    expect(RoomName.parse(`a${'-'.repeat(63)}`)).toHaveLength(64);
    for (const bad of ['', '-a', '_a', 'a b', 'ä', 'a/b', `a${'b'.repeat(64)}`]) {
      expect(RoomName.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe('DisplayName', () => {
  it('trims and counts characters, not UTF-16 units', () => {
    expect(DisplayName.parse('  ann  ')).toBe('ann');
    expect(DisplayName.parse('🙂'.repeat(32))).toBe('🙂'.repeat(32));
    expect(DisplayName.safeParse('🙂'.repeat(33)).success).toBe(false);
  });

  it('refuses bidirectional overrides and isolates, and names with nothing visible', () => {
    for (const bad of [
      '\u202Enimda',
      'a\u202Ab',
      'x\u2066y\u2069',
      '\u2067ann',
      '\u200B\u200B',
      '\u2060\uFEFF',
      '\u3164',
      ' \u200D ',
      '\u2800',
    ]) {
      expect(DisplayName.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    for (const good of ['ann\u200D', 'عائشة', 'שרה', '👩\u200D💻', 'Zoë']) {
      expect(DisplayName.safeParse(good).success, JSON.stringify(good)).toBe(true);
    }
  });

  it('refuses empty names and control characters', () => {
    for (const bad of ['', '   ', 'a\nb', 'tab\there', 'bell\u0007', 'c1\u0085']) {
      expect(DisplayName.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('JoinQuery', () => {
  it('reads since as a number and leaves optional fields out', () => {
    expect(JoinQuery.parse({ since: '42', epoch: 'abc' })).toEqual({ since: 42, epoch: 'abc' });
    expect(JoinQuery.parse({})).toEqual({});
  });

  it('refuses a since that is not a whole number >= 0', () => {
    for (const since of ['-1', '1.5', '1e3', '', 'x']) {
      expect(JoinQuery.safeParse({ since }).success, since).toBe(false);
    }
  });
});

describe('ClientFrame', () => {
  it('accepts the four client frames and ignores unknown fields', () => {
    expect(ClientFrame.parse({ type: 'message', text: 'hi', cid: 'c1', extra: 1 })).toEqual({
      type: 'message',
      text: 'hi',
      cid: 'c1',
    });
    expect(ClientFrame.parse({ type: 'typing', active: false })).toEqual({ type: 'typing', active: false });
    expect(ClientFrame.parse({ type: 'rename', name: 'x' })).toEqual({ type: 'rename', name: 'x' });
    expect(ClientFrame.parse({ type: 'ping' })).toEqual({ type: 'ping' });
  });

  it('names the field and the reason when it refuses a frame', () => {
    const cases: [unknown, string][] = [
      [{ type: 'message', text: 1 }, 'text'],
      [{ type: 'message', text: 'x', cid: '' }, 'cid'],
      [{ type: 'message', text: 'x', cid: 'c'.repeat(65) }, 'cid'],
      [{ type: 'typing' }, 'active'],
      [{ type: 'dance' }, 'type'],
      [{}, 'type'],
    ];
    for (const [frame, field] of cases) {
      const result = ClientFrame.safeParse(frame);
      expect(result.success).toBe(false);
      expect(describeIssues(result.error!)).toMatch(new RegExp(`^${field}: `));
    }
  });
});

describe("the client library's copy of the name rules", () => {
  // static/client.js checks names and rooms before it connects, without zod: it must say
  // exactly what the schemas say, or it would connect with what the server refuses.
  const samples = fc.oneof(
    fc.string({ maxLength: 70 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({
      unit: fc.constantFrom('a', 'Z', '0', '-', '_', ' ', '\t', '\u200b', '\u202e', '\u2066', '\u2800', '\u0000', 'é', '🙂', 'ß'),
      maxLength: 70,
    }),
  );

  it('refuses exactly the display names DisplayName refuses', () => {
    fc.assert(
      fc.property(samples, (name) => (nameProblem(name) === undefined) === DisplayName.safeParse(name).success),
      { seed: 11, numRuns: 5000 },
    );
  });

  it('refuses exactly the rooms RoomName refuses', () => {
    fc.assert(
      fc.property(samples, (room) => (roomProblem(room) === undefined) === RoomName.safeParse(room).success),
      { seed: 12, numRuns: 5000 },
    );
  });
});
