// The client library (static/client.js) against real servers on every runtime, and across
// a Redis cluster behind a stand-in load balancer: what it promises an app is that nothing
// is lost or sent twice, whatever the connection goes through.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sign } from 'hono/jwt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, type ClientOptions, nameProblem, type RequestError, roomProblem, type Status } from '../static/client.js';
import { TestClient } from './support/client.ts';
import { startRedis, type RunningRedis } from './support/redis.ts';
import { freePort, startServer, type RunningServer, type RuntimeName } from './support/server.ts';

const RUNTIMES: RuntimeName[] = ['node', 'deno', 'bun', 'workers'];
const root = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);
const SECRET = 'client test secret';
/** A small budget, so that a burst runs into it: 5 at once, then 20 a second. */
const ENV = {
  AUTH_SECRET: SECRET,
  PUBLIC_ROOMS: 'open-*',
  RATE_LIMIT_BURST: '5',
  RATE_LIMIT_PER_SEC: '20',
  CLIENT_RATE_BURST: '5',
  CLIENT_RATE_PER_SEC: '20',
  HTTP_RATE_PER_SEC: '0',
};
const WAIT_MS = 20_000;

let roomCounter = 0;
const uniqueRoom = () => `open-${++roomCounter}-${Math.random().toString(36).slice(2, 8)}`;

const clients: ChatClient[] = [];
function connect(options: ClientOptions): ChatClient {
  const client = new ChatClient({ backoff: { initialMs: 100, maxMs: 1000 }, ...options });
  clients.push(client);
  return client;
}
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

/** Resolves with the first status the client reaches that matches. */
function reaches(client: ChatClient, state: Status['state']): Promise<Status> {
  if (client.status.state === state) return Promise.resolve(client.status);
  return within(
    new Promise((resolve) => {
      const stop = client.on('status', (status) => {
        if (status.state !== state) return;
        stop();
        resolve(status);
      });
    }),
    `status ${state}`,
  );
}

/** Every message text a client hears, in order. */
function heard(client: ChatClient): string[] {
  const texts: string[] = [];
  client.on('message', (message) => texts.push(message.text));
  return texts;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + WAIT_MS; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`not within ${WAIT_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${WAIT_MS} ms: ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const texts = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix} ${i}`);

