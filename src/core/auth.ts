// Identity (protocol v1.1): the app that embeds edgechat signs a JWT for its user, and the
// client shows it on every request. Signatures are checked by Hono's JWT helpers (Web
// Crypto underneath, so the same code runs on Workers); edgechat only decides which key,
// which claims, and what a token lets its bearer do. A token never reaches a log line.
import { decode, verify, verifyWithJwks } from 'hono/jwt';
import type { AsymmetricAlgorithm } from 'hono/utils/jwt/jwa';
import type { HonoJsonWebKey } from 'hono/utils/jwt/jws';
import { JwtTokenAudience, JwtTokenExpired, JwtTokenIssuer, JwtTokenNotBefore, JwtTokenSignatureMismatched } from 'hono/utils/jwt/types';
import { z } from 'zod';
import type { Config } from './config.ts';
import { DisplayName } from './protocol.ts';

/** Who a valid token says its bearer is. */
export interface Identity {
  /** The member's identity: the same on every connection and reconnect. */
  sub: string;
  /** The display name, fixed: `rename` is refused. */
  name?: string | undefined;
  /** The private rooms the token may enter (names, or prefixes ending in `*`); absent: all. */
  rooms?: string[] | undefined;
  role?: 'moderator' | undefined;
  /** When the token stops being valid (ms since the epoch), if it does. */
  expiresAt?: number | undefined;
}

/** A request refused for its token: 401 bad_token, or 403 forbidden. */
export class TokenRefused extends Error {
  override name = 'TokenRefused';
  readonly status: 401 | 403;
  readonly code: 'bad_token' | 'forbidden';

  constructor(status: 401 | 403, code: 'bad_token' | 'forbidden', message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const ASYMMETRIC: readonly AsymmetricAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];
/**
 * A token naming a key the cached JWKS lacks makes it be fetched again at once (a key was
 * rotated in), but such fetches come at most this often: tokens with made-up key ids must
 * not turn the server into a client that hammers the key set's host.
 */
const JWKS_REFETCH_MS = 30_000;

const Claims = z.object({
  sub: z.string().min(1, 'sub is required').max(256),
  name: DisplayName.optional(),
  rooms: z.array(z.string().min(1).max(65)).max(1000).optional(),
  role: z.literal('moderator').optional(),
  exp: z.number().optional(),
});

export type AuthConfig = Pick<Config, 'authSecret' | 'authPublicKey' | 'authJwksUrl' | 'authIssuer' | 'authAudience' | 'publicRooms'>;

export class Authenticator {
  private jwks: HonoJsonWebKey[] | undefined;
  private lastRefetch = -Infinity;

  private readonly config: AuthConfig;

  constructor(config: AuthConfig) {
    this.config = config;
  }

  /** Whether tokens are asked for at all (a key is configured). */
  get enabled(): boolean {
    return Boolean(this.config.authSecret || this.config.authPublicKey || this.config.authJwksUrl);
  }

  /** Whether `room` is open to guests as well (PUBLIC_ROOMS). */
  isPublic(room: string): boolean {
    return matchesAny(this.config.publicRooms, room);
  }

  /**
   * The identity behind the request's token for `room`, undefined for a guest where guests
   * may come (auth off, or a public room without a token). Throws TokenRefused otherwise.
   */
  async admit(token: string | undefined, room: string): Promise<Identity | undefined> {
    if (!this.enabled) return undefined;
    if (token === undefined) {
      if (this.isPublic(room)) return undefined;
      throw new TokenRefused(401, 'bad_token', 'this room needs a token');
    }
    const identity = await this.identify(token);
    if (identity.rooms && !this.isPublic(room) && !matchesAny(identity.rooms, room)) {
      throw new TokenRefused(403, 'forbidden', 'the token does not allow this room');
    }
    return identity;
  }

  /** Whether the identity moderates `room`: its role says so, and `room` is one of its rooms. */
  moderates(identity: Identity, room: string): boolean {
    return identity.role === 'moderator' && (identity.rooms === undefined || matchesAny(identity.rooms, room));
  }

  /** Checks the token's signature and claims. */
  async identify(token: string): Promise<Identity> {
    let payload: unknown;
    try {
      payload = await this.verified(token);
    } catch (error) {
      throw new TokenRefused(401, 'bad_token', reasonOf(error));
    }
    const claims = Claims.safeParse(payload);
    if (!claims.success) {
      const issue = claims.error.issues[0]!;
      throw new TokenRefused(401, 'bad_token', `claim ${issue.path.join('.') || '?'}: ${issue.message}`);
    }
    const { sub, name, rooms, role, exp } = claims.data;
    return { sub, name, rooms, role, expiresAt: exp === undefined ? undefined : exp * 1000 };
  }

  private async verified(token: string): Promise<unknown> {
    const { authSecret, authPublicKey, authJwksUrl, authIssuer, authAudience } = this.config;
    const checks = { ...(authIssuer && { iss: authIssuer }), ...(authAudience && { aud: authAudience }) };
    if (authSecret) return verify(token, authSecret, { alg: 'HS256', ...checks });
    if (authPublicKey) {
      const alg = decode(token).header.alg;
      if (!ASYMMETRIC.includes(alg as AsymmetricAlgorithm)) throw new Error(`algorithm ${alg} is not accepted`);
      const key = authPublicKey.trim().startsWith('{') ? (JSON.parse(authPublicKey) as HonoJsonWebKey) : authPublicKey;
      return verify(token, key, { alg, ...checks });
    }
    const keys = await this.keysFor(decode(token).header.kid, authJwksUrl!);
    return verifyWithJwks(token, { keys, allowedAlgorithms: ASYMMETRIC, verification: checks });
  }

  /** The JWKS, fetched once and again when a token names a key it does not have (rotation). */
  private async keysFor(kid: string | undefined, url: string): Promise<HonoJsonWebKey[]> {
    const cached = this.jwks;
    if (cached) {
      if (cached.some((key) => key.kid === kid) || Date.now() - this.lastRefetch < JWKS_REFETCH_MS) return cached;
      this.lastRefetch = Date.now();
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`the key set could not be fetched (${response.status})`);
    const { keys } = (await response.json()) as { keys?: HonoJsonWebKey[] };
    if (!Array.isArray(keys)) throw new Error('the key set has no keys');
    this.jwks = keys;
    return keys;
  }
}

/** A member's id from its `sub`: the same everywhere, and a digest, so that no `sub` shows on the wire. */
export async function memberIdOf(sub: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(sub)));
  return `u_${Array.from(digest.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** The message of a 401: which check the token failed, never the token itself. */
function reasonOf(error: unknown): string {
  if (error instanceof JwtTokenExpired) return 'the token has expired';
  if (error instanceof JwtTokenNotBefore) return 'the token is not valid yet';
  if (error instanceof JwtTokenSignatureMismatched) return 'the token is not signed with the expected key';
  if (error instanceof JwtTokenIssuer) return 'the token has another issuer';
  if (error instanceof JwtTokenAudience) return 'the token is for another audience';
  return 'the token is malformed or cannot be verified';
}

/** Whether `room` is one of `patterns`: exact names, or prefixes ending in `*`. */
function matchesAny(patterns: readonly string[], room: string): boolean {
  return patterns.some((pattern) => (pattern.endsWith('*') ? room.startsWith(pattern.slice(0, -1)) : room === pattern));
}
