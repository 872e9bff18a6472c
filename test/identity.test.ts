// Identity (protocol v1.1) against a real server: tokens signed here with the server's
// AUTH_SECRET (HS256, through Hono's JWT helper), shown as a header or as ?token=.
import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from './support/client.ts';
import { startServer, type RunningServer } from './support/server.ts';

const SECRET = 'a secret only the app and edgechat know';
const now = () => Math.floor(Date.now() / 1000);
const token = (claims: Record<string, unknown>, secret = SECRET) => sign({ exp: now() + 600, ...claims }, secret, 'HS256');

describe('identity on node', { timeout: 60_000 }, () => {
  let server: RunningServer;
  const issued: string[] = [];
  const mint = async (claims: Record<string, unknown>, secret?: string) => {
    const minted = await token(claims, secret);
    issued.push(minted);
    return minted;
  };

  beforeAll(async () => {
    server = await startServer({
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

  it('fixes the name the token gives: rename is refused', async () => {
    const kim = await TestClient.join(wsUrl('team', `?name=someone&token=${await mint({ sub: 'kim', name: 'Kim' })}`));
    expect(kim.welcome.you.name).toBe('Kim');
    kim.send({ type: 'rename', name: 'admin' });
    expect(await kim.next('error')).toMatchObject({ code: 'bad_name', message: expect.stringMatching(/fixed/) });
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
    const short = await mint({ sub: 'sam', exp: now() + 2 });
    const sam = await TestClient.join(wsUrl('team', `?token=${short}`));
    expect(await sam.closed).toEqual({ code: 1008, reason: 'token_expired' });
  });

  it('never writes a token to its log', () => {
    expect(issued.length).toBeGreaterThan(5);
    for (const minted of issued) expect(server.output()).not.toContain(minted.split('.')[2]);
  });
});
