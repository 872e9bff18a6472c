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

for (const runtime of RUNTIMES) describe(`identity on ${runtime}`, { timeout: 60_000 }, () => {
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
  const refusal = (room: string, query = '', headers: Record<string, string> = {}) =>
    TestClient.refused(wsUrl(room, query), { headers });

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

for (const runtime of RUNTIMES) describe(`identity with public keys on ${runtime}`, { timeout: 60_000 }, () => {
  it('verifies ES256 and EdDSA tokens against AUTH_PUBLIC_KEY (PEM or JWK), and nothing else', async () => {
    for (const [type, alg, format] of [['ec', 'ES256', 'pem'], ['ed25519', 'EdDSA', 'jwk']] as const) {
      const { privatePem, publicKey } = keyPair(type);
      const published =
        format === 'pem' ? publicKey.export({ type: 'spki', format: 'pem' }).toString() : JSON.stringify(publicKey.export({ format: 'jwk' }));
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
