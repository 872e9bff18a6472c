// The protocol conformance suite. It talks to a real server process over HTTP and
// WebSocket and knows nothing of the runtime behind it beyond the capabilities below and
// the storage it was started with.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Frame } from '../support/client.ts';
import { startRedis, type RunningRedis } from '../support/redis.ts';
import { startCluster, startServer, type RunningServer, type RuntimeName } from '../support/server.ts';

/** What a platform can do at all; a missing capability is a documented runtime difference. */
export interface Capabilities {
  /** GET /metrics (a process to measure). */
  metrics: boolean;
  /** The server sends protocol pings and drops sockets that stop answering. */
  protocolPings: boolean;
  /** SIGTERM closes every socket with 1001 and the process exits. */
  gracefulShutdown: boolean;
  /** Rooms live in memory and are forgotten after ROOM_IDLE_TTL_MS. */
  idleEviction: boolean;
  /** The server can see how much output is queued for a socket, to close slow consumers. */
  slowConsumerClose: boolean;
  /** Malformed upgrades reach the service, which refuses them with bad_upgrade. */
  seesMalformedUpgrades: boolean;
  /** X-Forwarded-Proto reaches the service as the client sent it (TRUST_PROXY decides). */
  seesClientForwardedProto: boolean;
  /**
   * A client's message budget covers all of its connections in every room of the server;
   * otherwise (Workers) in each room.
   */
  clientBudgetAcrossRooms: boolean;
  /** Open WebSockets are counted per client and in all, and capped. */
  connectionCaps: boolean;
  /** A text frame that is not valid UTF-8 closes with 1007 (the platform lets it be seen). */
  invalidUtf8Close: boolean;
  /** A connection without a whole request within HANDSHAKE_TIMEOUT_MS is dropped. */
  handshakeTimeout: boolean;
  /** At the file-descriptor limit the server keeps serving what it has, and recovers. */
  survivesDescriptorLimit: boolean;
}

/**
 * Where the server keeps history: `durable` survives a restart with the same epoch (SQLite,
 * or a Durable Object's storage), `memory` goes with the room or the process.
 */
export type StorageKind = 'durable' | 'memory' | 'redis';

const ALL: Capabilities = {
  metrics: true,
  protocolPings: true,
  gracefulShutdown: true,
  idleEviction: true,
  slowConsumerClose: true,
  seesMalformedUpgrades: true,
  seesClientForwardedProto: true,
  clientBudgetAcrossRooms: true,
  connectionCaps: true,
  invalidUtf8Close: true,
  handshakeTimeout: true,
  survivesDescriptorLimit: true,
};

const HISTORY_LIMIT = 5;
/** Messages the bulk server keeps per room, for paging back with before=. */
const BULK_RETENTION = 200;
const MAX_ROOM_MEMBERS = 3;
const ALLOWED_ORIGIN = 'https://allowed.example';

/**
 * The per-client limits are off on the main servers, whose every test comes from
 * 127.0.0.1; the limits server tests them with clients on several addresses.
 */
const NO_CLIENT_LIMITS = {
  CLIENT_RATE_PER_SEC: '0',
  HTTP_RATE_PER_SEC: '0',
  MAX_CONNECTIONS_PER_CLIENT: '100000',
};

/** Configuration of the main server: small limits so that tests reach them quickly. */
const CONTRACT_ENV = {
  ...NO_CLIENT_LIMITS,
  HISTORY_LIMIT: String(HISTORY_LIMIT),
  MAX_ROOM_MEMBERS: String(MAX_ROOM_MEMBERS),
  PING_INTERVAL_MS: '500',
  ALLOWED_ORIGINS: ALLOWED_ORIGIN,
};

/** A second server for bulk traffic: no rate limit, big texts, rooms forgotten quickly. */
const BULK_ENV = {
  ...NO_CLIENT_LIMITS,
  RATE_LIMIT_PER_SEC: '0',
  MAX_TEXT: '60000',
  MAX_FRAME_BYTES: '262144',
  ROOM_IDLE_TTL_MS: '200',
  HISTORY_RETENTION: String(BULK_RETENTION),
};

/** A well-formed upgrade request's headers (RFC 6455 §1.3's sample key). */
const UPGRADE = {
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version': '13',
};

/** Small per-client limits, for clients on addresses of their own (127.0.0.x). */
const LIMITS_ENV = {
  RATE_LIMIT_BURST: '20',
  CLIENT_RATE_BURST: '5',
  CLIENT_RATE_PER_SEC: '1',
  HTTP_RATE_BURST: '10',
  HTTP_RATE_PER_SEC: '1',
  MAX_CONNECTIONS_PER_CLIENT: '3',
  MAX_CONNECTIONS: '6',
  HANDSHAKE_TIMEOUT_MS: '1000',
};

/** A GET from `address` (a 127.0.0.x of its own), with the answer's status, headers and body. */
function getFrom(address: string, url: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: any }>((resolve, reject) => {
    request(url, { localAddress: address }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(body) }));
    })
      .on('error', reject)
      .end();
  });
}

