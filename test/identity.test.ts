// Identity (protocol v1.1) against a real server: tokens signed here with the server's
// AUTH_SECRET (HS256, through Hono's JWT helper), shown as a header or as ?token=.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from './support/client.ts';
import { freePort, startServer, type RunningServer, type RuntimeName } from './support/server.ts';

/** Token checks are the app's, on Web Crypto: every runtime runs them. */
const RUNTIMES: RuntimeName[] = ['node', 'deno', 'bun', 'workers'];

const SECRET = 'a secret only the app and edgechat know';
const now = () => Math.floor(Date.now() / 1000);
const token = (claims: Record<string, unknown>, secret = SECRET) => sign({ exp: now() + 600, ...claims }, secret, 'HS256');

for (const runtime of RUNTIMES)
  describe(`identity on ${runtime}`, { timeout: 60_000 }, () => {
    let server: RunningServer;
    const issued: string[] = [];
    const mint = async (claims: Record<string, unknown>, secret?: string) => {
      const minted = await token(claims, secret);
      issued.push(minted);
      return minted;
    };

    beforeAll(async () => {
      server = await startServer({
        runtime,
        env: { STORAGE: 'memory', AUTH_SECRET: SECRET, PUBLIC_ROOMS: 'lobby,open-*', RATE_LIMIT_PER_SEC: '0' },
      });
    });
    afterAll(() => server?.stop());

    const wsUrl = (room: string, query = '') => server.wsUrl(`/ws/${room}${query}`);
    const refusal = (room: string, query = '', headers: Record<string, string> = {}) => TestClient.refused(wsUrl(room, query), { headers });

    it('refuses a private room without a valid token with 401 bad_token, and says why', async () => {
      expect(await refusal('team')).toMatchObject({ status: 401, body: { error: { code: 'bad_token' } } });
      const forged = await mint({ sub: 'ann' }, 'another secret');
      const badSignature = await refusal('team', `?token=${forged}`);
      expect(badSignature).toMatchObject({ status: 401, body: { error: { code: 'bad_token', message: expect.stringMatching(/signed/) } } });
      const expired = await mint({ sub: 'ann', exp: now() - 10 });
      expect((await refusal('team', `?token=${expired}`)).body.error.message).toMatch(/expired/);
      expect((await refusal('team', '?token=not.a.jwt')).status).toBe(401);
      const api = await fetch(`${server.baseUrl}/api/rooms/team`);
      expect(api.status).toBe(401);
    });

    it('admits a valid token, as a header or as ?token=, with the same member id every time', async () => {
      const ann = await mint({ sub: 'ann@example.com' });
      const first = await TestClient.join(wsUrl('team', `?token=${ann}`));
      await first.close();
      const second = await TestClient.join(wsUrl('team'), { headers: { Authorization: `Bearer ${ann}` } });
      expect(second.welcome.you.id).toBe(first.welcome.you.id);
      expect(second.welcome.you.id).not.toContain('ann');
      const other = await TestClient.join(wsUrl('team', `?token=${await mint({ sub: 'bob@example.com' })}`));
      expect(other.welcome.you.id).not.toBe(first.welcome.you.id);
      const api = await fetch(`${server.baseUrl}/api/rooms/team`, { headers: { Authorization: `Bearer ${ann}` } });
      expect((await api.json()).count).toBe(2);
      await Promise.all([second.close(), other.close()]);
    });

    it('makes one member of all the connections of one token: one join, one leave after the last', async () => {
      const room = `tabs-${runtime}`;
      const watcher = await TestClient.join(wsUrl(room, `?token=${await mint({ sub: 'watcher' })}`));
      const ann = await mint({ sub: 'ann-tabs', name: 'Ann' });
      const first = await TestClient.join(wsUrl(room, `?token=${ann}`));
      const second = await TestClient.join(wsUrl(room, `?token=${ann}`));
      expect(second.welcome.you).toEqual(first.welcome.you);
      expect(second.welcome.members.map((m: { name: string }) => m.name).sort()).toEqual(['Ann', expect.any(String)]);
      expect(await watcher.next('presence')).toMatchObject({ event: 'join', member: { name: 'Ann' }, count: 2 });
      // Both tabs get the member's messages; neither gets its own typing.
      first.send({ type: 'typing', active: true });
      first.send({ type: 'message', text: 'from the first tab', cid: 'tab' });
      expect((await second.next('message')).text).toBe('from the first tab');
      expect(await watcher.next('typing')).toMatchObject({ from: { name: 'Ann' } });
      await second.roundTrip();
      expect(second.seen('typing')).toEqual([]);
      await first.close();
      second.send({ type: 'message', text: 'still here', cid: 'here' });
      expect((await watcher.next('message')).text).toBe('from the first tab');
      expect((await watcher.next('message')).text).toBe('still here');
      expect(watcher.seen('presence')).toHaveLength(1);
      await second.close();
      expect(await watcher.next('presence')).toMatchObject({ event: 'leave', member: { name: 'Ann' }, count: 1 });
      await watcher.close();
    });

    it('gives a member one place in a full room, however many tabs it opens, until its last one leaves', async () => {
      const small = await startServer({ runtime, env: { STORAGE: 'memory', AUTH_SECRET: SECRET, MAX_ROOM_MEMBERS: '2' } });
      const url = (token: string) => small.wsUrl(`/ws/team?token=${token}`);
      const refusedAsFull = async (token: string) => {
        const client = await TestClient.open(url(token));
        return client.closed;
      };
      try {
        const [ann, bob, cat] = await Promise.all(['ann-full', 'bob-full', 'cat-full'].map((sub) => mint({ sub })));
        const tabs = [await TestClient.join(url(ann!)), await TestClient.join(url(ann!))];
        const watcher = await TestClient.join(url(bob!));
        const third = await TestClient.join(url(ann!));
        expect(third.welcome.members).toHaveLength(2);
        expect(await refusedAsFull(cat!)).toEqual({ code: 1013, reason: 'room_full' });
        for (const tab of tabs) await tab.close();
        expect(await refusedAsFull(cat!)).toEqual({ code: 1013, reason: 'room_full' });
        await third.close();
        expect(await watcher.next('presence')).toMatchObject({ event: 'leave', member: third.welcome.you, count: 1 });
        const late = await TestClient.join(url(cat!));
        expect(late.welcome.members).toEqual([watcher.welcome.you, late.welcome.you]);
        await Promise.all([watcher.close(), late.close()]);
      } finally {
        await small.stop();
      }
    });

    it('fixes the name the token gives: rename is refused as forbidden', async () => {
      const kim = await TestClient.join(wsUrl('team', `?name=someone&token=${await mint({ sub: 'kim', name: 'Kim' })}`));
      expect(kim.welcome.you.name).toBe('Kim');
      kim.send({ type: 'rename', name: 'admin' });
      expect(await kim.next('error')).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/fixed/) });
      await kim.close();
    });

    it('keeps a token to its rooms (names and prefixes) with 403 forbidden elsewhere', async () => {
      const limited = await mint({ sub: 'lee', rooms: ['team', 'project-*'] });
      expect((await refusal('secret', `?token=${limited}`)).body.error.code).toBe('forbidden');
      expect((await fetch(`${server.baseUrl}/api/rooms/secret?token=${limited}`)).status).toBe(403);
      for (const room of ['team', 'project-x', 'lobby']) {
        const client = await TestClient.join(wsUrl(room, `?token=${limited}`));
        await client.close();
      }
    });

    it('lets guests into public rooms, but not with a bad token', async () => {
      const guest = await TestClient.join(wsUrl('open-air'));
      expect(guest.welcome.you.name).toMatch(/^guest-/);
      await guest.close();
      expect((await refusal('lobby', '?token=not.a.jwt')).status).toBe(401);
      expect((await fetch(`${server.baseUrl}/api/rooms/lobby`)).status).toBe(404);
    });

    it('closes a connection with 1008 token_expired when its token runs out', async () => {
      const short = await mint({ sub: 'sam', exp: now() + 4 });
      const sam = await TestClient.join(wsUrl('team', `?token=${short}`));
      expect(await sam.closed).toEqual({ code: 1008, reason: 'token_expired' });
    });

    it('has no backend routes without API_KEY', async () => {
      const post = await fetch(`${server.baseUrl}/api/rooms/team/messages`, { method: 'POST', body: '{"text":"hi"}' });
      expect(post.status).toBe(404);
      expect((await post.json()).error.code).toBe('not_found');
      expect((await fetch(`${server.baseUrl}/api/rooms/team/messages/1`, { method: 'DELETE' })).status).toBe(404);
    });

    it('admits a token from npm run token', async () => {
      const script = spawnSync('npm', ['run', '-s', 'token', '--', '--sub', 'cli', '--name', 'Cli', '--rooms', 'team'], {
        env: { ...process.env, AUTH_SECRET: SECRET },
        encoding: 'utf8',
      });
      const minted = script.stdout.trim().split('\n').at(-1)!;
      issued.push(minted);
      const cli = await TestClient.join(wsUrl('team', `?token=${minted}`));
      expect(cli.welcome.you.name).toBe('Cli');
      await cli.close();
    });

    it('never writes a token to its log', () => {
      expect(issued.length).toBeGreaterThan(5);
      for (const minted of issued) expect(server.output()).not.toContain(minted.split('.')[2]);
    });
  });