for (const runtime of RUNTIMES)
  describe(`the client on ${runtime}`, { timeout: 90_000 }, () => {
    let server: RunningServer;
    const dataDir = mkdtempSync(join(tmpdir(), `edgechat-client-${runtime}-`));
    const restart = async () => {
      const { port } = server;
      await server.stop();
      server = await startServer({ runtime, port, env: { ...ENV, STORAGE: 'sqlite', DATA_DIR: dataDir } });
    };
    /** Ann and Bob in a room of their own, both welcomed; what Bob hears is collected. */
    const annAndBob = async () => {
      const room = uniqueRoom();
      const ann = connect({ url: server.baseUrl, room, name: 'ann' });
      const bob = connect({ url: server.baseUrl, room, name: 'bob' });
      const bobHeard = heard(bob);
      await Promise.all([reaches(ann, 'open'), reaches(bob, 'open')]);
      return { room, ann, bob, bobHeard };
    };

    beforeAll(async () => {
      server = await startServer({ runtime, env: { ...ENV, STORAGE: 'sqlite', DATA_DIR: dataDir } });
    });
    afterAll(() => server?.stop());

    it('sends, is answered with the stored message, and hears the others', async () => {
      const { room, ann, bobHeard } = await annAndBob();
      const stored = await ann.send('hello, bob');
      expect(stored).toMatchObject({ type: 'message', room, text: 'hello, bob', from: ann.me });
      await until(() => bobHeard.length === 1, 'bob hears it');
      expect(bobHeard).toEqual(['hello, bob']);
      expect([...ann.members.values()].map((member) => member.name).sort()).toEqual(['ann', 'bob']);
    });

    it('delivers a burst over the rate limit whole: every message once and in order, none refused', async () => {
      const { ann, bobHeard } = await annAndBob();
      const burst = texts('burst', 40);
      const stored = await within(Promise.all(burst.map((text) => ann.send(text))), 'the burst is stored');
      expect(stored.map((message) => message.text)).toEqual(burst);
      expect(stored.map((message) => message.seq)).toEqual(stored.map((_, i) => stored[0]!.seq + i));
      await until(() => bobHeard.length === burst.length, 'bob hears the burst');
      expect(bobHeard).toEqual(burst);
    });

    it('keeps what is sent while the server restarts, and resumes without a reset', async () => {
      const { ann, bob, bobHeard } = await annAndBob();
      const resets: unknown[] = [];
      bob.on('reset', (welcome) => resets.push(welcome));
      await ann.send('before');
      const down = reaches(ann, 'reconnecting');
      const stopping = server.stop();
      await down;
      // Queued while there is no server at all.
      const queued = texts('while down', 5).map((text) => ann.send(text));
      await stopping;
      await restart();
      await within(Promise.all(queued), 'the queued messages are stored');
      await until(() => bobHeard.length === 6, 'bob hears all of them');
      expect(bobHeard).toEqual(['before', ...texts('while down', 5)]);
      expect(resets).toEqual([]);
      expect(ann.me?.name).toBe('ann');
    });

    it('stores a message exactly once when the server dies before answering it', async () => {
      const { ann, bobHeard } = await annAndBob();
      // Sent, and the server killed at once: it may or may not have stored it.
      const sent = ann.send('in flight');
      await server.stop('SIGKILL');
      await restart();
      await within(sent, 'the message is answered');
      await ann.send('after');
      await until(() => bobHeard.includes('after'), 'bob hears the next one');
      expect(bobHeard.filter((text) => text === 'in flight')).toEqual(['in flight']);
    });

    it('keeps a guest under the name it was given across reconnects', async () => {
      const room = uniqueRoom();
      const guest = connect({ url: server.baseUrl, room });
      await reaches(guest, 'open');
      const name = guest.me?.name;
      expect(name).toMatch(/^guest-/);
      await restart();
      await until(() => guest.status.state === 'open' && guest.me?.name === name, 'the guest is back under its name');
    });

    it('fetches a fresh token when the old one expires, and resumes where it was', async () => {
      const room = 'team-tokens';
      let minted = 0;
      const token = async () => {
        minted += 1;
        return sign({ sub: 'kim', name: 'Kim', exp: Math.floor(Date.now() / 1000) + 3 }, SECRET, 'HS256');
      };
      const kim = connect({ url: server.baseUrl, room, token });
      const statuses: string[] = [];
      kim.on('status', (status) => statuses.push(status.state));
      const resets: unknown[] = [];
      kim.on('reset', (welcome) => resets.push(welcome));
      await reaches(kim, 'open');
      await kim.send('first token');
      await until(() => minted >= 2 && kim.status.state === 'open', 'reconnected with a new token');
      expect((await kim.send('second token')).from.name).toBe('Kim');
      expect(statuses).not.toContain('closed');
      expect(resets).toEqual([]);
    });

    it('stops for good when the server refuses its token, and says why', async () => {
      const refused = connect({ url: server.baseUrl, room: 'team-private' });
      const closed = await reaches(refused, 'closed');
      expect(closed).toMatchObject({ reason: 'bad_token' });
    });

    it('pages older history over HTTP with loadOlder', async () => {
      const room = uniqueRoom();
      const ann = connect({ url: server.baseUrl, room, name: 'ann' });
      await reaches(ann, 'open');
      for (const text of texts('old', 12)) await ann.send(text);
      const reader = connect({ url: server.baseUrl, room, name: 'reader' });
      const readerHeard = heard(reader);
      await reaches(reader, 'open');
      expect(readerHeard).toHaveLength(12);
      // HISTORY_LIMIT is 100 here: the welcome had everything, and nothing is older.
      expect(await reader.loadOlder(5)).toEqual([]);
    });
  });

for (const runtime of ['node', 'deno', 'bun'] as const)
  describe(`the client on ${runtime} with memory storage`, { timeout: 60_000 }, () => {
    it('says reset when a resume cannot be recovered (the server forgot the room)', async () => {
      let server = await startServer({ runtime, env: { ...ENV, STORAGE: 'memory' } });
      try {
        const room = uniqueRoom();
        const ann = connect({ url: server.baseUrl, room, name: 'ann' });
        await reaches(ann, 'open');
        await ann.send('forgotten');
        const { epoch } = ann;
        const reset = within(new Promise((resolve) => ann.on('reset', resolve)), 'a reset');
        const { port } = server;
        await server.stop();
        server = await startServer({ runtime, port, env: { ...ENV, STORAGE: 'memory' } });
        expect(await reset).toMatchObject({ type: 'welcome', recovered: false });
        expect(ann.epoch).not.toBe(epoch);
        expect((await ann.send('fresh start')).seq).toBe(1);
      } finally {
        await server.stop();
      }
    });
  });

describe('what the client checks before it connects', () => {
  it('knows the names the server would refuse, and will not connect with one', () => {
    expect(roomProblem('Lobby')).toBeUndefined();
    expect(roomProblem('-lobby')).toMatch(/^must be 1-64 characters/);
    expect(nameProblem('  Zoë  ')).toBeUndefined();
    expect(nameProblem(' ')).toBe('must not be empty');
    expect(nameProblem('x'.repeat(33))).toBe('must be at most 32 characters');
    expect(nameProblem('a\nb')).toBe('must not contain control characters');
    expect(nameProblem('\u202Eevil')).toBe('must not contain bidirectional overrides or isolates');
    expect(nameProblem('\u200B\u2800')).toBe('must contain a visible character');
    // Either would be refused at the handshake, and retried for ever.
    expect(() => new ChatClient({ url: 'http://127.0.0.1:9', room: 'no room' })).toThrow(RangeError);
    expect(() => new ChatClient({ url: 'http://127.0.0.1:9', room: 'lobby', name: ' ' })).toThrow(RangeError);
  });
});

