// The HTTP face of edgechat, the same on every runtime: health, metrics, the room API and
// the checks in front of the WebSocket upgrade. Where rooms live (this process, or a
// Durable Object) is behind RoomBackend; the chat page comes from the runtime's `assets`.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { timingSafeEqual } from 'hono/utils/buffer';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { Authenticator, memberIdOf, TokenRefused, type Identity } from './auth.ts';
import { clientOf } from './client.ts';
import type { Config } from './config.ts';
import type { ConnectionCounter, Lease } from './connections.ts';
import { ClientBuckets } from './rate-limit.ts';
import type { JoinRequest, TokenMember } from './room.ts';
import type { HistoryQuery, MessageDraft } from './store.ts';
import { logEvent } from './log.ts';
import {
  BackendPost,
  JoinQuery,
  MessagesQuery,
  RoomName,
  SequenceParam,
  describeIssues,
  textProblem,
  type ChatMessage,
  type HttpErrorCode,
  type Member,
  type RoomInfo,
  type RoomMessages,
} from './protocol.ts';

/**
 * Where rooms live. A read of a room that has neither members nor stored messages answers
 * undefined (404 no_room) and must leave nothing behind.
 */
export interface RoomBackend {
  info(room: string): RoomInfo | undefined | Promise<RoomInfo | undefined>;
  messages(room: string, query: HistoryQuery): RoomMessages | undefined | Promise<RoomMessages | undefined>;
  /**
   * Upgrades a request that passed every check and joins the room; `lease` (where
   * connections are counted) is told when the socket opens and released when it closes.
   * A member banned from the room is refused instead (see `banned`).
   */
  connect(c: Context, room: string, join: JoinRequest, lease?: Lease): Response | Promise<Response>;
  /** The backend's publish: stores a message and delivers it like any other. */
  publish(room: string, draft: MessageDraft): Promise<ChatMessage>;
  /** The backend's delete; false when the room retains no message `seq`. */
  remove(room: string, seq: number, by: Member): Promise<boolean>;
}

/** Who the backend's API acts as when it names nobody (a publish without `from`, every delete). */
export const SERVICE_MEMBER: Member = { id: 'service', name: 'service' };

/** The refusal of a member banned from the room until `until` (ms since the epoch). */
export function banned(until: number): Response {
  const message = `you are banned from this room until ${new Date(until).toISOString()}`;
  return Response.json({ error: { code: 'banned', message } }, { status: 403 });
}

export interface AppOptions {
  config: Config;
  rooms: RoomBackend;
  /** Prometheus text for /metrics; runtimes without a process to measure leave it out. */
  metrics?: () => string;
  /** Serves static/ (the chat page); registered after every other route. */
  assets?: MiddlewareHandler;
  /** The runtime's reader of the socket's address (Hono's getConnInfo for it). */
  connInfo: GetConnInfo;
  /** Counts open WebSockets for the caps; runtimes that cannot count leave it out. */
  connections?: ConnectionCounter;
  /** Why rooms cannot work right now (their storage is unreachable), or undefined. */
  problem?: () => string | undefined;
}

/** What a client is told to wait before it tries again, in seconds. */
const RETRY_AFTER_S = { tooMany: 10, full: 30, unavailable: 5 };

/** The request's client (see clientOf), set before any route runs. */
export type AppEnv = { Variables: { client: string } };