const API_KEY = 'the backend key, long enough to guess never';

/** Every runtime with its durable storage (SQLite; a Durable Object's on Workers), and Node in memory mode. */
const MODERATED: [RuntimeName, 'sqlite' | 'memory'][] = [
  ...RUNTIMES.map((runtime) => [runtime, 'sqlite'] as [RuntimeName, 'sqlite']),
  ['node', 'memory'],
];

for (const [runtime, storage] of MODERATED)
  describe(`moderation and the backend API on ${runtime} (${storage})`, { timeout: 60_000 }, () => {
    let server: RunningServer;
    const minted: string[] = [];
    const mint = async (claims: Record<string, unknown>) => {
      const signed = await token(claims);
      minted.push(signed);
      return signed;
    };
    const join = async (room: string, claims: Record<string, unknown>) =>
      TestClient.join(server.wsUrl(`/ws/${room}?token=${await mint(claims)}`));
    const backend = (path: string, init: RequestInit = {}, key = API_KEY) =>
      fetch(`${server.baseUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
      });

    beforeAll(async () => {
      server = await startServer({
        runtime,
        env: { STORAGE: storage, AUTH_SECRET: SECRET, API_KEY, PUBLIC_ROOMS: 'lobby', RATE_LIMIT_PER_SEC: '0' },
      });
    });
    afterAll(() => server?.stop());

    it('gives moderators their role in the welcome, only in their rooms, and refuses the others as forbidden', async () => {
      const mod = await join('mod-role', { sub: 'mia', name: 'Mia', role: 'moderator', rooms: ['mod-*'] });
      expect(mod.welcome.you).toEqual({ id: expect.any(String), name: 'Mia', role: 'moderator' });
      expect(mod.welcome.members).toEqual([{ id: mod.welcome.you.id, name: 'Mia' }]);
      // A public room outside the token's rooms: a member there, but no moderator.
      const elsewhere = await join('lobby', { sub: 'mia', name: 'Mia', role: 'moderator', rooms: ['mod-*'] });
      expect(elsewhere.welcome.you).not.toHaveProperty('role');
      const ann = await join('mod-role', { sub: 'ann', name: 'Ann' });
      expect(ann.welcome.you).not.toHaveProperty('role');
      ann.send({ type: 'message', text: 'hello', cid: 'h' });
      const { seq } = await ann.next('message');
      ann.send({ type: 'delete', seq });
      expect(await ann.next('error')).toMatchObject({ code: 'forbidden' });
      ann.send({ type: 'kick', member: mod.welcome.you.id });
      expect(await ann.next('error')).toMatchObject({ code: 'forbidden' });
      elsewhere.send({ type: 'kick', member: ann.welcome.you.id });
      expect(await elsewhere.next('error')).toMatchObject({ code: 'forbidden' });
      await Promise.all([mod.close(), elsewhere.close(), ann.close()]);
    });

    it('deletes a message for everyone: a deleted frame, and gone from history, resume and the API', async () => {
      const room = `mod-delete-${runtime}`;
      const mod = await join(room, { sub: 'mia', name: 'Mia', role: 'moderator' });
      const ann = await join(room, { sub: 'ann', name: 'Ann' });
      for (const text of ['keep', 'spam', 'also kept']) ann.send({ type: 'message', text });
      const [, spam] = [await ann.next('message'), await ann.next('message'), await ann.next('message')];
      const { epoch } = ann.welcome;
      mod.send({ type: 'delete', seq: spam!.seq });
      const expected = { type: 'deleted', room, seq: spam!.seq, by: { id: mod.welcome.you.id, name: 'Mia' } };
      expect(await ann.next('deleted')).toEqual(expected);
      expect(await mod.next('deleted')).toEqual(expected);
      const texts = (messages: { text: string }[]) => messages.map((message) => message.text);
      const page = await (
        await fetch(`${server.baseUrl}/api/rooms/${room}/messages`, {
          headers: { authorization: `Bearer ${await mint({ sub: 'reader' })}` },
        })
      ).json();
      expect(texts(page.messages)).toEqual(['keep', 'also kept']);
      const later = await join(room, { sub: 'bob' });
      expect(texts(later.welcome.history)).toEqual(['keep', 'also kept']);
      const resumed = await TestClient.join(
        server.wsUrl(`/ws/${room}?since=${spam!.seq - 1}&epoch=${epoch}&token=${await mint({ sub: 'ann', name: 'Ann' })}`),
      );
      expect(resumed.welcome).toMatchObject({ recovered: true });
      expect(texts(resumed.welcome.history)).toEqual(['also kept']);
      mod.send({ type: 'delete', seq: spam!.seq });
      expect(await mod.next('error')).toMatchObject({ code: 'not_found' });
      mod.send({ type: 'delete', seq: 999 });
      expect(await mod.next('error')).toMatchObject({ code: 'not_found' });
      await Promise.all([mod.close(), ann.close(), later.close(), resumed.close()]);
    });

    it('kicks every connection of a member with 1008 kicked; with banSeconds it stays out of that room only', async () => {
      const room = `mod-kick-${runtime}`;
      const mod = await join(room, { sub: 'mia', name: 'Mia', role: 'moderator' });
      const troll = { sub: 'troll', name: 'Troll' };
      const tabs = [await join(room, troll), await join(room, troll)];
      await mod.next((frame) => frame.type === 'presence' && frame.event === 'join');
      const trollId = tabs[0]!.welcome.you.id;
      mod.send({ type: 'kick', member: trollId });
      for (const tab of tabs) expect(await tab.closed).toEqual({ code: 1008, reason: 'kicked' });
      expect(await mod.next('presence')).toMatchObject({ event: 'leave', member: { id: trollId }, count: 1 });
      // Without a ban the member may come back.
      const back = await join(room, troll);
      await mod.next((frame) => frame.type === 'presence' && frame.event === 'join');
      mod.send({ type: 'kick', member: trollId, banSeconds: 600 });
      expect(await back.closed).toEqual({ code: 1008, reason: 'kicked' });
      const refused = await TestClient.refused(server.wsUrl(`/ws/${room}?token=${await mint(troll)}`));
      expect(refused).toMatchObject({ status: 403, body: { error: { code: 'banned', message: expect.stringMatching(/until/) } } });
      const otherRoom = await join(`${room}-2`, troll);
      await otherRoom.close();
      mod.send({ type: 'kick', member: trollId });
      expect(await mod.next('error')).toMatchObject({ code: 'not_found' });
      await mod.close();
    });

    it('publishes for the backend with the API key, as the service or on behalf of a user', async () => {
      const room = `backend-${runtime}`;
      const ann = await join(room, { sub: 'ann@example.com', name: 'Ann' });
      const post = (body: unknown, key?: string) =>
        backend(`/api/rooms/${room}/messages`, { method: 'POST', body: JSON.stringify(body) }, key);
      const asService = await post({ text: 'maintenance at noon', cid: 'notice-1' });
      expect(asService.status).toBe(201);
      const stored = await asService.json();
      expect(stored).toMatchObject({
        type: 'message',
        room,
        text: 'maintenance at noon',
        cid: 'notice-1',
        from: { id: 'service', name: 'service' },
      });
      expect(await ann.next('message')).toEqual(stored);
      const onBehalf = await (await post({ text: 'sent from the mobile app', from: { id: 'ann@example.com', name: 'Ann' } })).json();
      expect(onBehalf.from).toEqual(ann.welcome.you);
      expect(onBehalf.seq).toBe(stored.seq + 1);
      expect(await ann.next('message')).toEqual(onBehalf);
      expect((await post({ text: 'no' }, 'a wrong key, long enough')).status).toBe(401);
      expect((await fetch(`${server.baseUrl}/api/rooms/${room}/messages`, { method: 'POST', body: '{"text":"x"}' })).status).toBe(401);
      expect(await (await post({ text: '   ' })).json()).toMatchObject({ error: { code: 'bad_text' } });
      expect((await backend(`/api/rooms/${room}/messages`, { method: 'POST', body: '{"text":' })).status).toBe(400);
      expect((await post({ text: 'x', from: { id: 'ann' } })).status).toBe(400);
      expect(
        (await backend(`/api/rooms/${room}/messages`, { method: 'POST', body: JSON.stringify({ text: 'x'.repeat(40_000) }) })).status,
      ).toBe(413);

      const removed = await backend(`/api/rooms/${room}/messages/${stored.seq}`, { method: 'DELETE' });
      expect(removed.status).toBe(204);
      expect(await ann.next('deleted')).toEqual({ type: 'deleted', room, seq: stored.seq, by: { id: 'service', name: 'service' } });
      expect((await backend(`/api/rooms/${room}/messages/${stored.seq}`, { method: 'DELETE' })).status).toBe(404);
      expect((await backend(`/api/rooms/nowhere-${runtime}/messages/1`, { method: 'DELETE' })).status).toBe(404);
      expect((await backend(`/api/rooms/${room}/messages/${stored.seq}`, { method: 'DELETE' }, 'a wrong key, long enough')).status).toBe(
        401,
      );
      await ann.close();
    });

    it('publishes to a room nobody is in, and a member who joins later finds it', async () => {
      const room = `backend-empty-${runtime}`;
      const response = await backend(`/api/rooms/${room}/messages`, {
        method: 'POST',
        body: JSON.stringify({ text: 'welcome, first visitor' }),
      });
      expect(response.status).toBe(201);
      const visitor = await join(room, { sub: 'visitor' });
      expect(visitor.welcome.history.map((message: { text: string }) => message.text)).toEqual(['welcome, first visitor']);
      await visitor.close();
    });

    it('writes neither tokens nor the API key to its log', () => {
      for (const signed of minted) expect(server.output()).not.toContain(signed.split('.')[2]);
      expect(server.output()).not.toContain(API_KEY);
    });
  });

/** The runtimes that count open sockets (a Worker's are spread over its rooms' objects). */
const COUNTING: RuntimeName[] = ['node', 'deno', 'bun'];

for (const runtime of COUNTING)
  describe(`per-client limits by identity on ${runtime}`, { timeout: 60_000 }, () => {
    it('keys the connection cap and the message budget on sub, wherever the client connects from', async () => {
      const server = await startServer({
        runtime,
        env: {
          STORAGE: 'memory',
          AUTH_SECRET: SECRET,
          PUBLIC_ROOMS: '*',
          MAX_CONNECTIONS_PER_CLIENT: '2',
          CLIENT_RATE_BURST: '3',
          CLIENT_RATE_PER_SEC: '1',
        },
      });
      try {
        const url = async (sub?: string) => server.wsUrl(`/ws/limits${sub ? `?token=${await token({ sub })}` : ''}`);
        const ann = [
          await TestClient.join(await url('ann'), { localAddress: '127.0.0.2' }),
          await TestClient.join(await url('ann'), { localAddress: '127.0.0.3' }),
        ];
        const third = await TestClient.refused(await url('ann'), { localAddress: '127.0.0.4' });
        expect(third).toMatchObject({ status: 429, body: { error: { code: 'too_many_connections' } } });
        // Another identity, and a guest, from an address Ann uses are clients of their own.
        const bob = await TestClient.join(await url('bob'), { localAddress: '127.0.0.2' });
        const guest = await TestClient.join(await url(), { localAddress: '127.0.0.2' });
        // Ann's two connections share one budget of 3 (refilled at one a second); Bob's is his own.
        const say = (client: TestClient, cid: string) => {
          client.send({ type: 'message', text: cid, cid });
          return client.next((frame) => frame.cid === cid);
        };
        for (const [i, connection] of [ann[0], ann[1], ann[0]].entries())
          expect(await say(connection!, `a${i}`)).toMatchObject({ type: 'message' });
        expect(await say(ann[1]!, 'a3')).toMatchObject({ type: 'error', code: 'rate_limited' });
        for (let i = 0; i < 3; i++) bob.send({ type: 'message', text: `bob ${i}`, cid: `b${i}` });
        await bob.roundTrip();
        expect(bob.seen('error')).toEqual([]);
        expect(bob.seen((frame) => frame.type === 'message' && frame.text.startsWith('bob'))).toHaveLength(3);
        await Promise.all([...ann, bob, guest].map((client) => client.close()));
      } finally {
        await server.stop();
      }
    });
  });

/** A private key as PEM (PKCS #8), for signing in the tests, and its public half. */
function keyPair(type: 'ec' | 'ed25519' | 'rsa'): { privatePem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

for (const runtime of RUNTIMES)
  describe(`identity with public keys on ${runtime}`, { timeout: 60_000 }, () => {
    it('verifies ES256 and EdDSA tokens against AUTH_PUBLIC_KEY (PEM or JWK), and nothing else', async () => {
      for (const [type, alg, format] of [
        ['ec', 'ES256', 'pem'],
        ['ed25519', 'EdDSA', 'jwk'],
      ] as const) {
        const { privatePem, publicKey } = keyPair(type);
        const published =
          format === 'pem'
            ? publicKey.export({ type: 'spki', format: 'pem' }).toString()
            : JSON.stringify(publicKey.export({ format: 'jwk' }));
        const server = await startServer({ runtime, env: { STORAGE: 'memory', AUTH_PUBLIC_KEY: published } });
        try {
          const good = await sign({ sub: 'ann', exp: now() + 60 }, privatePem, alg);
          const ann = await TestClient.join(server.wsUrl(`/ws/team?token=${good}`));
          await ann.close();
          const other = await sign({ sub: 'ann', exp: now() + 60 }, keyPair(type).privatePem, alg);
          expect((await TestClient.refused(server.wsUrl(`/ws/team?token=${other}`))).status).toBe(401);
          // A token signed with the public key as an HMAC secret (the classic confusion) is refused.
          const confused = await sign({ sub: 'ann', exp: now() + 60 }, published, 'HS256');
          expect((await TestClient.refused(server.wsUrl(`/ws/team?token=${confused}`))).status).toBe(401);
        } finally {
          await server.stop();
        }
      }
    });

    it('fetches the JWKS once, and again when a token names a key it does not know (rotation)', async () => {
      const first = keyPair('rsa');
      const second = keyPair('rsa');
      const jwk = (publicKey: KeyObject, kid: string) => ({ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
      let keys = [jwk(first.publicKey, 'k1')];
      let fetches = 0;
      const jwks = createServer((_request, response) => {
        fetches += 1;
        response.setHeader('content-type', 'application/json').end(JSON.stringify({ keys }));
      });
      const port = await freePort();
      await new Promise<void>((resolve) => jwks.listen(port, '127.0.0.1', resolve));
      const server = await startServer({ runtime, env: { STORAGE: 'memory', AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` } });
      try {
        for (let i = 0; i < 3; i++) {
          const token = await signWithKid(first.privatePem, 'k1');
          await (await TestClient.join(server.wsUrl(`/ws/team?token=${token}`))).close();
        }
        expect(fetches).toBe(1);
        keys = [...keys, jwk(second.publicKey, 'k2')];
        const rotated = await signWithKid(second.privatePem, 'k2');
        await (await TestClient.join(server.wsUrl(`/ws/team?token=${rotated}`))).close();
        expect(fetches).toBe(2);
      } finally {
        await server.stop();
        jwks.close();
      }
    });
  });

/** An RS256 token whose header names its key (`kid`), as a JWKS needs. */
function signWithKid(privatePem: string, kid: string): Promise<string> {
  const key = { ...createPrivateKey(privatePem).export({ format: 'jwk' }), kid, alg: 'RS256' };
  return sign({ sub: 'ann', exp: now() + 60 }, key, 'RS256');
}