describe('the client asking the server for more than messages, on node', { timeout: 60_000 }, () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ env: { ...ENV, STORAGE: 'memory' } });
  });
  afterAll(() => server?.stop());

  /** A token for `sub` (each test its own, so that none shares another's message budget). */
  const token = (sub: string, claims: { name?: string; role?: 'moderator' } = {}) =>
    sign({ sub, ...claims, exp: Math.floor(Date.now() / 1000) + 600 }, SECRET, 'HS256');

  it('sends under the cid the app gives, and refuses one already waiting', async () => {
    const ann = connect({ url: server.baseUrl, room: uniqueRoom(), name: 'ann' });
    const cids: (string | undefined)[] = [];
    ann.on('message', (message) => cids.push(message.cid));
    const first = ann.send('first', { cid: 'app-1' });
    await expect(ann.send('again', { cid: 'app-1' })).rejects.toThrow(RangeError);
    expect((await first).cid).toBe('app-1');
    expect(cids).toEqual(['app-1']);
  });

  it('puts the old name back when a rename is refused, and says the error answers the rename', async () => {
    const kim = connect({ url: server.baseUrl, room: uniqueRoom(), token: await token('kim', { name: 'Kim' }) });
    await reaches(kim, 'open');
    const errors: RequestError[] = [];
    kim.on('error', (error) => errors.push(error));
    expect(kim.rename(' Other ')).toBe(true);
    expect(kim.me?.name).toBe('Other'); // at once: the server tells only the others
    await until(() => errors.length === 1, 'the refusal');
    expect(errors[0]).toMatchObject({ code: 'forbidden', request: { type: 'rename', name: 'Other' } });
    expect(kim.me?.name).toBe('Kim');
    expect(kim.members.get(kim.me!.id)?.name).toBe('Kim');
    expect(() => kim.rename('\u202Eevil')).toThrow(RangeError);
  });

  it('says which delete or kick an error refuses, after others were done', async () => {
    const mia = connect({ url: server.baseUrl, room: uniqueRoom(), token: await token('mia', { role: 'moderator' }) });
    await reaches(mia, 'open');
    const stored = await mia.send('to be deleted');
    const errors: RequestError[] = [];
    mia.on('error', (error) => errors.push(error));
    const deleted: number[] = [];
    mia.on('deleted', (event) => deleted.push(event.seq));
    mia.deleteMessage(stored.seq);
    mia.deleteMessage(stored.seq + 1000);
    mia.kick('u_nobody');
    await until(() => errors.length === 2, 'two refusals');
    expect(deleted).toEqual([stored.seq]);
    expect(errors).toMatchObject([
      { code: 'not_found', request: { type: 'delete', seq: stored.seq + 1000 } },
      { code: 'not_found', request: { type: 'kick', member: 'u_nobody' } },
    ]);
  });

  it('comes back with open() after a kick, resuming; after a ban it says so rather than retry', async () => {
    const room = uniqueRoom();
    const mod = connect({ url: server.baseUrl, room, token: await token('mod', { role: 'moderator' }) });
    const lee = connect({ url: server.baseUrl, room, token: await token('lee', { name: 'Lee' }) });
    const leeHeard = heard(lee);
    const resets: unknown[] = [];
    lee.on('reset', (welcome) => resets.push(welcome));
    await Promise.all([reaches(mod, 'open'), reaches(lee, 'open')]);

    expect(mod.kick(lee.me!.id)).toBe(true);
    expect(await reaches(lee, 'closed')).toMatchObject({ code: 1008, reason: 'kicked' });
    await mod.send('while lee was out');
    lee.open();
    await reaches(lee, 'open');
    await until(() => leeHeard.includes('while lee was out'), 'lee hears what was missed');
    expect(resets).toEqual([]);

    const states: string[] = [];
    lee.on('status', (status) => states.push(status.state));
    mod.kick(lee.me!.id, { banSeconds: 60 });
    await reaches(lee, 'closed');
    lee.open();
    expect(await reaches(lee, 'closed')).toMatchObject({ code: 4403, reason: 'banned' });
    expect(states).toEqual(['closed', 'connecting', 'closed']);
  });

  it('types at most one frame every few seconds, the last word on time, however messages come between', async () => {
    const room = uniqueRoom();
    const ann = connect({ url: server.baseUrl, room, name: 'ann' });
    await reaches(ann, 'open');
    const observer = await TestClient.join(server.wsUrl(`/ws/${room}?name=observer`));
    try {
      const typing = (frame: { type: string }) => frame.type === 'typing';
      ann.typing(true);
      const first = await observer.next(typing);
      const firstAt = Date.now();
      expect(first).toMatchObject({ active: true });
      for (const text of ['one', 'two']) {
        ann.typing(true); // held back: one went out just now
        await ann.send(text);
        ann.typing(false); // nothing to stop: the message already did, for the others
      }
      ann.typing(true);
      // Held back until the few seconds are up, then sent: the others do see it again.
      expect(await observer.next(typing)).toMatchObject({ active: true });
      expect(Date.now() - firstAt).toBeGreaterThanOrEqual(2_900);
      ann.typing(false);
      expect(await observer.next(typing)).toMatchObject({ active: false });
      expect(observer.seen(typing)).toHaveLength(3);
      expect(observer.seen('message').map((message) => message.text)).toEqual(['one', 'two']);
    } finally {
      await observer.close();
    }
  });
});