let roomCounter = 0;
function uniqueRoom(): string {
  roomCounter += 1;
  return `t${roomCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Every file under `dir` with its size: what a server has stored there. (wrangler dev
 * also keeps its own request traces there, which are no room's storage.)
 */
function filesIn(dir: string): Record<string, number> {
  const files: Record<string, number> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = joinPath(entry.parentPath, entry.name);
    if (entry.isFile() && !path.includes('/observability/')) files[path] = statSync(path).size;
  }
  return files;
}

/** The runtimes of the cluster target: one instance of each, sharing one Redis. */
const CLUSTER: RuntimeName[] = ['node', 'deno', 'bun'];

/**
 * The suite on one runtime, or on a cluster of Node, Deno and Bun with Redis storage: its
 * main servers are then clusters whose clients are spread over the three instances, and
 * the servers of single-process cases (limits, restarts) run on Node.
 */
export function describeConformance(target: RuntimeName | 'cluster', storage: StorageKind, capabilities: Partial<Capabilities> = {}): void {
  const can = { ...ALL, ...capabilities };
  const runtime: RuntimeName = target === 'cluster' ? 'node' : target;
  const title = target === 'cluster' ? `a cluster of ${CLUSTER.join(', ')}` : runtime;
  // Workers has one storage, the room's object; the other runtimes are told which to use.
  const storageEnv: Record<string, string> = runtime === 'workers' ? {} : { STORAGE: storage === 'durable' ? 'sqlite' : storage };

  describe(`protocol v1.1 on ${title} with ${storage} storage`, { timeout: 60_000 }, () => {
    let server: RunningServer;
    let bulk: RunningServer;
    const clients: TestClient[] = [];

    /** A server of the runtime under test, with this suite's storage. */
    function start(env: Record<string, string> = {}) {
      return startServer({ runtime, env: { ...storageEnv, ...env } });
    }

    /** With Redis storage, the one Redis every server of this suite shares. */
    let redis: RunningRedis | undefined;

    beforeAll(async () => {
      if (storage === 'redis') {
        redis = await startRedis();
        storageEnv.REDIS_URL = redis.url;
      }
      const startMain = (env: Record<string, string>) =>
        target === 'cluster' ? startCluster(CLUSTER, { env: { ...storageEnv, ...env } }) : start(env);
      [server, bulk] = await Promise.all([startMain(CONTRACT_ENV), startMain(BULK_ENV)]);
    }, 120_000);

    afterAll(async () => {
      for (const client of clients) client.socket.terminate();
      await Promise.all([server?.stop(), bulk?.stop()]);
      await redis?.dispose();
    });

    /** Joins `room` on the main server (or `on`) and welcomes the client. */
    async function join(room: string, query = '', on: RunningServer = server) {
      const client = await TestClient.join(on.wsUrl(`/ws/${room}${query ? `?${query}` : ''}`));
      clients.push(client);
      return client;
    }

    async function post(client: TestClient, text: string, cid?: string): Promise<Frame> {
      const tag = cid ?? `c${Math.random().toString(36).slice(2)}`;
      client.send({ type: 'message', text, cid: tag });
      return client.next((frame) => frame.type === 'message' && frame.cid === tag);
    }

    async function getJson(path: string, on: RunningServer = server) {
      const response = await fetch(`${on.baseUrl}${path}`);
      return { status: response.status, body: await response.json(), headers: response.headers };
    }

    /**
     * One request written by hand on its own connection (ws always writes a well-formed
     * upgrade), and the answer's status, headers and JSON body; a 101 is not read further.
     */
    async function rawRequest(path: string, headers: Record<string, string>) {
      const { host, port } = new URL(server.baseUrl);
      const socket = connect(Number(port), '127.0.0.1');
      const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      let received = Buffer.alloc(0);
      const answer = await new Promise<{ status: number; headers: Record<string, string>; body: any }>((resolve, reject) => {
        const parse = (ended: boolean) => {
          const text = received.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) return ended && reject(new Error(`no complete answer: ${text}`));
          const [statusLine, ...fields] = text.slice(0, end).split('\r\n');
          const status = Number(statusLine!.split(' ')[1]);
          const head = Object.fromEntries(
            fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]),
          );
          const body = received.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
          const length = Number(head['content-length'] ?? NaN);
          if (status === 101) return resolve({ status, headers: head, body: undefined });
          if (body.length >= length || (ended && Number.isNaN(length))) {
            const text = body.subarray(0, length).toString();
            try {
              resolve({ status, headers: head, body: JSON.parse(text) });
            } catch {
              reject(new Error(`${status} with a body that is not JSON: ${text}`));
            }
          } else if (ended) {
            reject(new Error(`answer cut short: ${text}`));
          }
        };
        socket.on('data', (chunk) => {
          received = Buffer.concat([received, chunk]);
          parse(false);
        });
        socket.once('end', () => parse(true));
        socket.once('error', reject);
      });
      socket.destroy();
      return answer;
    }

    /** Rooms the main server holds in memory, from /metrics. */
    async function roomsHeld(): Promise<number> {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
      return Number(/^edgechat_rooms (\d+)$/m.exec(text)![1]);
    }

    /** Waits until `condition` holds, asking again every 50 ms for at most 10 s. */
    async function expectEventually(condition: () => Promise<boolean>): Promise<void> {
      for (let tries = 0; tries < 200; tries++) {
        if (await condition()) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect.fail('the condition did not come true within 10 s');
    }

    /** The server still serves HTTP and admits new members. */
    async function expectServing(on: RunningServer = server) {
      expect((await getJson('/healthz', on)).body).toEqual({ status: 'ok' });
      const probe = await join(uniqueRoom(), 'name=probe', on);
      await probe.roundTrip();
      await probe.close();
    }

    describe('HTTP routes', () => {
      it('GET /healthz answers {"status":"ok"}', async () => {
        const { status, body } = await getJson('/healthz');
        expect(status).toBe(200);
        expect(body).toEqual({ status: 'ok' });
      });

      it('GET / serves the chat page', async () => {
        const response = await fetch(`${server.baseUrl}/`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toContain('text/html');
        // The page may talk only to its own origin, and run only its own script.
        expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
        expect(await response.text()).toContain('<html');
      });

      it('GET /api/rooms/:room describes the room under its normalised name', async () => {
        const room = uniqueRoom();
        const ann = await join(room, 'name=ann');
        const { status, body } = await getJson(`/api/rooms/${room.toUpperCase()}`);
        expect(status).toBe(200);
        expect(body).toEqual({
          room,
          count: 1,
          members: [ann.welcome.you],
          seq: 0,
          epoch: ann.welcome.epoch,
        });
      });

      it('GET /api/rooms/:room/messages pages with since and limit', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        for (const text of ['one', 'two', 'three', 'four']) await post(ann, text);
        const page = await getJson(`/api/rooms/${room}/messages?since=1&limit=2`);
        expect(page.status).toBe(200);
        expect(page.body.room).toBe(room);
        expect(page.body.epoch).toBe(ann.welcome.epoch);
        expect(page.body.messages.map((m: Frame) => [m.seq, m.text])).toEqual([
          [2, 'two'],
          [3, 'three'],
        ]);
        const latest = await getJson(`/api/rooms/${room}/messages`);
        expect(latest.body.messages.map((m: Frame) => m.seq)).toEqual([1, 2, 3, 4]);
        expect(latest.body.messages[0]).toMatchObject({ type: 'message', room, text: 'one' });
      });

      it('refuses bad room, since and limit with 400 and a JSON error', async () => {
        expect(await getJson('/api/rooms/-nope')).toMatchObject({ status: 400, body: { error: { code: 'bad_room' } } });
        const room = uniqueRoom();
        expect(await getJson(`/api/rooms/${room}/messages?since=-1`)).toMatchObject({
          status: 400,
          body: { error: { code: 'bad_since' } },
        });
        expect(await getJson(`/api/rooms/${room}/messages?limit=0`)).toMatchObject({
          status: 400,
          body: { error: { code: 'bad_limit' } },
        });
      });

      it('pages back with before= to the oldest retained message and no further', async () => {
        const room = uniqueRoom();
        const ann = await join(room, '', bulk);
        const total = BULK_RETENTION + 50;
        for (let i = 1; i <= total; i++) ann.send({ type: 'message', text: `m${i}`, cid: `p${i}` });
        await ann.next((frame) => frame.type === 'message' && frame.cid === `p${total}`);
        const walked: number[] = [];
        let before = total + 1;
        for (let pages = 0; pages < 10; pages++) {
          const page = await getJson(`/api/rooms/${room}/messages?before=${before}&limit=80`, bulk);
          expect(page.status).toBe(200);
          expect(page.body.epoch).toBe(ann.welcome.epoch);
          const seqs = page.body.messages.map((m: Frame) => m.seq);
          if (seqs.length === 0) break;
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          walked.unshift(...seqs);
          before = seqs[0];
        }
        const retained = Array.from({ length: BULK_RETENTION }, (_, i) => total - BULK_RETENTION + 1 + i);
        expect(walked).toEqual(retained);
        // The page size is capped at HISTORY_LIMIT (100 on this server), as for since.
        const capped = await getJson(`/api/rooms/${room}/messages?before=${total}&limit=1000`, bulk);
        expect(capped.body.messages.map((m: Frame) => m.seq)).toEqual(retained.slice(-101, -1));
        expect((await getJson(`/api/rooms/${room}/messages?before=0`, bulk)).body.messages).toEqual([]);
      });

      it('refuses before together with since, and a malformed before, with 400 bad_query', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        await post(ann, 'one');
        for (const query of ['before=2&since=0', 'before=-1', 'before=x']) {
          expect(await getJson(`/api/rooms/${room}/messages?${query}`)).toMatchObject({
            status: 400,
            body: { error: { code: 'bad_query', message: expect.any(String) } },
          });
        }
      });

      it('answers 404 no_room for a room without members or messages, and 200 once it has either', async () => {
        const room = uniqueRoom();
        for (const path of [`/api/rooms/${room}`, `/api/rooms/${room}/messages`, `/api/rooms/${room}/messages?before=5`]) {
          expect(await getJson(path)).toMatchObject({ status: 404, body: { error: { code: 'no_room' } } });
        }
        const ann = await join(room);
        expect((await getJson(`/api/rooms/${room}`)).body).toMatchObject({ count: 1, seq: 0 });
        await ann.close();
        // Joined and left without a word: still nothing to read.
        await expectEventually(async () => (await getJson(`/api/rooms/${room}`)).status === 404);
        const bob = await join(room);
        await post(bob, 'kept');
        await bob.close();
        await expectEventually(async () => (await getJson(`/api/rooms/${room}`)).body.count === 0);
        const info = await getJson(`/api/rooms/${room}`);
        expect(info).toMatchObject({ status: 200, body: { room, count: 0, members: [], seq: 1 } });
        const messages = await getJson(`/api/rooms/${room}/messages`);
        expect(messages.body.messages.map((m: Frame) => m.text)).toEqual(['kept']);
      });

      it('creates nothing when unknown rooms are read, however many', async () => {
        // The first read may set up the server's own bookkeeping (Workers: the room directory).
        expect((await getJson(`/api/rooms/${uniqueRoom()}`)).status).toBe(404);
        const before = filesIn(server.dataDir);
        const keysBefore = await redis?.keyCount();
        const roomsBefore = can.metrics ? await roomsHeld() : 0;
        const reads = [];
        for (let i = 0; i < 300; i++) {
          const room = `nobody-${i}-${Math.random().toString(36).slice(2, 8)}`;
          reads.push(getJson(i % 2 ? `/api/rooms/${room}` : `/api/rooms/${room}/messages?since=0`));
        }
        for (const read of await Promise.all(reads)) expect(read.status).toBe(404);
        expect(filesIn(server.dataDir)).toEqual(before);
        expect(await redis?.keyCount()).toBe(keysBefore);
        if (storage === 'memory') expect(before).toEqual({});
        if (can.metrics) expect(await roomsHeld()).toBeLessThanOrEqual(roomsBefore);
      });

      it('answers unknown paths with 404 in JSON', async () => {
        const { status, body } = await getJson('/api/nothing-here');
        expect(status).toBe(404);
        expect(body.error.code).toBe('not_found');
      });

      if (can.metrics) {
        it('GET /metrics reports connections, rooms, accepted messages and rejected frames', async () => {
          const room = uniqueRoom();
          const ann = await join(room);
          await post(ann, 'counted');
          ann.send('not json');
          await ann.next('error');
          // The metrics of the instance the member is connected to.
          const instance = new URL(ann.socket.url.replace(/^ws/, 'http')).origin;
          const response = await fetch(`${instance}/metrics`);
          expect(response.headers.get('content-type')).toContain('text/plain');
          const text = await response.text();
          expect(text).toMatch(/^edgechat_connections [1-9]\d*$/m);
          expect(text).toMatch(/^edgechat_rooms [1-9]\d*$/m);
          expect(text).toMatch(/^edgechat_messages_accepted_total [1-9]\d*$/m);
          expect(text).toMatch(/^edgechat_frames_rejected_total\{reason="bad_json"\} [1-9]\d*$/m);
          expect(text).toContain('# TYPE edgechat_frames_rejected_total counter');
        });
      }
    });

    describe('joining', () => {
      it('refuses a bad room name with 400 bad_room before the upgrade', async () => {
        const refusal = await TestClient.refused(server.wsUrl('/ws/_starts-with-underscore'));
        expect(refusal.status).toBe(400);
        expect(refusal.body.error.code).toBe('bad_room');
        expect(refusal.body.error.message).toEqual(expect.any(String));
        const tooLong = await TestClient.refused(server.wsUrl(`/ws/${'a'.repeat(65)}`));
        expect(tooLong.body.error.code).toBe('bad_room');
      });

      it('refuses a bad display name with 400 bad_name', async () => {
        for (const name of ['%20%20', 'x'.repeat(33), 'a%07b']) {
          const refusal = await TestClient.refused(server.wsUrl(`/ws/${uniqueRoom()}?name=${name}`));
          expect(refusal).toMatchObject({ status: 400, body: { error: { code: 'bad_name' } } });
        }
      });

      it('refuses names that reorder text or show nothing, in the query and in a rename', async () => {
        for (const name of ['\u202Enimda', 'a\u2066b', '\u200B\u200B', '\u3164', '\u2060\uFEFF']) {
          const refusal = await TestClient.refused(server.wsUrl(`/ws/${uniqueRoom()}?name=${encodeURIComponent(name)}`));
          expect(refusal, JSON.stringify(name)).toMatchObject({ status: 400, body: { error: { code: 'bad_name' } } });
        }
        const ann = await join(uniqueRoom(), `name=${encodeURIComponent('عائشة')}`);
        expect(ann.welcome.you.name).toBe('عائشة');
        ann.send({ type: 'rename', name: '\u202Enimda' });
        expect(await ann.next('error')).toMatchObject({ code: 'bad_name', message: expect.stringContaining('bidirectional') });
      });

      it('refuses a bad since with 400 bad_since', async () => {
        for (const since of ['-1', '1.5', 'abc']) {
          const refusal = await TestClient.refused(server.wsUrl(`/ws/${uniqueRoom()}?since=${since}`));
          expect(refusal).toMatchObject({ status: 400, body: { error: { code: 'bad_since' } } });
        }
      });

      it('checks the Origin header: foreign 403, own, listed or absent admitted', async () => {
        const url = server.wsUrl(`/ws/${uniqueRoom()}`);
        const foreign = await TestClient.refused(url, { headers: { Origin: 'https://evil.example' } });
        expect(foreign).toMatchObject({ status: 403, body: { error: { code: 'bad_origin' } } });
        const admitted: Record<string, string>[] = [{ Origin: server.baseUrl }, { Origin: ALLOWED_ORIGIN }, {}];
        for (const headers of admitted) {
          const client = await TestClient.join(url, { headers });
          clients.push(client);
          expect(client.welcome.type).toBe('welcome');
        }
      });

      if (can.seesClientForwardedProto)
        it('believes X-Forwarded-Proto for the Origin check only with TRUST_PROXY=true', async () => {
          const { host } = new URL(server.baseUrl);
          const headers = { Origin: `https://${host}`, 'X-Forwarded-Proto': 'https' };
          const refusal = await TestClient.refused(server.wsUrl(`/ws/${uniqueRoom()}`), { headers });
          expect(refusal).toMatchObject({ status: 403, body: { error: { code: 'bad_origin' } } });
          const behindProxy = await start({ TRUST_PROXY: 'true' });
          try {
            const proxied = { ...headers, Origin: `https://${new URL(behindProxy.baseUrl).host}` };
            const client = await TestClient.join(behindProxy.wsUrl(`/ws/${uniqueRoom()}`), { headers: proxied });
            expect(client.welcome.type).toBe('welcome');
            await client.close();
          } finally {
            await behindProxy.stop();
          }
        });

      it('accepts the Upgrade header in any letter case', async () => {
        const answer = await rawRequest(`/ws/${uniqueRoom()}`, { ...UPGRADE, Upgrade: 'WebSocket' });
        expect(answer.status).toBe(101);
      });

      if (can.seesMalformedUpgrades)
        it('refuses malformed upgrades with bad_upgrade, never a 500', async () => {
          const path = `/ws/${uniqueRoom()}`;
          const { 'Sec-WebSocket-Key': _key, ...keyless } = UPGRADE;
          for (const headers of [keyless, { ...UPGRADE, 'Sec-WebSocket-Key': 'short' }, { ...UPGRADE, Connection: 'keep-alive' }]) {
            expect(await rawRequest(path, headers), JSON.stringify(headers)).toMatchObject({
              status: 400,
              body: { error: { code: 'bad_upgrade', message: expect.any(String) } },
            });
          }
          const version8 = await rawRequest(path, { ...UPGRADE, 'Sec-WebSocket-Version': '8' });
          expect(version8).toMatchObject({ status: 426, body: { error: { code: 'bad_upgrade' } } });
          expect(version8.headers['sec-websocket-version']).toBe('13');
          expect(await rawRequest('/ws/a%00b', UPGRADE)).toMatchObject({ status: 400, body: { error: { code: 'bad_room' } } });
          await expectServing();
        });

      it('answers a plain GET on /ws/:room with 426 upgrade_required', async () => {
        const { status, body } = await getJson(`/ws/${uniqueRoom()}`);
        expect(status).toBe(426);
        expect(body.error.code).toBe('upgrade_required');
      });

      it('welcomes with room, epoch, seq, you, members and history', async () => {
        const room = uniqueRoom();
        const ann = await join(room.toUpperCase(), 'name=%20ann%20');
        expect(ann.frames[0]).toBe(ann.welcome);
        expect(ann.welcome).toMatchObject({ type: 'welcome', room, seq: 0, history: [] });
        expect(ann.welcome.epoch).toEqual(expect.any(String));
        expect(ann.welcome.you).toEqual({ id: expect.stringMatching(/^u_/), name: 'ann' });
        expect(ann.welcome.members).toEqual([ann.welcome.you]);
        expect(ann.welcome).not.toHaveProperty('recovered');
        const guest = await join(room);
        expect(guest.welcome.you.name).toMatch(/^guest-[a-z0-9]{4}$/);
        expect(guest.welcome.members).toEqual([ann.welcome.you, guest.welcome.you]);
      });

      it('treats Lobby and lobby as one room', async () => {
        const room = uniqueRoom();
        const upper = await join(room.toUpperCase());
        const lower = await join(room);
        expect(lower.welcome.members).toContainEqual(upper.welcome.you);
        const sent = await post(upper, 'same room');
        expect((await lower.next('message')).seq).toBe(sent.seq);
      });

      it('accepts and then closes with 1013 room_full when the room is at capacity', async () => {
        const room = uniqueRoom();
        const members = [];
        for (let i = 0; i < MAX_ROOM_MEMBERS; i++) members.push(await join(room));
        const late = await TestClient.open(server.wsUrl(`/ws/${room}`));
        clients.push(late);
        expect(await late.closed).toEqual({ code: 1013, reason: 'room_full' });
        expect(late.seen('welcome')).toEqual([]);
        // Presence may wait a moment to go out with others; a message takes it along first.
        await post(members[0]!, 'who is here?');
        expect(members[0]!.seen('presence')).toHaveLength(MAX_ROOM_MEMBERS - 1);
      });
    });

    describe('messages and presence', () => {
      it('delivers each message to every member, the sender included, with seq +1 and cid', async () => {
        const room = uniqueRoom();
        const ann = await join(room, 'name=ann');
        const bob = await join(room, 'name=bob');
        const before = Date.now();
        ann.send({ type: 'message', text: 'hello', cid: 'c1' });
        const own = await ann.next('message');
        const theirs = await bob.next('message');
        expect(own).toEqual(theirs);
        expect(own).toEqual({
          type: 'message',
          room,
          seq: 1,
          id: expect.stringMatching(/^m_/),
          from: ann.welcome.you,
          text: 'hello',
          ts: expect.any(Number),
          cid: 'c1',
        });
        expect(own.ts).toBeGreaterThanOrEqual(before - 5_000);
        expect(own.ts).toBeLessThanOrEqual(Date.now() + 5_000);
        bob.send({ type: 'message', text: 'no cid here' });
        const second = await bob.next('message');
        expect(second.seq).toBe(2);
        expect(second).not.toHaveProperty('cid');
        expect((await ann.next('message')).id).toBe(second.id);
      });

      it('keeps one order per room for every member', async () => {
        const room = uniqueRoom();
        const [ann, bob, cat] = [await join(room), await join(room), await join(room)];
        const sends = [ann, bob, cat].flatMap((client, i) => [0, 1, 2].map((j) => post(client, `m${i}-${j}`)));
        await Promise.all(sends);
        for (const client of [ann, bob, cat]) {
          while (client.seen('message').length < 9) await client.roundTrip();
          expect(client.seen('message').map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        }
        expect(ann.seen('message').map((m) => m.id)).toEqual(bob.seen('message').map((m) => m.id));
      });

      it('announces join and leave to the others with the count, not to the member itself', async () => {
        const room = uniqueRoom();
        const ann = await join(room, 'name=ann');
        const bob = await join(room, 'name=bob');
        expect(await ann.next('presence')).toEqual({
          type: 'presence',
          event: 'join',
          member: bob.welcome.you,
          count: 2,
        });
        await bob.roundTrip();
        expect(bob.seen('presence')).toEqual([]);
        await bob.close();
        expect(await ann.next('presence')).toEqual({
          type: 'presence',
          event: 'leave',
          member: bob.welcome.you,
          count: 1,
        });
      });

      it('tells every member of a burst of joins and leaves each one once, in order, after what its welcome said', async () => {
        const room = uniqueRoom();
        const first = await join(room, 'name=first', bulk);
        const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => join(room, `name=m${i}`, bulk)));
        await Promise.all(burst.slice(0, 4).map((client) => client.close()));
        const stayed = [first, ...burst.slice(4)];
        await expectEventually(async () => (await getJson(`/api/rooms/${room}`, bulk)).body.count === stayed.length);
        // Presence may wait a moment to go out with more of it; a message takes it along.
        const last = await post(first, 'all settled?');
        for (const client of stayed) {
          if (client !== first) await client.next((frame) => frame.type === 'message' && frame.id === last.id);
          // The welcome's members, then each presence applied in order: a join of someone
          // not yet there, a leave of someone there, and the count right after each.
          const present = new Set(client.welcome.members.map((member: { id: string }) => member.id));
          for (const { event, member, count } of client.seen('presence')) {
            expect(present.has(member.id), `${event} of ${member.name}`).toBe(event === 'leave');
            if (event === 'join') present.add(member.id);
            else present.delete(member.id);
            expect(count).toBe(present.size);
          }
          expect([...present].sort()).toEqual(stayed.map((member) => member.welcome.you.id).sort());
        }
      });

      it('relays typing to the others only', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        ann.send({ type: 'typing', active: true });
        expect(await bob.next('typing')).toEqual({ type: 'typing', from: ann.welcome.you, active: true });
        ann.send({ type: 'typing', active: false });
        expect(await bob.next('typing')).toMatchObject({ active: false });
        await ann.roundTrip();
        expect(ann.seen('typing')).toEqual([]);
        const history = await getJson(`/api/rooms/${room}/messages`);
        expect(history.body.messages).toEqual([]);
      });

      it('renames: the others hear it, later messages carry the new name', async () => {
        const room = uniqueRoom();
        const ann = await join(room, 'name=ann');
        const bob = await join(room, 'name=bob');
        await ann.next('presence');
        ann.send({ type: 'rename', name: '  ann2  ' });
        const renamed = { id: ann.welcome.you.id, name: 'ann2' };
        expect(await bob.next('presence')).toEqual({ type: 'presence', event: 'rename', member: renamed, count: 2 });
        expect((await post(ann, 'as ann2')).from).toEqual(renamed);
        expect(ann.seen('presence')).toHaveLength(1); // only bob's join
        expect((await getJson(`/api/rooms/${room}`)).body.members).toContainEqual(renamed);
      });

      it('refuses an invalid rename with bad_name and keeps the old name', async () => {
        const room = uniqueRoom();
        const ann = await join(room, 'name=ann');
        for (const name of ['   ', 'x'.repeat(33), 'new\nline']) {
          ann.send({ type: 'rename', name });
          expect(await ann.next('error')).toMatchObject({ type: 'error', code: 'bad_name' });
        }
        expect((await post(ann, 'still ann')).from.name).toBe('ann');
      });

      it('answers ping with pong', async () => {
        const ann = await join(uniqueRoom());
        ann.send({ type: 'ping' });
        expect(await ann.next('pong')).toEqual({ type: 'pong' });
      });
    });

    describe('errors keep the connection open', () => {
      it('bad_json for a frame that is not JSON', async () => {
        const ann = await join(uniqueRoom());
        ann.send('{"type":"message",');
        expect(await ann.next('error')).toEqual({ type: 'error', code: 'bad_json', message: expect.any(String) });
        expect((await post(ann, 'after bad json')).seq).toBe(1);
      });

      it('bad_message naming the field for frames the schema refuses, and for binary frames', async () => {
        const ann = await join(uniqueRoom());
        ann.send({ type: 'shout', text: 'hi' });
        expect((await ann.next('error')).code).toBe('bad_message');
        ann.send({ type: 'message', text: 42, cid: 'c7' });
        const wrongType = await ann.next('error');
        expect(wrongType).toMatchObject({ code: 'bad_message', cid: 'c7' });
        expect(wrongType.message).toContain('text');
        ann.send({ type: 'typing', active: 'yes' });
        expect((await ann.next('error')).message).toContain('active');
        ann.send('[1,2,3]');
        expect((await ann.next('error')).code).toBe('bad_message');
        ann.socket.send(Buffer.from([1, 2, 3]), { binary: true });
        expect((await ann.next('error')).code).toBe('bad_message');
        expect((await post(ann, 'after bad messages')).seq).toBe(1);
      });

      it('bad_text for empty or too long text, which is not broadcast', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        ann.send({ type: 'message', text: ' \n\t ', cid: 'blank' });
        expect(await ann.next('error')).toMatchObject({ code: 'bad_text', cid: 'blank' });
        ann.send({ type: 'message', text: 'x'.repeat(2001), cid: 'long' });
        expect(await ann.next('error')).toMatchObject({ code: 'bad_text', cid: 'long' });
        // 2000 characters outside the BMP are 4000 UTF-16 units and still allowed.
        const emoji = '😀'.repeat(2000);
        expect((await post(ann, emoji)).text).toBe(emoji);
        expect((await bob.next('message')).seq).toBe(1);
      });

      it('bad_text for a text of only invisible characters, which is not broadcast', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        ann.send({ type: 'message', text: '\u200B\u200D\u2060 \uFEFF', cid: 'ghost' });
        expect(await ann.next('error')).toMatchObject({ code: 'bad_text', cid: 'ghost' });
        const rtl = await post(ann, 'مرحبا \u202Eworld');
        expect((await bob.next('message')).seq).toBe(rtl.seq);
        expect(bob.seen('message')).toHaveLength(1);
      });

      it('rate_limited over the budget with retryAfterMs; the message is not delivered', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        for (let i = 0; i < 25; i++) ann.send({ type: 'message', text: `burst ${i}`, cid: `b${i}` });
        const limited = await ann.next('error');
        expect(limited).toMatchObject({ code: 'rate_limited', cid: expect.stringMatching(/^b\d+$/) });
        expect(limited.retryAfterMs).toBeGreaterThan(0);
        // Every frame is answered: its message comes back, or an error names it.
        const answered = () => ann.seen((f) => (f.type === 'message' || f.type === 'error') && /^b\d+$/.test(f.cid));
        await expectEventually(async () => answered().length >= 25);
        expect(answered()).toHaveLength(25);
        const accepted = ann.seen('message').map((m) => m.cid);
        const refused = ann.seen('error').map((e) => e.cid);
        expect(accepted.length).toBeGreaterThanOrEqual(20);
        await expectEventually(async () => bob.seen('message').length >= accepted.length);
        expect(bob.seen('message').map((m) => m.cid)).toEqual(accepted);
        expect(refused.some((cid) => accepted.includes(cid))).toBe(false);
      });

      it('closes with 1008 a client that keeps flooding', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        for (let i = 0; i < 200; i++) ann.send({ type: 'typing', active: i % 2 === 0 });
        const { code } = await ann.closed;
        expect(code).toBe(1008);
        expect(await bob.next((f) => f.type === 'presence' && f.event === 'leave')).toMatchObject({
          member: ann.welcome.you,
        });
        await expectServing();
      });

      it('closes with 1009 a frame over MAX_FRAME_BYTES, and serves the others on', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        ann.send({ type: 'message', text: 'x'.repeat(20_000) });
        expect((await ann.closed).code).toBe(1009);
        expect((await bob.next('presence')).event).toBe('leave');
        expect((await post(bob, 'still here')).seq).toBe(1);
        await expectServing();
      });

      it('handles close frames with codes no endpoint may send, and serves the others on', async () => {
        const room = uniqueRoom();
        const bob = await join(room);
        for (const code of [999, 1004, 1015, 5000]) {
          const ann = await join(room);
          await bob.next((f) => f.type === 'presence' && f.event === 'join');
          // Written by hand: ws refuses to send such a code. Masked with a zero key.
          const frame = Buffer.from([0x88, 0x82, 0, 0, 0, 0, code >> 8, code & 0xff]);
          ann.tcp.write(frame);
          expect(await bob.next((f) => f.type === 'presence' && f.event === 'leave')).toMatchObject({
            member: ann.welcome.you,
          });
          await ann.closed;
        }
        expect((await post(bob, 'still here')).seq).toBe(1);
        expect(server.output()).not.toMatch(/uncaught|exception/i);
        await expectServing();
      });

      if (can.invalidUtf8Close)
        it('closes with 1007 a text frame that is not valid UTF-8, and serves the others on', async () => {
          const room = uniqueRoom();
          const ann = await join(room);
          const bob = await join(room);
          ann.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
          expect((await ann.closed).code).toBe(1007);
          expect(await bob.next('presence')).toMatchObject({ event: 'leave', member: ann.welcome.you });
          expect((await post(bob, 'still here')).seq).toBe(1);
        });

      it('survives a connection reset and announces the leave', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        ann.tcp.destroy();
        expect(await bob.next('presence')).toMatchObject({ event: 'leave', member: ann.welcome.you });
        await expectServing();
      });
    });

    describe('history and resume', () => {
      async function roomWithMessages(count: number) {
        const room = uniqueRoom();
        const keeper = await join(room, 'name=keeper');
        for (let i = 1; i <= count; i++) await post(keeper, `message ${i}`);
        return { room, keeper, epoch: keeper.welcome.epoch as string };
      }

      it('sends the last HISTORY_LIMIT messages, oldest first, without since', async () => {
        const { room } = await roomWithMessages(HISTORY_LIMIT + 2);
        const late = await join(room);
        expect(late.welcome.seq).toBe(HISTORY_LIMIT + 2);
        expect(late.welcome.history.map((m: Frame) => m.seq)).toEqual([3, 4, 5, 6, 7]);
        expect(late.welcome.history[0]).toMatchObject({ type: 'message', text: 'message 3' });
      });

      it('resumes with since + epoch: exactly the missed messages, recovered true', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const bob = await join(room);
        await post(ann, 'seen by bob');
        const lastSeen = (await bob.next('message')).seq;
        await bob.close();
        // Gone from the room (on every instance of a cluster) before two more join it.
        await expectEventually(async () => (await getJson(`/api/rooms/${room}`)).body.count === 1);
        for (const text of ['missed 1', 'missed 2', 'missed 3']) await post(ann, text);
        const back = await join(room, `since=${lastSeen}&epoch=${bob.welcome.epoch}`);
        expect(back.welcome.recovered).toBe(true);
        expect(back.welcome.seq).toBe(4);
        expect(back.welcome.history.map((m: Frame) => m.text)).toEqual(['missed 1', 'missed 2', 'missed 3']);
        const upToDate = await join(room, `since=4&epoch=${bob.welcome.epoch}`);
        expect(upToDate.welcome).toMatchObject({ recovered: true, history: [] });
      });

      it('says recovered false when more than HISTORY_LIMIT were missed', async () => {
        const { room, epoch } = await roomWithMessages(HISTORY_LIMIT + 2);
        const back = await join(room, `since=1&epoch=${epoch}`);
        expect(back.welcome.recovered).toBe(false);
        expect(back.welcome.history.map((m: Frame) => m.seq)).toEqual([3, 4, 5, 6, 7]);
      });

      it('says recovered false for another epoch, a missing epoch or a since from the future', async () => {
        const { room, epoch } = await roomWithMessages(2);
        for (const query of ['since=1&epoch=other', 'since=1', `since=9&epoch=${epoch}`]) {
          const back = await join(room, query);
          expect(back.welcome.recovered).toBe(false);
          expect(back.welcome.history.map((m: Frame) => m.seq)).toEqual([1, 2]);
          await back.close();
        }
      });

      if (can.idleEviction) {
        /** Closes the room's only member and waits until the server has let the room go. */
        async function leaveUntilReleased(room: string, member: TestClient) {
          await member.close();
          await bulk.waitForOutput((output) => output.includes(`"event":"room_released","room":"${room}"`));
        }

        if (storage === 'memory') {
          it('forgets an empty room after ROOM_IDLE_TTL_MS: a new epoch, recovered false', async () => {
            const room = uniqueRoom();
            const ann = await join(room, '', bulk);
            await post(ann, 'before the room is forgotten');
            await leaveUntilReleased(room, ann);
            expect(await getJson(`/api/rooms/${room}`, bulk)).toMatchObject({ status: 404 });
            const back = await join(room, `since=1&epoch=${ann.welcome.epoch}`, bulk);
            expect(back.welcome.epoch).not.toBe(ann.welcome.epoch);
            expect(back.welcome).toMatchObject({ recovered: false, seq: 0, history: [] });
          });
        } else {
          it('lets an empty room go from memory after ROOM_IDLE_TTL_MS and keeps its history', async () => {
            const room = uniqueRoom();
            const ann = await join(room, '', bulk);
            const kept = await post(ann, 'kept after the room is let go');
            await leaveUntilReleased(room, ann);
            const { epoch } = ann.welcome;
            expect((await getJson(`/api/rooms/${room}`, bulk)).body).toEqual({ room, count: 0, members: [], seq: 1, epoch });
            const back = await join(room, `since=0&epoch=${epoch}`, bulk);
            expect(back.welcome).toMatchObject({ epoch, recovered: true, seq: 1, history: [kept] });
          });
        }
      }
    });

    if (can.slowConsumerClose || can.protocolPings) {
      describe('slow and silent clients', () => {
        if (can.slowConsumerClose) {
          it('closes only the members whose own unsent output passes 1 MiB, with 1013 slow_consumer', async () => {
            const room = uniqueRoom();
            const slow = [await join(room, 'name=slow1', bulk), await join(room, 'name=slow2', bulk)];
            const readers = [await join(room, 'name=reader1', bulk), await join(room, 'name=reader2', bulk)];
            const sender = await join(room, 'name=sender', bulk);
            for (const member of [...slow, ...readers]) await member.next((f) => f.type === 'presence' && f.member.name === 'sender');
            const paused = slow.map((client) => client.tcp);
            for (const socket of paused) socket.pause();
            const text = 'x'.repeat(50_000);
            const slowLeft = () =>
              sender
                .seen((f) => f.type === 'presence' && f.event === 'leave')
                .map((f) => f.member.name)
                .sort();
            // Bounded: at most 2,000 × 50 kB, far more than any socket buffer holds. The
            // readers take each batch before the next is sent, so that their queues stay
            // under half of the limit however slowly this busy test process reads.
            for (let batch = 0; batch < 200 && slowLeft().length < slow.length; batch++) {
              for (let i = 0; i < 9; i++) sender.send({ type: 'message', text });
              const { seq } = await post(sender, text);
              for (const reader of readers) await reader.next((f) => f.type === 'message' && f.seq === seq);
            }
            expect(slowLeft()).toEqual(['slow1', 'slow2']);
            for (const socket of paused) socket.resume();
            for (const client of slow) expect(await client.closed).toEqual({ code: 1013, reason: 'slow_consumer' });
            const last = await post(sender, 'the room goes on');
            for (const reader of readers) {
              expect((await reader.next((f) => f.type === 'message' && f.seq === last.seq)).text).toBe('the room goes on');
              expect(reader.socket.readyState).toBe(reader.socket.OPEN);
            }
            expect(sender.socket.readyState).toBe(sender.socket.OPEN);
          });
        }

        if (can.protocolPings) {
          it('terminates a client that stops answering protocol pings, and announces its leave', async () => {
            const room = uniqueRoom();
            const silent = await TestClient.join(server.wsUrl(`/ws/${room}`), { autoPong: false });
            clients.push(silent);
            const watcher = await join(room);
            expect(await watcher.next('presence', 5_000)).toMatchObject({
              event: 'leave',
              member: silent.welcome.you,
            });
            // Dropped (1006), or closed as going away (1001) where the runtime does the pinging.
            expect([1006, 1001]).toContain((await silent.closed).code);
          });
        }
      });
    }

    describe('limits per client', () => {
      let limited: RunningServer;
      beforeAll(async () => {
        limited = await start(LIMITS_ENV);
      }, 120_000);
      afterAll(() => limited?.stop());

      const joinFrom = async (address: string, room: string) => {
        const client = await TestClient.join(limited.wsUrl(`/ws/${room}`), { localAddress: address });
        clients.push(client);
        return client;
      };
      /** Sends `count` messages and returns how many were accepted, once every answer is in. */
      const burst = async (client: TestClient, count: number) => {
        const tag = `b${Math.random().toString(36).slice(2)}`;
        for (let i = 0; i < count; i++) client.send({ type: 'message', text: `${tag} ${i}`, cid: `${tag}-${i}` });
        const answered = (f: Frame) => typeof f.cid === 'string' && f.cid.startsWith(tag);
        for (let i = 0; i < count; i++) await client.next(answered);
        return client.seen((f) => answered(f) && f.type === 'message').length;
      };

      it("shares one message budget among all of a client's connections, in every room, across reconnects", async () => {
        const roomA = uniqueRoom();
        const roomB = can.clientBudgetAcrossRooms ? uniqueRoom() : roomA;
        const own = [await joinFrom('127.0.0.2', roomA), await joinFrom('127.0.0.2', roomA), await joinFrom('127.0.0.2', roomB)];
        let accepted = 0;
        for (const client of own) accepted += await burst(client, 4);
        // 5 at once, and perhaps one more refilled meanwhile (1 a second), of 12 sent.
        expect(accepted).toBeGreaterThanOrEqual(5);
        expect(accepted).toBeLessThanOrEqual(6);
        const refusal = own.flatMap((client) => client.seen('error'))[0]!;
        expect(refusal).toMatchObject({ code: 'rate_limited', retryAfterMs: expect.any(Number) });
        for (const client of own) await client.close();
        const back = await joinFrom('127.0.0.2', roomA);
        expect(await burst(back, 3)).toBeLessThanOrEqual(1);
        // Another client, in the same room, has its own budget.
        const other = await joinFrom('127.0.0.3', roomA);
        expect(await burst(other, 3)).toBe(3);
        await Promise.all([back.close(), other.close()]);
      });

      it('answers too many HTTP requests from one client with 429 rate_limited and Retry-After', async () => {
        const answers = [];
        for (let i = 0; i < 14; i++) answers.push(await getFrom('127.0.0.4', `${limited.baseUrl}/api/rooms/${uniqueRoom()}`));
        const limitedAnswers = answers.filter((answer) => answer.status === 429);
        expect(limitedAnswers.length).toBeGreaterThanOrEqual(3);
        expect(limitedAnswers[0]!.body.error.code).toBe('rate_limited');
        expect(Number(limitedAnswers[0]!.headers['retry-after'])).toBeGreaterThan(0);
        expect((await getFrom('127.0.0.5', `${limited.baseUrl}/api/rooms/${uniqueRoom()}`)).status).toBe(404);
        expect((await getFrom('127.0.0.4', `${limited.baseUrl}/healthz`)).status).toBe(200);
      });

      if (can.handshakeTimeout)
        it('drops connections that send no whole request within HANDSHAKE_TIMEOUT_MS', async () => {
          const port = Number(new URL(limited.baseUrl).port);
          const closed = (socket: ReturnType<typeof connect>) => new Promise((resolve) => socket.once('close', resolve));
          const member = await joinFrom('127.0.0.10', uniqueRoom());
          const silent = connect(port, '127.0.0.1').on('error', () => {});
          const trickle = connect(port, '127.0.0.1').on('error', () => {});
          trickle.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
          // One header byte every 100 ms, at most for 20 s: a client that never finishes.
          const timer = setInterval(() => trickle.writable && trickle.write('X'), 100);
          const stopAt = setTimeout(() => clearInterval(timer), 20_000);
          await Promise.all([closed(silent), closed(trickle)]);
          clearInterval(timer);
          clearTimeout(stopAt);
          expect((await getJson('/healthz', limited)).status).toBe(200);
          // An open WebSocket is no handshake: it outlives the timeout.
          await member.roundTrip();
          await member.close();
        });

      if (can.connectionCaps)
        it('caps open connections per client (429) and in all (503), before the upgrade', async () => {
          const room = uniqueRoom();
          const mine = [];
          for (let i = 0; i < 3; i++) mine.push(await joinFrom('127.0.0.6', room));
          const refused = await TestClient.refused(limited.wsUrl(`/ws/${room}`), { localAddress: '127.0.0.6' });
          expect(refused).toMatchObject({ status: 429, body: { error: { code: 'too_many_connections' } } });
          expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
          // Another client still gets in, and a closed connection frees its place.
          const others = [await joinFrom('127.0.0.7', room), await joinFrom('127.0.0.7', room)];
          await mine.pop()!.close();
          await expectEventually(async () => {
            try {
              mine.push(await joinFrom('127.0.0.6', room));
              return true;
            } catch {
              return false;
            }
          });
          // Six open: the server is full for everyone.
          others.push(await joinFrom('127.0.0.8', room));
          const full = await TestClient.refused(limited.wsUrl(`/ws/${room}`), { localAddress: '127.0.0.9' });
          expect(full).toMatchObject({ status: 503, body: { error: { code: 'server_full' } } });
          expect(Number(full.headers['retry-after'])).toBeGreaterThan(0);
          for (const client of [...mine, ...others]) await client.close();
        });
    });

    if (can.survivesDescriptorLimit)
      it('keeps serving its members at the file-descriptor limit, and recovers', async () => {
        const tight = await startServer({ runtime, env: storageEnv, fileLimit: 128 });
        const port = Number(new URL(tight.baseUrl).port);
        const flood: ReturnType<typeof connect>[] = [];
        try {
          const room = uniqueRoom();
          const member = await TestClient.join(tight.wsUrl(`/ws/${room}`));
          // More bare connections than the process may have descriptors: the kernel takes
          // them all; the server cannot accept them all.
          await Promise.all(
            Array.from({ length: 300 }, () => {
              const socket = connect(port, '127.0.0.1').on('error', () => {});
              flood.push(socket);
              return new Promise((resolve) => socket.once('connect', resolve).once('close', resolve));
            }),
          );
          expect((await post(member, 'at the limit')).text).toBe('at the limit');
          for (const socket of flood) socket.destroy();
          // Newcomers get in again, retrying as the page does (an attempt may be reset).
          let late: TestClient | undefined;
          await expectEventually(async () => {
            late = await TestClient.join(tight.wsUrl(`/ws/${room}`)).catch(() => undefined);
            return late !== undefined;
          });
          expect(late!.welcome.history.map((m: Frame) => m.text)).toEqual(['at the limit']);
          expect((await fetch(`${tight.baseUrl}/healthz`)).ok).toBe(true);
          await Promise.all([member.close(), late!.close()]);
        } finally {
          for (const socket of flood) socket.destroy();
          await tight.stop();
        }
      });

    describe('logs', () => {
      it('writes one JSON line per open and close, without message text', async () => {
        const room = uniqueRoom();
        const ann = await join(room);
        const secret = `secret-${Math.random()}`;
        await post(ann, secret);
        await ann.close();
        const id = ann.welcome.you.id;
        const lines = () =>
          server
            .output()
            .split('\n')
            .filter((line) => line.includes(id))
            .map((line) => JSON.parse(line.slice(line.indexOf('{'))));
        await server.waitForOutput(() => lines().length >= 2);
        expect(lines()).toEqual([
          expect.objectContaining({ event: 'ws_open', room, member: id }),
          expect.objectContaining({ event: 'ws_close', room, member: id, code: 1000, durationMs: expect.any(Number) }),
        ]);
        expect(server.output()).not.toContain(secret);
      });
    });

    if (can.gracefulShutdown) {
      describe('shutdown', () => {
        it('closes every socket with 1001 on SIGTERM and exits within 5 s', async () => {
          const doomed = await start();
          const room = uniqueRoom();
          const ann = await TestClient.join(doomed.wsUrl(`/ws/${room}`));
          const bob = await TestClient.join(doomed.wsUrl(`/ws/${room}`));
          const stoppedAt = Date.now();
          const exit = doomed.stop('SIGTERM');
          expect((await ann.closed).code).toBe(1001);
          expect((await bob.closed).code).toBe(1001);
          expect(await exit).toBe(0);
          expect(Date.now() - stoppedAt).toBeLessThan(5_000);
          expect(bob.seen('presence')).toEqual([]);
        });
      });
    }

    describe('restarts', () => {
      if (storage === 'memory') {
        it('starts a new epoch after a restart, so a resuming client is told it missed history', async () => {
          const first = await start();
          const room = uniqueRoom();
          const ann = await TestClient.join(first.wsUrl(`/ws/${room}`));
          ann.send({ type: 'message', text: 'before the restart', cid: 'r1' });
          const { seq } = await ann.next('message');
          await first.stop('SIGTERM');
          await ann.closed;
          const second = await start();
          try {
            const back = await TestClient.join(second.wsUrl(`/ws/${room}?since=${seq}&epoch=${ann.welcome.epoch}`));
            expect(back.welcome.epoch).not.toBe(ann.welcome.epoch);
            expect(back.welcome).toMatchObject({ recovered: false, seq: 0, history: [] });
            await back.close();
          } finally {
            await second.stop();
          }
        });
      } else {
        it('keeps history, seq and epoch across a restart and a crash; resumes recover exactly what was missed', async () => {
          const dataDir = mkdtempSync(joinPath(tmpdir(), `edgechat-restart-${runtime}-`));
          const room = uniqueRoom();
          let current = await start({ DATA_DIR: dataDir });
          try {
            const ann = await TestClient.join(current.wsUrl(`/ws/${room}?name=ann`));
            const bob = await TestClient.join(current.wsUrl(`/ws/${room}?name=bob`));
            const first = await post(ann, 'seen by bob');
            expect(await bob.next('message')).toEqual(first);
            await bob.close();
            const missed = [await post(ann, 'missed 1'), await post(ann, 'missed 2')];
            const { epoch } = ann.welcome;

            await current.stop('SIGTERM');
            await ann.closed;
            current = await start({ DATA_DIR: dataDir });
            const fresh = await TestClient.join(current.wsUrl(`/ws/${room}`));
            expect(fresh.welcome).toMatchObject({ epoch, seq: 3, history: [first, ...missed] });
            const back = await TestClient.join(current.wsUrl(`/ws/${room}?since=${first.seq}&epoch=${epoch}`));
            expect(back.welcome).toMatchObject({ epoch, seq: 3, recovered: true, history: missed });
            const after = await post(back, 'after the restart');
            expect(after.seq).toBe(4);

            // A crash (SIGKILL: no shutdown at all) loses no accepted message either.
            await current.stop('SIGKILL');
            current = await start({ DATA_DIR: dataDir });
            const again = await TestClient.join(current.wsUrl(`/ws/${room}?since=3&epoch=${epoch}`));
            expect(again.welcome).toMatchObject({ epoch, seq: 4, recovered: true, history: [after] });
            expect((await post(again, 'and on')).seq).toBe(5);
            await again.close();
          } finally {
            await current.stop();
          }
        });
      }
    });

    it('still serves after all of the above', async () => {
      await expectServing(server);
      await expectServing(bulk);
    });
  });
}
