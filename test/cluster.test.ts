// Several instances of edgechat, one on each of Node, Deno and Bun, sharing one real
// redis-server (STORAGE=redis): one room behaves as one room wherever its members are
// connected, and what Redis goes through (a crash, a flush, an outage) ends in a resume,
// never in a silent gap. The tests that stop or empty Redis come last.
import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Frame } from './support/client.ts';
import { startRedis, type RunningRedis } from './support/redis.ts';
import { startServer, type RunningServer, type RuntimeName } from './support/server.ts';

const HISTORY_LIMIT = 50;
const PRESENCE_TTL_MS = 3000;
/** Rooms are open to guests (PUBLIC_ROOMS=*), and tokens are honoured where given. */
const AUTH_SECRET = 'cluster secret';
const ENV = {
  STORAGE: 'redis',
  AUTH_SECRET,
  PUBLIC_ROOMS: '*',
  HISTORY_LIMIT: String(HISTORY_LIMIT),
  PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
  RATE_LIMIT_PER_SEC: '0',
  CLIENT_RATE_PER_SEC: '0',
  HTTP_RATE_PER_SEC: '0',
  MAX_CONNECTIONS_PER_CLIENT: '100000',
  API_KEY: 'cluster backend key, long enough',
};
const RUNTIMES: RuntimeName[] = ['node', 'deno', 'bun'];
let AUTH_TOKEN = '';

let roomCounter = 0;
const uniqueRoom = () => `c${++roomCounter}-${Math.random().toString(36).slice(2, 8)}`;

