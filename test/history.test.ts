import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/core/history.ts';
import type { ChatMessage } from '../src/core/protocol.ts';

function message(seq: number): ChatMessage {
  return { type: 'message', room: 'r', seq, id: `m${seq}`, from: { id: 'u', name: 'n' }, text: `t${seq}`, ts: seq };
}

function fill(store: MemoryStore, count: number) {
  for (let seq = 1; seq <= count; seq++) store.append(message(seq));
}

describe('MemoryStore', () => {
  it('keeps the last `capacity` messages in order as the ring wraps', () => {
    const store = new MemoryStore(3);
    fill(store, 7);
    expect(store.seq).toBe(7);
    expect(store.oldestSeq).toBe(5);
    expect(store.latest(10).map((m) => m.seq)).toEqual([5, 6, 7]);
    expect(store.latest(2).map((m) => m.seq)).toEqual([6, 7]);
  });

  it('returns the messages after a seq, bounded by limit', () => {
    const store = new MemoryStore(5);
    fill(store, 8);
    expect(store.after(5, 10).map((m) => m.seq)).toEqual([6, 7, 8]);
    expect(store.after(0, 10).map((m) => m.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(store.after(4, 2).map((m) => m.seq)).toEqual([5, 6]);
    expect(store.after(8, 10)).toEqual([]);
  });

  it('keeps counting with a capacity of 0', () => {
    const store = new MemoryStore(0);
    fill(store, 3);
    expect(store.seq).toBe(3);
    expect(store.oldestSeq).toBe(4);
    expect(store.latest(5)).toEqual([]);
  });

  it('starts each store with its own epoch', () => {
    expect(new MemoryStore(1).epoch).not.toBe(new MemoryStore(1).epoch);
  });
});
