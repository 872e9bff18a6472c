// Wire protocol v1.1 (see "The protocol" in README.md). These zod schemas are the single source of
// truth: the TypeScript types are inferred from them, inbound frames and query
// parameters are validated by them, and schema/protocol.schema.json is generated from them.
import { z } from 'zod';

/** Room names are compared lower-cased, so `Lobby` and `lobby` are one room. */
export const RoomName = z
  .string()
  .transform((room) => room.toLowerCase())
  .pipe(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, '1-64 characters of a-z, 0-9, "_" or "-", starting with a letter or digit'));

// \p{Cc} covers C0/C1 controls, including newline and tab.
const CONTROL_CHARACTER = /\p{Cc}/u;
// Overrides (U+202A-U+202E) and isolates (U+2066-U+2069) reorder the text around them: a
// name "\u202Enimda" shows as "admin", and could turn "is typing…" around.
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
// What shows nothing on screen: white space, format characters (zero-width spaces and
// joiners, bidi marks, tags), default-ignorables (variation selectors, Hangul fillers) and
// the blank Braille pattern that is often used as a blank.
const INVISIBLE = /[\s\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/** Whether `text` has nothing a reader could see. */
export function isInvisible(text: string): boolean {
  return text.replace(INVISIBLE, '') === '';
}

/** Why a message's text cannot be posted (empty, invisible, over `maxText`), or undefined. */
export function textProblem(text: string, maxText: number): string | undefined {
  if (isInvisible(text)) return 'text is empty or invisible';
  // UTF-16 length bounds the code point count from above, so only long texts are counted.
  if (text.length > maxText && [...text].length > maxText) return `text is longer than ${maxText} characters`;
  return undefined;
}

/**
 * A display name: trimmed, 1-32 characters (code points), no control characters, no
 * bidirectional overrides or isolates, and something visible.
 */
export const DisplayName = z
  .string()
  .trim()
  .refine((name) => [...name].length >= 1, 'must not be empty')
  .refine((name) => [...name].length <= 32, 'must be at most 32 characters')
  .refine((name) => !CONTROL_CHARACTER.test(name), 'must not contain control characters')
  .refine((name) => !BIDI_CONTROL.test(name), 'must not contain bidirectional overrides or isolates')
  .refine((name) => !isInvisible(name), 'must contain a visible character');

/** A sequence number as it appears in a query string. */
export const SequenceParam = z
  .string()
  .regex(/^\d{1,15}$/, 'must be an integer >= 0')
  .transform(Number);

export const JoinQuery = z.object({
  name: DisplayName.optional(),
  since: SequenceParam.optional(),
  epoch: z.string().max(64).optional(),
});
export type JoinQuery = z.infer<typeof JoinQuery>;

export const MessagesQuery = z.object({
  since: SequenceParam.optional(),
  before: SequenceParam.optional(),
  limit: z
    .string()
    .regex(/^\d{1,6}$/, 'must be an integer >= 1')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be an integer >= 1'))
    .optional(),
});

// ---- shared shapes ----

export const Member = z.object({ id: z.string(), name: z.string() });
export type Member = z.infer<typeof Member>;

const ClientId = z.string().min(1).max(64);

export const ChatMessage = z.object({
  type: z.literal('message'),
  room: z.string(),
  seq: z.number().int().min(1),
  id: z.string(),
  from: Member,
  text: z.string(),
  ts: z.number().int(),
  cid: ClientId.optional(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

// ---- client → server ----

export const ClientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message'), text: z.string(), cid: ClientId.optional() }),
  z.object({ type: z.literal('typing'), active: z.boolean() }),
  z.object({ type: z.literal('rename'), name: z.string() }),
  z.object({ type: z.literal('ping') }),
  // Moderators only (a token with role "moderator"); refused as forbidden for everyone else.
  z.object({ type: z.literal('delete'), seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
  z.object({
    type: z.literal('kick'),
    member: z.string().min(1).max(64),
    // Up to a year: a ban is for a troll, not a way to store identities for ever.
    banSeconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 24 * 3600)
      .optional(),
  }),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

// ---- server → client ----

export const ErrorCode = z.enum([
  'bad_json',
  'bad_message',
  'bad_text',
  'bad_name',
  'rate_limited',
  'unavailable',
  'forbidden',
  'not_found',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const Welcome = z.object({
  type: z.literal('welcome'),
  room: z.string(),
  epoch: z.string(),
  seq: z.number().int().min(0),
  // `role` only for a moderator: nobody else's welcome changes.
  you: Member.extend({ role: z.literal('moderator').optional() }),
  members: z.array(Member),
  history: z.array(ChatMessage),
  recovered: z.boolean().optional(),
});
export type Welcome = z.infer<typeof Welcome>;

export const Presence = z.object({
  type: z.literal('presence'),
  event: z.enum(['join', 'leave', 'rename']),
  member: Member,
  count: z.number().int().min(0),
});
export type Presence = z.infer<typeof Presence>;

export const Typing = z.object({ type: z.literal('typing'), from: Member, active: z.boolean() });
export type Typing = z.infer<typeof Typing>;

export const Deleted = z.object({
  type: z.literal('deleted'),
  room: z.string(),
  seq: z.number().int().min(1),
  by: Member,
});
export type Deleted = z.infer<typeof Deleted>;

export const ErrorFrame = z.object({
  type: z.literal('error'),
  code: ErrorCode,
  message: z.string(),
  cid: ClientId.optional(),
  retryAfterMs: z.number().int().min(0).optional(),
});
export type ErrorFrame = z.infer<typeof ErrorFrame>;

export const Pong = z.object({ type: z.literal('pong') });

export const ServerFrame = z.discriminatedUnion('type', [Welcome, ChatMessage, Presence, Typing, Deleted, ErrorFrame, Pong]);
export type ServerFrame = z.infer<typeof ServerFrame>;

// ---- HTTP ----

export const HttpErrorCode = z.enum([
  'bad_room',
  'bad_name',
  'bad_since',
  'bad_limit',
  'bad_query',
  'bad_message',
  'bad_text',
  'too_large',
  'bad_origin',
  'bad_upgrade',
  'no_room',
  'rate_limited',
  'too_many_connections',
  'server_full',
  'unavailable',
  'upgrade_required',
  'not_found',
  'internal',
  'bad_token',
  'forbidden',
  'banned',
]);
export type HttpErrorCode = z.infer<typeof HttpErrorCode>;

export const HttpError = z.object({ error: z.object({ code: HttpErrorCode, message: z.string() }) });

export const RoomInfo = z.object({
  room: z.string(),
  count: z.number().int().min(0),
  members: z.array(Member),
  seq: z.number().int().min(0),
  epoch: z.string(),
});
export type RoomInfo = z.infer<typeof RoomInfo>;

/** The backend's publish (POST /api/rooms/:room/messages); `from.id` is the user's `sub`. */
export const BackendPost = z.object({
  text: z.string(),
  from: z.object({ id: z.string().min(1).max(256), name: DisplayName }).optional(),
  cid: ClientId.optional(),
});
export type BackendPost = z.infer<typeof BackendPost>;

export const RoomMessages = z.object({
  room: z.string(),
  epoch: z.string(),
  messages: z.array(ChatMessage),
});
export type RoomMessages = z.infer<typeof RoomMessages>;

/** WebSocket close codes the server uses. */
export const Close = {
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  tryAgainLater: 1013,
} as const;

/** Turns zod issues into one sentence that names the field and the reason. */
export function describeIssues(error: z.ZodError, subject = 'frame'): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : subject;
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}