describe('a cluster of Node, Deno and Bun on one Redis', { timeout: 90_000 }, () => {
  let redis: RunningRedis;
  let instances: RunningServer[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    // Every write is on disk before Redis answers, so that a Redis crash loses nothing.
    redis = await startRedis({ appendonly: true });
    AUTH_TOKEN = await sign({ sub: 'ann', name: 'Ann', exp: Math.floor(Date.now() / 1000) + 600 }, AUTH_SECRET, 'HS256');
    instances = await Promise.all(RUNTIMES.map((runtime) => startServer({ runtime, env: { ...ENV, REDIS_URL: redis.url } })));
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) client.socket.terminate();
    await Promise.all(instances?.map((instance) => instance.stop()) ?? []);
    await redis?.dispose();
  });

  async function join(on: RunningServer, room: string, query = ''): Promise<TestClient> {
    const client = await TestClient.join(on.wsUrl(`/ws/${room}${query ? `?${query}` : ''}`));
    clients.push(client);
    return client;
  }

  const messages = (client: TestClient) => client.seen('message');
  const seqs = (frames: Frame[]) => frames.map((frame) => frame.seq);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  async function until(condition: () => boolean | Promise<boolean>, waitMs = 10_000): Promise<void> {
    for (const deadline = Date.now() + waitMs; !(await condition()); ) {
      if (Date.now() > deadline) expect.fail(`not within ${waitMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('delivers every message to every member on every instance exactly once, in seq order', async () => {
    const room = uniqueRoom();
    const members: TestClient[] = [];
    for (const instance of instances) members.push(await join(instance, room), await join(instance, room));
    const perSender = 40;
    for (const [index, member] of members.entries()) {
      for (let i = 0; i < perSender; i++) member.send({ type: 'message', text: `${index}:${i}` });
    }
    const total = members.length * perSender;
    await until(() => members.every((member) => messages(member).length >= total));
    const order = messages(members[0]!).map((frame) => frame.id);
    for (const member of members) {
      expect(seqs(messages(member))).toEqual(range(1, total));
      expect(messages(member).map((frame) => frame.id)).toEqual(order);
    }
    // Each sender's own messages stay in the order it sent them.
    for (const index of members.keys()) {
      const own = messages(members[0]!).filter((frame) => frame.text.startsWith(`${index}:`));
      expect(own.map((frame) => frame.text)).toEqual(range(0, perSender - 1).map((i) => `${index}:${i}`));
    }
  });

  it('shares one member list, presence, renames and typing across instances', async () => {
    const room = uniqueRoom();
    const [node, deno, bun] = instances as [RunningServer, RunningServer, RunningServer];
    const ann = await join(node, room, 'name=ann');
    const bob = await join(deno, room, 'name=bob');
    expect(bob.welcome.members.map((m: Frame) => m.name).sort()).toEqual(['ann', 'bob']);
    expect(await ann.next('presence')).toMatchObject({ event: 'join', member: { name: 'bob' }, count: 2 });
    const cat = await join(bun, room, 'name=cat');
    expect(cat.welcome.members).toHaveLength(3);
    cat.send({ type: 'rename', name: 'kat' });
    for (const other of [ann, bob]) {
      await other.next((f) => f.type === 'presence' && f.event === 'join' && f.member.name === 'cat');
      expect(await other.next('presence')).toMatchObject({ event: 'rename', member: { id: cat.welcome.you.id, name: 'kat' } });
    }
    bob.send({ type: 'typing', active: true });
    expect(await cat.next('typing')).toMatchObject({ from: { name: 'bob' }, active: true });
    expect(await ann.next('typing')).toMatchObject({ from: { name: 'bob' } });
    for (const instance of instances) {
      const info = await (await fetch(`${instance.baseUrl}/api/rooms/${room}`)).json();
      expect(info.count).toBe(3);
      expect(info.members.map((m: Frame) => m.name).sort()).toEqual(['ann', 'bob', 'kat']);
    }
    await bob.close();
    for (const other of [ann, cat]) {
      expect(await other.next((f) => f.type === 'presence' && f.event === 'leave')).toMatchObject({ member: { name: 'bob' }, count: 2 });
    }
  });

  it('makes one member of a token connected on two instances: one join, one leave after the last', async () => {
    const room = uniqueRoom();
    const watcher = await join(instances[0]!, room, 'name=watcher');
    const url = (on: RunningServer) => on.wsUrl(`/ws/${room}?token=${AUTH_TOKEN}`);
    const first = await TestClient.join(url(instances[1]!));
    const second = await TestClient.join(url(instances[2]!));
    expect(second.welcome.you).toEqual(first.welcome.you);
    expect(await watcher.next('presence')).toMatchObject({ event: 'join', member: first.welcome.you, count: 2 });
    expect((await (await fetch(`${instances[0]!.baseUrl}/api/rooms/${room}`)).json()).count).toBe(2);
    await first.close();
    second.send({ type: 'message', text: 'one tab left', cid: 'left' });
    expect((await watcher.next('message')).text).toBe('one tab left');
    expect(watcher.seen('presence')).toHaveLength(1);
    await second.close();
    expect(await watcher.next('presence')).toMatchObject({ event: 'leave', member: first.welcome.you, count: 1 });
  });

  it('moderates across instances: a delete and a kick reach every instance, and a ban holds on all of them', async () => {
    const room = uniqueRoom();
    const mint = (claims: object) => sign({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }, AUTH_SECRET, 'HS256');
    const mod = await join(instances[0]!, room, `token=${await mint({ sub: 'mia', name: 'Mia', role: 'moderator' })}`);
    const troll = await mint({ sub: 'troll', name: 'Troll' });
    const tabs = [await join(instances[1]!, room, `token=${troll}`), await join(instances[2]!, room, `token=${troll}`)];
    tabs[0]!.send({ type: 'message', text: 'spam', cid: 'spam' });
    const spam = await mod.next('message');
    // The backend publishes through yet another instance.
    const published = await fetch(`${instances[2]!.baseUrl}/api/rooms/${room}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ENV.API_KEY}` },
      body: JSON.stringify({ text: 'posted by the backend' }),
    });
    expect(published.status).toBe(201);
    expect((await mod.next('message')).text).toBe('posted by the backend');
    mod.send({ type: 'delete', seq: spam.seq });
    for (const client of [mod, ...tabs]) expect(await client.next('deleted')).toMatchObject({ seq: spam.seq, by: { name: 'Mia' } });
    const page = await (await fetch(`${instances[1]!.baseUrl}/api/rooms/${room}/messages`)).json();
    expect(page.messages.map((message: Frame) => message.text)).toEqual(['posted by the backend']);
    mod.send({ type: 'kick', member: tabs[0]!.welcome.you.id, banSeconds: 60 });
    for (const tab of tabs) expect(await tab.closed).toEqual({ code: 1008, reason: 'kicked' });
    const left = await mod.next((frame) => frame.type === 'presence' && frame.event === 'leave');
    expect(left).toMatchObject({ member: { name: 'Troll' }, count: 1 });
    for (const instance of instances) {
      const refused = await TestClient.refused(instance.wsUrl(`/ws/${room}?token=${troll}`));
      expect(refused).toMatchObject({ status: 403, body: { error: { code: 'banned' } } });
    }
  });

  it('has no gap and no duplicate for members joining and resuming while messages flow', async () => {
    const room = uniqueRoom();
    const sender = await join(instances[0]!, room, 'name=sender');
    const total = 400;
    let sent = 0;
    // Messages keep coming from one instance while the others welcome newcomers.
    const flow = (async () => {
      for (; sent < total; sent++) {
        sender.send({ type: 'message', text: `m${sent}` });
        if (sent % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const joiners: { client: TestClient; since: number | undefined }[] = [];
    for (let i = 0; i < 30; i++) {
      const instance = instances[1 + (i % 2)]!;
      const last = messages(sender).at(-1)?.seq;
      const resume = i % 2 === 0 && last !== undefined;
      const since = resume ? Math.max(0, last - 5) : undefined;
      const query = resume ? `since=${since}&epoch=${sender.welcome.epoch}` : '';
      joiners.push({ client: await join(instance, room, query), since });
    }
    await flow;
    await until(() => joiners.every(({ client }) => (messages(client).at(-1)?.seq ?? client.welcome.seq) >= total));
    for (const { client, since } of joiners) {
      const { welcome } = client;
      const history = seqs(welcome.history);
      const live = seqs(messages(client));
      if (since !== undefined && welcome.seq - since <= HISTORY_LIMIT) {
        expect(welcome.recovered).toBe(true);
        expect(history).toEqual(range(since + 1, welcome.seq));
      } else {
        // Fresh, or more missed than a resume makes up for (told so: recovered false).
        expect(welcome.recovered).toBe(since === undefined ? undefined : false);
        expect(history).toEqual(range(Math.max(1, welcome.seq - HISTORY_LIMIT + 1), welcome.seq));
      }
      expect(live).toEqual(range(welcome.seq + 1, total));
    }
  });

  it('announces the members of an instance that dies to the others within PRESENCE_TTL_MS, and its clients resume elsewhere', async () => {
    const doomed = await startServer({ runtime: 'node', env: { ...ENV, REDIS_URL: redis.url } });
    const room = uniqueRoom();
    const ann = await join(instances[1]!, room, 'name=ann');
    const carl = await TestClient.join(doomed.wsUrl(`/ws/${room}?name=carl`));
    await ann.next((f) => f.type === 'presence' && f.event === 'join');
    ann.send({ type: 'message', text: 'seen by carl', cid: 'a' });
    const seen = await carl.next('message');
    await doomed.stop('SIGKILL');
    const killedAt = Date.now();
    expect((await carl.closed).code).toBe(1006);
    ann.send({ type: 'message', text: 'missed by carl', cid: 'b' });
    const leave = await ann.next((f) => f.type === 'presence' && f.event === 'leave', PRESENCE_TTL_MS + 2000);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(PRESENCE_TTL_MS + 500);
    expect(leave).toMatchObject({ member: { name: 'carl' }, count: 1 });
    const back = await join(instances[2]!, room, `name=carl&since=${seen.seq}&epoch=${carl.welcome.epoch}`);
    expect(back.welcome).toMatchObject({ recovered: true, epoch: carl.welcome.epoch });
    expect(back.welcome.history.map((m: Frame) => m.text)).toEqual(['missed by carl']);
    expect(back.welcome.members.map((m: Frame) => m.name).sort()).toEqual(['ann', 'carl']);
  });

  it('keeps epoch and history when Redis crashes and restarts (AOF): members resume with recovered true', async () => {
    const room = uniqueRoom();
    const ann = await join(instances[0]!, room);
    const bob = await join(instances[2]!, room);
    const before = [];
    for (const text of ['one', 'two']) {
      ann.send({ type: 'message', text, cid: text });
      before.push(await bob.next((f) => f.type === 'message' && f.cid === text));
    }
    await redis.kill();
    await redis.restart();
    // The instances lost their subscriptions: their members are sent to resume.
    for (const client of [ann, bob]) expect((await client.closed).code).toBe(1012);
    await until(async () => (await fetch(`${instances[1]!.baseUrl}/healthz`)).ok);
    const back = await join(instances[1]!, room, `since=0&epoch=${ann.welcome.epoch}`);
    expect(back.welcome).toMatchObject({ epoch: ann.welcome.epoch, seq: 2, recovered: true, history: before });
    back.send({ type: 'message', text: 'three', cid: 'three' });
    expect((await back.next('message')).seq).toBe(3);
  });

  it('starts a new epoch when Redis loses the room: members are closed with 1012 and resume with recovered false', async () => {
    const room = uniqueRoom();
    const ann = await join(instances[2]!, room);
    ann.send({ type: 'message', text: 'about to be lost', cid: 'x' });
    const lost = await ann.next('message');
    await redis.flushAll();
    expect(await ann.closed).toMatchObject({ code: 1012 });
    const back = await join(instances[0]!, room, `since=${lost.seq}&epoch=${ann.welcome.epoch}`);
    expect(back.welcome.epoch).not.toBe(ann.welcome.epoch);
    expect(back.welcome).toMatchObject({ recovered: false, seq: 0, history: [] });
  });

  it('takes a Redis that hangs for one that is down, and recovers when it answers again', async () => {
    const room = uniqueRoom();
    const ann = await join(instances[1]!, room);
    redis.pause();
    try {
      for (const instance of instances) {
        await until(async () => (await fetch(`${instance.baseUrl}/healthz`)).status === 503, 15_000);
      }
    } finally {
      redis.resume();
    }
    for (const instance of instances) await until(async () => (await fetch(`${instance.baseUrl}/healthz`)).ok);
    // Events of the silent time may have passed its instance by: it resumes.
    expect((await ann.closed).code).toBe(1012);
    const back = await join(instances[2]!, room, `since=0&epoch=${ann.welcome.epoch}`);
    back.send({ type: 'message', text: 'answering again', cid: 'again' });
    expect(await back.next('message')).toMatchObject({ text: 'answering again', seq: 1 });
  });

  it('never stores a message it answered unavailable, though the hanging Redis runs it on waking', async () => {
    const room = uniqueRoom();
    const ann = await join(instances[0]!, room);
    redis.pause();
    try {
      // The instance has sent the append to Redis, where it waits unread.
      ann.send({ type: 'message', text: 'sent into the hang', cid: 'hung' });
      expect(await ann.next('error')).toMatchObject({ code: 'unavailable', cid: 'hung' });
    } finally {
      redis.resume();
    }
    await until(async () => (await fetch(`${instances[0]!.baseUrl}/healthz`)).ok);
    // Through the same instance's connection to Redis, so after the append that waited.
    const after = await fetch(`${instances[0]!.baseUrl}/api/rooms/${room}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ENV.API_KEY}` },
      body: JSON.stringify({ text: 'after the hang' }),
    });
    expect(await after.json()).toMatchObject({ text: 'after the hang', seq: 1 });
    const page = await (await fetch(`${instances[2]!.baseUrl}/api/rooms/${room}/messages`)).json();
    // Stored, the message it was told failed would hold seq 1, and members would have it.
    expect(page.messages.map((message: Frame) => message.text)).toEqual(['after the hang']);
  });

  it('stays up while Redis is down: 503 degraded and unavailable, open connections kept; recovers by itself', async () => {
    const room = uniqueRoom();
    const ann = await join(instances[0]!, room);
    await redis.stop();
    for (const instance of instances) {
      await until(async () => (await fetch(`${instance.baseUrl}/healthz`)).status === 503);
      const health = await fetch(`${instance.baseUrl}/healthz`);
      expect(await health.json()).toMatchObject({ status: 'degraded', reason: expect.any(String) });
      const refused = await TestClient.refused(instance.wsUrl(`/ws/${room}`));
      expect(refused).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    }
    ann.send({ type: 'message', text: 'while Redis is down', cid: 'down' });
    expect(await ann.next('error')).toMatchObject({ code: 'unavailable', cid: 'down', retryAfterMs: expect.any(Number) });
    expect(ann.socket.readyState).toBe(ann.socket.OPEN);

    await redis.restart();
    for (const instance of instances) await until(async () => (await fetch(`${instance.baseUrl}/healthz`)).ok);
    expect((await ann.closed).code).toBe(1012);
    const back = await join(instances[1]!, room, `since=0&epoch=${ann.welcome.epoch}`);
    back.send({ type: 'message', text: 'Redis is back', cid: 'up' });
    expect(await back.next('message')).toMatchObject({ text: 'Redis is back', seq: 1 });
    for (const instance of instances) expect(instance.output()).not.toMatch(/at .*\(.*:\d+:\d+\)/);
  });
});

describe('rooms left alone in Redis', { timeout: 60_000 }, () => {
  const ROOM_TTL_MS = 1500;
  const SHORT_PRESENCE_TTL_MS = 1000;
  let redis: RunningRedis;
  let server: RunningServer;

  beforeAll(async () => {
    redis = await startRedis();
    // Heartbeats every PRESENCE_TTL_MS/3: several renewals within one REDIS_ROOM_TTL_MS. The
    // instance lets go of an empty room after ROOM_IDLE_TTL_MS, and the clock starts then.
    const env = {
      ...ENV,
      PRESENCE_TTL_MS: String(SHORT_PRESENCE_TTL_MS),
      ROOM_IDLE_TTL_MS: '100',
      REDIS_ROOM_TTL_MS: String(ROOM_TTL_MS),
      REDIS_URL: redis.url,
    };
    server = await startServer({ env });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await redis?.dispose();
  });

  it('keeps a room while a member is in it, and removes it from Redis REDIS_ROOM_TTL_MS after everyone left', async () => {
    const room = uniqueRoom();
    const ann = await TestClient.join(server.wsUrl(`/ws/${room}`));
    ann.send({ type: 'message', text: 'kept while Ann is here', cid: 'kept' });
    const kept = await ann.next('message');
    // Over twice the room's time to live, with nothing posted: Ann's presence alone renews it.
    await new Promise((resolve) => setTimeout(resolve, 2 * ROOM_TTL_MS + 100));
    const page = await (await fetch(`${server.baseUrl}/api/rooms/${room}/messages`)).json();
    expect(page).toMatchObject({ epoch: ann.welcome.epoch, messages: [kept] });

    ann.socket.close();
    await ann.closed;
    const left = Date.now();
    for (const deadline = left + 10_000; (await redis.keyCount()) > 0; ) {
      if (Date.now() > deadline) expect.fail('the room stayed in Redis');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Not at once: a room with messages outlives its members, until its time to live runs out
    // from the last heartbeat (one of which may have come up to PRESENCE_TTL_MS/3 before Ann left).
    expect(Date.now() - left).toBeGreaterThanOrEqual(ROOM_TTL_MS - SHORT_PRESENCE_TTL_MS / 3 - 50);
    expect((await fetch(`${server.baseUrl}/api/rooms/${room}`)).status).toBe(404);
    const back = await TestClient.join(server.wsUrl(`/ws/${room}?since=${kept.seq}&epoch=${ann.welcome.epoch}`));
    expect(back.welcome).toMatchObject({ recovered: false, seq: 0, history: [] });
    expect(back.welcome.epoch).not.toBe(ann.welcome.epoch);
    back.socket.terminate();
  });
});