describe('the client across a Redis cluster', { timeout: 90_000 }, () => {
  let redis: RunningRedis;
  let instances: RunningServer[];
  let balancer: Server;
  let balancerUrl: string;

  beforeAll(async () => {
    redis = await startRedis();
    instances = await Promise.all(
      (['node', 'bun'] as const).map((runtime) => startServer({ runtime, env: { ...ENV, STORAGE: 'redis', REDIS_URL: redis.url } })),
    );
    // A stand-in load balancer: each connection goes to the first instance that takes it.
    balancer = createServer((incoming) => {
      const tryInstance = (index: number) => {
        const instance = instances[index];
        if (!instance) return incoming.destroy();
        const outgoing = createConnection(instance.port, '127.0.0.1');
        outgoing.once('connect', () => {
          outgoing.removeAllListeners('error');
          incoming.pipe(outgoing).pipe(incoming);
          outgoing.on('error', () => incoming.destroy());
          incoming.on('error', () => outgoing.destroy());
          outgoing.on('close', () => incoming.destroy());
          incoming.on('close', () => outgoing.destroy());
        });
        outgoing.once('error', () => tryInstance(index + 1));
      };
      tryInstance(0);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => balancer.listen(port, '127.0.0.1', resolve));
    balancerUrl = `http://127.0.0.1:${port}`;
  }, 120_000);

  afterAll(async () => {
    balancer?.close();
    await Promise.all(instances?.map((instance) => instance.stop()) ?? []);
    await redis?.dispose();
  });

  it('moves to another instance when its own dies, losing nothing and repeating nothing', async () => {
    const room = uniqueRoom();
    const ann = connect({ url: balancerUrl, room, name: 'ann' });
    const bob = connect({ url: instances[1]!.baseUrl, room, name: 'bob' });
    const bobHeard = heard(bob);
    const resets: unknown[] = [];
    ann.on('reset', (welcome) => resets.push(welcome));
    await Promise.all([reaches(ann, 'open'), reaches(bob, 'open')]);
    await ann.send('on the first instance');
    const down = reaches(ann, 'reconnecting');
    await instances[0]!.stop('SIGKILL');
    await down;
    const queued = texts('after the failover', 5).map((text) => ann.send(text));
    await within(Promise.all(queued), 'stored through the second instance');
    await until(() => bobHeard.length === 6, 'bob hears everything');
    expect(bobHeard).toEqual(['on the first instance', ...texts('after the failover', 5)]);
    expect(resets).toEqual([]);
  });
});

describe('the client itself on Deno and Bun', { timeout: 60_000 }, () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ runtime: 'node', env: { ...ENV, STORAGE: 'memory' } });
  });
  afterAll(() => server?.stop());

  const commands = {
    deno: ['node_modules/.bin/deno', 'run', '--allow-net', 'test/support/send-once.js'],
    bun: ['node_modules/.bin/bun', 'test/support/send-once.js'],
  };
  for (const [runtime, command] of Object.entries(commands)) {
    it(`sends a message and is answered with it as stored, on ${runtime}`, async () => {
      const room = uniqueRoom();
      const watcher = connect({ url: server.baseUrl, room, name: 'watcher' });
      const watcherHeard = heard(watcher);
      await reaches(watcher, 'open');
      const [file, ...args] = command;
      const { stdout } = await execFileAsync(file!, [...args, server.baseUrl, room, `hello from ${runtime}`], { cwd: root });
      const stored = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(stored).toMatchObject({ type: 'message', room, text: `hello from ${runtime}`, from: { name: 'runtime' } });
      await until(() => watcherHeard.length === 1, 'the watcher hears it');
    });
  }
});
