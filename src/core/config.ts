// Configuration from environment variables, shared by every runtime. Each runtime hands
// over its own environment (process.env, Deno.env, a Worker's bindings) as plain strings.
import { z } from 'zod';

const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .optional()
    .transform((value) => value ?? fallback);

/** A variable whose empty value means unset. */
const optionalText = z
  .string()
  .optional()
  .transform((text) => text?.trim() || undefined);

const origins = z
  .string()
  .optional()
  .transform((list) =>
    (list ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin !== ''),
  )
  .pipe(
    z.array(
      z
        .string()
        .refine(
          (origin) => URL.canParse(origin) && new URL(origin).origin === origin,
          'each entry must be an exact origin such as https://chat.example.com',
        ),
    ),
  );

const ConfigSchema = z.object({
  PORT: integer(8787, 0, 65535),
  HOST: z
    .string()
    .trim()
    .min(1)
    .optional()
    .transform((host) => host ?? '0.0.0.0'),
  ALLOWED_ORIGINS: origins,
  HISTORY_LIMIT: integer(100, 0, 100_000),
  HISTORY_RETENTION: integer(10_000, 0, 100_000_000),
  STORAGE: z
    .string()
    .trim()
    .optional()
    .transform((storage) => storage || 'sqlite')
    .pipe(z.enum(['sqlite', 'memory', 'redis'], { error: 'must be sqlite, memory or redis' })),
  DATA_DIR: z
    .string()
    .trim()
    .min(1)
    .optional()
    .transform((dir) => dir ?? 'data'),
  REDIS_URL: z
    .string()
    .trim()
    .optional()
    .transform((url) => url || 'redis://127.0.0.1:6379')
    .refine((url) => URL.canParse(url) && ['redis:', 'rediss:'].includes(new URL(url).protocol), 'must be a redis:// or rediss:// URL'),
  REDIS_PREFIX: z
    .string()
    .optional()
    .transform((prefix) => prefix ?? 'edgechat:')
    .pipe(z.string().regex(/^[^\s{}]{1,64}$/, 'must be 1 to 64 characters without spaces or braces')),
  PRESENCE_TTL_MS: integer(15_000, 1000, 600_000),
  REDIS_ROOM_TTL_MS: integer(30 * 24 * 3_600_000, 0),
  MAX_TEXT: integer(2000, 1, 1_000_000),
  MAX_FRAME_BYTES: integer(16384, 64, 16 * 1024 * 1024),
  MAX_ROOM_MEMBERS: integer(1000, 1),
  RATE_LIMIT_BURST: integer(20, 0),
  RATE_LIMIT_PER_SEC: integer(5, 0),
  CLIENT_RATE_BURST: integer(30, 0),
  CLIENT_RATE_PER_SEC: integer(10, 0),
  HTTP_RATE_BURST: integer(60, 0),
  HTTP_RATE_PER_SEC: integer(20, 0),
  MAX_CONNECTIONS_PER_CLIENT: integer(100, 1),
  MAX_CONNECTIONS: integer(10_000, 1),
  ROOM_IDLE_TTL_MS: integer(5 * 60_000, 0),
  PING_INTERVAL_MS: integer(30_000, 100),
  HANDSHAKE_TIMEOUT_MS: integer(10_000, 100, 600_000),
  TRUST_PROXY: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional()
    .transform((trust) => trust === 'true'),
  AUTH_SECRET: optionalText,
  AUTH_PUBLIC_KEY: optionalText,
  AUTH_JWKS_URL: optionalText.refine(
    (url) => url === undefined || (URL.canParse(url) && new URL(url).protocol.startsWith('http')),
    'must be an http(s) URL',
  ),
  AUTH_ISSUER: optionalText,
  AUTH_AUDIENCE: optionalText,
  API_KEY: optionalText.refine(
    (key) => key === undefined || key.length >= 16,
    'must be at least 16 characters (for example the output of `openssl rand -hex 32`)',
  ),
  PUBLIC_ROOMS: z
    .string()
    .optional()
    .transform((list) =>
      (list ?? '')
        .split(',')
        .map((room) => room.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}\*?$|^\*$/, 'each entry must be a room name, or a prefix ending in *'))),
});

/** Variables whose value an error message must not repeat (a password may be in the URL). */
const SECRET_VARIABLES = new Set(['AUTH_SECRET', 'REDIS_URL', 'API_KEY']);

/** Every variable edgechat reads, for runtimes that must be told which ones it may see. */
export const CONFIG_VARIABLES = Object.keys(ConfigSchema.shape);

