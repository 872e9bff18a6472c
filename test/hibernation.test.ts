// A room's Durable Object hibernates when idle and is rebuilt on the next event; it is also
// lost whole when the runtime restarts. Members must come back from their sockets'
// attachments, and seq, history and epoch from the object's SQLite storage.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Frame } from './support/client.ts';
import { startServer, type RunningServer } from './support/server.ts';

/**
 * workerd evicts a Durable Object after 10 s without an event (workerd#1138); with only
 * hibernatable sockets open, that is hibernation. Nothing is printed at that moment, so the
 * tests wait this long without touching the room, then prove from the `room_restored` log
 * line that the next event found the object rebuilt.
 */
const IDLE_EVICTION_MS = 10_000;
const MARGIN_MS = 2_000;

let storage: string;
let server: RunningServer;
const clients: TestClient[] = [];

function start(): Promise<RunningServer> {
  return startServer({ runtime: 'workers', env: { DATA_DIR: storage } });
}

beforeAll(async () => {
  storage = await mkdtemp(join(tmpdir(), 'edgechat-hibernation-'));
  server = await start();
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.socket.terminate();
  await server?.stop();
});

async function joinRoom(room: string, query = ''): Promise<TestClient> {
  const client = await TestClient.join(server.wsUrl(`/ws/${room}${query && `?${query}`}`));
  clients.push(client);
  return client;
}

async function post(client: TestClient, text: string): Promise<Frame> {
  const cid = `c${Math.random().toString(36).slice(2)}`;
  client.send({ type: 'message', text, cid });
  return client.next((frame) => frame.type === 'message' && frame.cid === cid);
}

/** Leaves the room without events until its object has been evicted. */
function hibernation(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, IDLE_EVICTION_MS + MARGIN_MS));
}

/** Pings (`{"type":"ping"}`, answered by the runtime) every second until `done` settles. */
async function keepPinging(client: TestClient, done: Promise<void>): Promise<void> {
  let settled = false;
  void done.then(() => (settled = true));
  while (!settled) {
    await client.roundTrip();
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 1_000))]);
  }
}

/** Resolves once the room's object has been rebuilt around `members` open sockets. */
function restored(room: string, members: number): Promise<void> {
  return server.waitForOutput((output) => output.includes(`"event":"room_restored","room":"${room}","members":${members}}`));
}

function uniqueRoom(): string {
  return `h-${Math.random().toString(36).slice(2, 10)}`;
}

describe('a room on Workers', { timeout: 90_000 }, () => {
  it('wakes from hibernation with its members, seq and history', async () => {
    const room = uniqueRoom();
    const ann = await joinRoom(room, 'name=ann');
    const bob = await joinRoom(room, 'name=bob');
    const cat = await joinRoom(room, 'name=cat');
    ann.send({ type: 'rename', name: 'ann2' });
    await bob.next((frame) => frame.type === 'presence' && frame.event === 'rename');
    await post(ann, 'one');
    await post(cat, 'two');
    const members = [{ id: ann.welcome.you.id, name: 'ann2' }, bob.welcome.you, cat.welcome.you];

    // Pings answered by the runtime neither keep the object awake nor wake it.
    const idle = hibernation();
    await keepPinging(ann, idle);
    expect(server.output()).not.toContain(`"event":"room_restored","room":"${room}"`);
    const woken = restored(room, 3);
    const three = await post(bob, 'three');
    await woken;

    expect(three).toMatchObject({ seq: 3, from: bob.welcome.you, text: 'three' });
    for (const client of [ann, cat]) expect(await client.next((f) => f.type === 'message' && f.seq === 3)).toEqual(three);
    expect((await post(ann, 'four')).from).toEqual(members[0]);
    const info = await (await fetch(`${server.baseUrl}/api/rooms/${room}`)).json();
    expect(info).toEqual({ room, count: 3, members, seq: 4, epoch: ann.welcome.epoch });
    const dan = await joinRoom(room, 'name=dan');
    expect(dan.welcome.members).toEqual([...members, dan.welcome.you]);
    expect(dan.welcome.history.map((m: Frame) => [m.seq, m.text])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
      [4, 'four'],
    ]);
  });

  it('announces a member who leaves while the room hibernates', async () => {
    const room = uniqueRoom();
    const ann = await joinRoom(room, 'name=ann');
    const bob = await joinRoom(room, 'name=bob');
    await ann.next('presence');

    await hibernation();
    const woken = restored(room, 2);
    await bob.close();
    await woken;

    expect(await ann.next('presence')).toEqual({ type: 'presence', event: 'leave', member: bob.welcome.you, count: 1 });
    expect((await post(ann, 'alone')).seq).toBe(1);
  });

  it('keeps epoch, seq and history across a restart on the same storage', async () => {
    const room = uniqueRoom();
    const ann = await joinRoom(room, 'name=ann');
    for (const text of ['one', 'two', 'three']) await post(ann, text);
    const { epoch } = ann.welcome;

    await server.stop();
    await ann.closed;
    server = await start();

    const back = await joinRoom(room, `since=1&epoch=${epoch}`);
    expect(back.welcome).toMatchObject({ epoch, seq: 3, recovered: true, members: [back.welcome.you] });
    expect(back.welcome.history.map((m: Frame) => m.text)).toEqual(['two', 'three']);
    expect((await post(back, 'four')).seq).toBe(4);
  });
});