export function createApp(options: AppOptions): Hono<AppEnv> {
  const { config, rooms, metrics, assets, connInfo, connections, problem = () => undefined } = options;
  const app = new Hono<AppEnv>();
  const auth = new Authenticator(config);
  /** The identity behind the request's token for `room`, or the refusal to answer with. */
  const admit = async (c: Context, room: string): Promise<Identity | undefined | Response> => {
    try {
      return await auth.admit(tokenOf(c), room);
    } catch (error) {
      if (error instanceof TokenRefused) return httpError(c, error.status, error.code, error.message);
      throw error;
    }
  };
  /** While the rooms' storage is unreachable, what needs it is refused (503) rather than failed. */
  const unavailable = (c: Context) => {
    const reason = problem();
    if (reason === undefined) return undefined;
    return httpError(c, 503, 'unavailable', `rooms are unavailable: ${reason}`, {
      'retry-after': String(RETRY_AFTER_S.unavailable),
    });
  };

  // Not budgeted: a load balancer may ask as often as it likes. Degraded (503) lets it
  // drain this instance while the rooms' storage is unreachable.
  app.get('/healthz', (c) => {
    const reason = problem();
    return reason === undefined ? c.json({ status: 'ok' }) : c.json({ status: 'degraded', reason }, 503);
  });

  const httpBudget = config.httpRate && new ClientBuckets(config.httpRate);
  /** Whether the request shows the backend's API key (compared in constant time). */
  const fromBackend = async (c: Context) => {
    const shown = c.req.header('authorization');
    return config.apiKey !== undefined && shown !== undefined && (await timingSafeEqual(shown, `Bearer ${config.apiKey}`));
  };
  app.use('*', async (c, next) => {
    const client = clientOf(c, config.trustProxy, connInfo);
    c.set('client', client);
    // The app's own backend is not a client to hold back.
    if (c.req.method !== 'GET' && (await fromBackend(c))) return next();
    const now = Date.now();
    const waitMs = httpBudget?.of(client, now).take(now) ?? 0;
    if (waitMs > 0) {
      return httpError(c, 429, 'rate_limited', `too many requests; wait ${waitMs} ms`, {
        'retry-after': String(Math.ceil(waitMs / 1000)),
      });
    }
    await next();
  });

  if (metrics) {
    app.get('/metrics', (c) => c.text(metrics(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  }

  app.get('/api/rooms/:room', async (c) => {
    const room = RoomName.safeParse(c.req.param('room'));
    if (!room.success) return httpError(c, 400, 'bad_room', describeIssues(room.error, 'room'));
    const identity = await admit(c, room.data);
    if (identity instanceof Response) return identity;
    return unavailable(c) ?? found(c, room.data, await rooms.info(room.data));
  });

  app.get('/api/rooms/:room/messages', async (c) => {
    const room = RoomName.safeParse(c.req.param('room'));
    if (!room.success) return httpError(c, 400, 'bad_room', describeIssues(room.error, 'room'));
    const query = MessagesQuery.safeParse(c.req.query());
    if (!query.success) {
      const field = String(query.error.issues[0]?.path[0]);
      const code = field === 'limit' ? 'bad_limit' : field === 'since' ? 'bad_since' : 'bad_query';
      return httpError(c, 400, code, describeIssues(query.error));
    }
    const { since, before, limit } = query.data;
    if (since !== undefined && before !== undefined) {
      return httpError(c, 400, 'bad_query', 'give since (newer pages) or before (older pages), not both');
    }
    const capped = Math.min(limit ?? config.historyLimit, config.historyLimit);
    const identity = await admit(c, room.data);
    if (identity instanceof Response) return identity;
    return unavailable(c) ?? found(c, room.data, await rooms.messages(room.data, { since, before, limit: capped }));
  });

  if (config.apiKey !== undefined) {
    const roomOf = (c: Context) => RoomName.safeParse(c.req.param('room'));
    const keyRequired = (c: Context) => httpError(c, 401, 'bad_token', 'this route needs the API key as Authorization: Bearer <key>');
    app.post(
      '/api/rooms/:room/messages',
      bodyLimit({
        maxSize: config.maxFrameBytes,
        onError: (c) => httpError(c, 413, 'too_large', `the body is larger than ${config.maxFrameBytes} bytes`),
      }),
      async (c) => {
        if (!(await fromBackend(c))) return keyRequired(c);
        const room = roomOf(c);
        if (!room.success) return httpError(c, 400, 'bad_room', describeIssues(room.error, 'room'));
        let json: unknown;
        try {
          json = await c.req.json();
        } catch {
          return httpError(c, 400, 'bad_message', 'the body is not valid JSON');
        }
        const body = BackendPost.safeParse(json);
        if (!body.success) {
          const field = String(body.error.issues[0]?.path[0]);
          return httpError(c, 400, field === 'text' ? 'bad_text' : 'bad_message', describeIssues(body.error, 'body'));
        }
        const { text, from, cid } = body.data;
        const problem = textProblem(text, config.maxText);
        if (problem) return httpError(c, 400, 'bad_text', problem);
        const sender = from ? { id: await memberIdOf(from.id), name: from.name } : SERVICE_MEMBER;
        const stored = await rooms.publish(room.data, { from: sender, text, ts: Date.now(), cid });
        return c.json(stored, 201);
      },
    );
    app.delete('/api/rooms/:room/messages/:seq', async (c) => {
      if (!(await fromBackend(c))) return keyRequired(c);
      const room = roomOf(c);
      if (!room.success) return httpError(c, 400, 'bad_room', describeIssues(room.error, 'room'));
      const seq = SequenceParam.safeParse(c.req.param('seq'));
      if (!seq.success || seq.data === 0) return httpError(c, 400, 'bad_query', 'seq: must be an integer >= 1');
      if (!(await rooms.remove(room.data, seq.data, SERVICE_MEMBER))) {
        return httpError(c, 404, 'not_found', `message ${seq.data} is not in this room's history`);
      }
      return c.body(null, 204);
    });
  }

  app.get('/ws/:room', async (c) => {
    const room = RoomName.safeParse(c.req.param('room'));
    if (!room.success) return httpError(c, 400, 'bad_room', describeIssues(room.error, 'room'));
    const query = JoinQuery.safeParse(c.req.query());
    if (!query.success) {
      const field = String(query.error.issues[0]?.path[0]);
      return httpError(c, 400, field === 'since' ? 'bad_since' : 'bad_name', describeIssues(query.error));
    }
    if (!originAllowed(c, config)) {
      return httpError(c, 403, 'bad_origin', 'this origin may not open chat connections');
    }
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      return httpError(c, 426, 'upgrade_required', 'connect with a WebSocket client', {
        upgrade: 'websocket',
      });
    }
    const malformed = upgradeProblem(c) ?? unavailable(c);
    if (malformed) return malformed;
    const identity = await admit(c, room.data);
    if (identity instanceof Response) return identity;
    // An identified client is its `sub` for every per-client limit, wherever it connects from.
    const client = identity ? `sub:${identity.sub}` : c.get('client');
    const lease = connections?.admit(client);
    if (lease === 'too_many_connections') {
      return httpError(c, 429, 'too_many_connections', 'this client has too many open connections', {
        'retry-after': String(RETRY_AFTER_S.tooMany),
      });
    }
    if (lease === 'server_full') {
      return httpError(c, 503, 'server_full', 'the server is at its connection limit', {
        'retry-after': String(RETRY_AFTER_S.full),
      });
    }
    try {
      const member = identity && (await tokenMember(identity, auth.moderates(identity, room.data)));
      const name = query.data.name === undefined ? undefined : ownCopy(query.data.name);
      return await rooms.connect(c, room.data, { ...query.data, name, client, member }, lease);
    } catch (error) {
      lease?.release();
      throw error;
    }
  });

  if (assets) {
    app.use(
      '*',
      secureHeaders({
        contentSecurityPolicy: {
          defaultSrc: ["'self'"],
          connectSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
        },
      }),
      assets,
    );
  }

  app.notFound((c) => httpError(c, 404, 'not_found', `nothing at ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => {
    logEvent('http_fault', { path: c.req.path, error: String(error) });
    return httpError(c, 500, 'internal', 'internal error');
  });
  return app;
}

/**
 * A string of its own. A query parameter is cut from the request's URL, and engines keep
 * such a cut as a view of the whole URL (JavaScriptCore even a short one, V8 from 13
 * characters on), which a member's name would keep alive while the member is connected.
 */
function ownCopy(text: string): string {
  return [...text].join('');
}

/** A token as `Authorization: Bearer …`, or as `?token=` (a browser's WebSocket cannot set headers). */
function tokenOf(c: Context): string | undefined {
  const header = c.req.header('authorization');
  if (header?.toLowerCase().startsWith('bearer ')) return header.slice(7).trim() || undefined;
  return c.req.query('token') || undefined;
}

/** The member a token makes. */
async function tokenMember({ sub, name, expiresAt }: Identity, moderator: boolean): Promise<TokenMember> {
  return { id: await memberIdOf(sub), name, expiresAt, ...(moderator && { role: 'moderator' as const }) };
}

/** A nonce of 16 random bytes in base64 (RFC 6455 §4.1). */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Refuses a WebSocket upgrade that RFC 6455 §4.2.1 does not allow, before the runtime's
 * own upgrade code sees it (which would answer 500, or accept it).
 */
function upgradeProblem(c: Context): Response | undefined {
  const connection =
    c.req
      .header('connection')
      ?.toLowerCase()
      .split(',')
      .map((token) => token.trim()) ?? [];
  if (!connection.includes('upgrade')) {
    return httpError(c, 400, 'bad_upgrade', 'an upgrade needs "Connection: Upgrade"');
  }
  if (!WEBSOCKET_KEY.test(c.req.header('sec-websocket-key') ?? '')) {
    return httpError(c, 400, 'bad_upgrade', 'Sec-WebSocket-Key must be 16 bytes in base64');
  }
  if (c.req.header('sec-websocket-version') !== '13') {
    return httpError(c, 426, 'bad_upgrade', 'only WebSocket version 13 is spoken here', {
      'sec-websocket-version': '13',
    });
  }
  return undefined;
}

/** The body as JSON, or 404 no_room when the room does not exist. */
function found(c: Context<AppEnv>, room: string, body: object | undefined): Response {
  return body ? c.json(body) : httpError(c, 404, 'no_room', `room ${room} has no members and no messages`);
}

function httpError(
  c: Context,
  status: ContentfulStatusCode,
  code: HttpErrorCode,
  message: string,
  headers?: Record<string, string>,
): Response {
  return c.json({ error: { code, message } }, status, headers);
}

/**
 * Browsers always send Origin on WebSocket requests; other clients usually do not and
 * are let in. The request's own origin counts, and behind a TLS proxy that says so in
 * X-Forwarded-Proto, the origin it names, but only with TRUST_PROXY: any client can send
 * that header.
 */
function originAllowed(c: Context, { allowedOrigins, trustProxy }: Config): boolean {
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  const url = new URL(c.req.url);
  if (origin === url.origin || allowedOrigins.includes(origin)) return true;
  if (!trustProxy) return false;
  const forwardedProto = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim();
  return forwardedProto !== undefined && origin === `${forwardedProto}://${url.host}`;
}