export interface Config {
  port: number;
  host: string;
  allowedOrigins: readonly string[];
  /** Messages a welcome carries, and the most a resume can make up for. */
  historyLimit: number;
  /** Messages kept per room; at least `historyLimit`. */
  historyRetention: number;
  /** Where rooms' history lives on the runtimes with a process (Workers: the room's object). */
  storage: 'sqlite' | 'memory' | 'redis';
  /** The directory of the SQLite database. */
  dataDir: string;
  /** With STORAGE=redis: the server, the prefix of every key and channel, and how long an instance that stopped answering keeps its members. */
  redisUrl: string;
  redisPrefix: string;
  presenceTtlMs: number;
  /** With STORAGE=redis: how long a room nobody is in or posts to keeps its data; 0 for ever. */
  redisRoomTtlMs: number;
  maxText: number;
  maxFrameBytes: number;
  maxRoomMembers: number;
  /** Token bucket size; rate limiting is off when this or `ratePerSecond` is 0. */
  rateBurst: number;
  ratePerSecond: number;
  /** One budget for all of a client's connections, in every room (off when either is 0). */
  clientRate: Rate;
  /** Each client's budget for HTTP requests (off when either is 0). */
  httpRate: Rate;
  /** Open WebSockets one client may have, and the whole server. */
  maxConnectionsPerClient: number;
  maxConnections: number;
  roomIdleTtlMs: number;
  pingIntervalMs: number;
  /** A connection that has not sent a whole HTTP request by then is dropped. */
  handshakeTimeoutMs: number;
  /** Believe X-Forwarded-* headers: only behind a proxy that sets them itself. */
  trustProxy: boolean;
  /** Identity: at most one way to check tokens (none: the service is open, as in v1). */
  authSecret: string | undefined;
  authPublicKey: string | undefined;
  authJwksUrl: string | undefined;
  authIssuer: string | undefined;
  authAudience: string | undefined;
  /** Rooms guests may join and read when tokens are asked for: names, or prefixes ending in `*`. */
  publicRooms: readonly string[];
  /** The backend's key for publishing and deleting over HTTP; without it those routes do not exist. */
  apiKey: string | undefined;
}

/** A token bucket's size and refill per second; `undefined` when either was set to 0. */
export type Rate = { burst: number; perSecond: number } | undefined;

const rate = (burst: number, perSecond: number): Rate => (burst > 0 && perSecond > 0 ? { burst, perSecond } : undefined);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads the configuration from an environment that may hold other things too (a Worker's
 * bindings). Throws a ConfigError whose message is one line naming the variable.
 */
export function readConfig(env: object): Config {
  // Each variable is read by name: Deno lets a process read only the variables it was
  // allowed, and would refuse a listing of them all.
  const read = (variable: string): unknown => Reflect.get(env, variable);
  const parsed = ConfigSchema.refine((c) => c.HISTORY_RETENTION >= c.HISTORY_LIMIT, {
    path: ['HISTORY_RETENTION'],
    message: 'must be at least HISTORY_LIMIT, so that every resume a welcome promises can be kept',
  })
    .refine((c) => c.REDIS_ROOM_TTL_MS === 0 || c.REDIS_ROOM_TTL_MS >= c.PRESENCE_TTL_MS, {
      path: ['REDIS_ROOM_TTL_MS'],
      message: 'must be 0 or at least PRESENCE_TTL_MS, so that the rooms members are in stay',
    })
    .refine((c) => [c.AUTH_SECRET, c.AUTH_PUBLIC_KEY, c.AUTH_JWKS_URL].filter(Boolean).length <= 1, {
      path: ['AUTH_SECRET'],
      message: 'set one of AUTH_SECRET, AUTH_PUBLIC_KEY and AUTH_JWKS_URL, not several',
    })
    .safeParse(Object.fromEntries(CONFIG_VARIABLES.map((key) => [key, asText(read(key))])));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0]);
    const shown = SECRET_VARIABLES.has(variable) ? '(hidden)' : (JSON.stringify(read(variable)) ?? '(unset)');
    throw new ConfigError(`invalid ${variable}=${shown}: ${issue.message}`);
  }
  const c = parsed.data;
  return {
    port: c.PORT,
    host: c.HOST,
    allowedOrigins: c.ALLOWED_ORIGINS,
    historyLimit: c.HISTORY_LIMIT,
    historyRetention: c.HISTORY_RETENTION,
    storage: c.STORAGE,
    dataDir: c.DATA_DIR,
    redisUrl: c.REDIS_URL,
    redisPrefix: c.REDIS_PREFIX,
    presenceTtlMs: c.PRESENCE_TTL_MS,
    redisRoomTtlMs: c.REDIS_ROOM_TTL_MS,
    maxText: c.MAX_TEXT,
    maxFrameBytes: c.MAX_FRAME_BYTES,
    maxRoomMembers: c.MAX_ROOM_MEMBERS,
    rateBurst: c.RATE_LIMIT_BURST,
    ratePerSecond: c.RATE_LIMIT_PER_SEC,
    clientRate: rate(c.CLIENT_RATE_BURST, c.CLIENT_RATE_PER_SEC),
    httpRate: rate(c.HTTP_RATE_BURST, c.HTTP_RATE_PER_SEC),
    maxConnectionsPerClient: c.MAX_CONNECTIONS_PER_CLIENT,
    maxConnections: c.MAX_CONNECTIONS,
    roomIdleTtlMs: c.ROOM_IDLE_TTL_MS,
    pingIntervalMs: c.PING_INTERVAL_MS,
    handshakeTimeoutMs: c.HANDSHAKE_TIMEOUT_MS,
    trustProxy: c.TRUST_PROXY,
    authSecret: c.AUTH_SECRET,
    authPublicKey: c.AUTH_PUBLIC_KEY,
    authJwksUrl: c.AUTH_JWKS_URL,
    authIssuer: c.AUTH_ISSUER,
    authAudience: c.AUTH_AUDIENCE,
    publicRooms: c.PUBLIC_ROOMS,
    apiKey: c.API_KEY,
  };
}

/** Variables are text; a TOML number in wrangler.toml's [vars] counts as its digits. */
function asText(value: unknown): unknown {
  return typeof value === 'number' ? String(value) : value;
}
