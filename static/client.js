// @ts-check
// The edgechat client: one dependency-free ES module for browsers, Node 22+, Deno, Bun and
// Workers. It connects to a room, reconnects with backoff and resumes where it left off,
// and sends messages through a queue that neither loses nor repeats one. The wire types
// come from the zod schemas in src/core/protocol.ts (types only: nothing is imported at
// run time), so the page can load this file as it is, without a build step.
/**
 * @import { ChatMessage, ClientFrame, Deleted, ErrorFrame, Member, Presence, ServerFrame, Typing, Welcome } from '../src/core/protocol.ts'
 */

/**
 * @typedef {string | (() => string | Promise<string>)} TokenSource
 *   A token, or a function that returns a fresh one (called before every connection).
 *
 * @typedef {object} ClientOptions
 * @property {string} url Where edgechat runs: `https://chat.example.com` (or `ws(s)://`).
 * @property {string} room
 * @property {string} [name] The display name to join under (a token's `name` wins).
 * @property {TokenSource} [token]
 * @property {number} [since] Resume from here (with `epoch`), for an app that kept them.
 * @property {string} [epoch]
 * @property {typeof WebSocket} [WebSocket] Defaults to the global one.
 * @property {typeof fetch} [fetch] Defaults to the global one.
 * @property {{ initialMs?: number, maxMs?: number }} [backoff] Reconnection delays.
 * @property {number} [maxRetries] How often one message is retried after `rate_limited`
 *   or `unavailable` before its promise is rejected (default 10).
 *
 * @typedef {{ state: 'connecting' }
 *   | { state: 'open' }
 *   | { state: 'reconnecting', inMs: number, code: number, reason: string }
 *   | { state: 'closed', code: number, reason: string, message?: string }} Status
 *   `closed` lasts until the app calls open(): the server said not to retry (1007, 1008
 *   `kicked`, 1009), refused the connection (4401 or 4403, with the HTTP error's code as
 *   `reason` and its text as `message`), or the app called close().
 *
 * @typedef {Extract<ClientFrame, { type: 'rename' | 'delete' | 'kick' }>} Request
 *   What an app asks besides messages. The server answers these only when it refuses
 *   them, and without a cid.
 *
 * @typedef {ErrorFrame & { request?: Request }} RequestError
 *   An error frame that answers no `send`, with the request it most likely refuses: the
 *   oldest one still unanswered that can be refused with that code.
 *
 * @typedef {{
 *   welcome: Welcome,
 *   message: ChatMessage,
 *   presence: Presence,
 *   typing: Typing,
 *   deleted: Deleted,
 *   status: Status,
 *   reset: Welcome,
 *   error: RequestError,
 * }} ClientEvents
 *   `reset` comes before `welcome` when a resume was not recovered: what the app shows may
 *   have a gap, and the welcome's history is a fresh start. `error` is an error frame that
 *   answers no `send` (a refused rename, delete or kick).
 */

/** Close codes after which the same connection must not simply be tried again. */
const FINAL_CODES = new Set([1007, 1008, 1009]);
/** A typing frame goes out at most this often while the user keeps typing. */
const TYPING_EVERY_MS = 3000;
/** The error codes each request can be refused with, besides those that fit any frame. */
const ANY_FRAME = new Set(['bad_json', 'bad_message']);
const REFUSALS = {
  rename: new Set(['bad_name', 'forbidden', 'rate_limited']),
  delete: new Set(['not_found', 'forbidden', 'rate_limited', 'unavailable']),
  kick: new Set(['not_found', 'forbidden', 'rate_limited', 'unavailable']),
};

// The protocol's rules for room and display names (src/core/protocol.ts), so that a client
// never connects with what the server would refuse at the handshake and retry it for ever.
const ROOM_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const CONTROL_CHARACTER = /\p{Cc}/u;
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
const INVISIBLE = /[\s\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/**
 * Why the server would refuse `room` (compared lower-cased), or undefined.
 * @param {string} room
 * @returns {string | undefined}
 */
export function roomProblem(room) {
  if (ROOM_PATTERN.test(room.toLowerCase())) return undefined;
  return 'must be 1-64 characters of a-z, 0-9, "_" or "-", starting with a letter or digit';
}

/**
 * Why the server would refuse `name` as a display name (it is trimmed first), or
 * undefined. The answer completes a sentence: "The name must not be empty".
 * @param {string} name
 * @returns {string | undefined}
 */
export function nameProblem(name) {
  const trimmed = name.trim();
  const length = [...trimmed].length; // the server counts code points
  if (length < 1) return 'must not be empty';
  if (length > 32) return 'must be at most 32 characters';
  if (CONTROL_CHARACTER.test(trimmed)) return 'must not contain control characters';
  if (BIDI_CONTROL.test(trimmed)) return 'must not contain bidirectional overrides or isolates';
  if (trimmed.replace(INVISIBLE, '') === '') return 'must contain a visible character';
  return undefined;
}

export class ChatClient {
  /** @type {ClientOptions} */
  #options;
  /** @type {WebSocket | undefined} */
  #socket;
  /** Each event's listeners; on() and #emit() keep the types together. @type {Map<string, Set<(event: any) => void>>} */
  #listeners = new Map();
  /** @type {Status} */
  #status = { state: 'connecting' };
  /** Messages not yet acknowledged, oldest first; `sent` once on the current socket. */
  /** @type {Outgoing[]} */
  #queue = [];
  /** Requests sent on this connection that the server may still refuse, oldest first. @type {Asked[]} */
  #asked = [];
  /** No message is sent before this time (a `rate_limited` or `unavailable` answer). */
  #pausedUntil = 0;
  /** The next reconnection. @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  /** The end of a pause of the queue. @type {ReturnType<typeof setTimeout> | undefined} */
  #pumpTimer;
  /** Counts connections begun and close() calls, so that a superseded one gives up. */
  #generation = 0;
  #attempt = 0;
  #stopped = false;
  /** A moderator closed this client's last connection (1008 `kicked`). */
  #kicked = false;
  /** When the last typing frame that said "active" went out. */
  #typingSentAt = 0;
  /** Whether the others see this member typing (a message of its own clears it for them). */
  #typingShown = false;
  /** An "active" held back by the throttle, sent when it allows. @type {ReturnType<typeof setTimeout> | undefined} */
  #typingTimer;
  /** @type {string | undefined} */
  #token;

  /** The member this client is, from the last welcome. @type {(Member & { role?: 'moderator' }) | undefined} */
  me;
  /** The room's members by id, kept up to date from presence. @type {Map<string, Member>} */
  members = new Map();
  /** The epoch and the last seq seen: where a reconnect resumes. @type {string | undefined} */
  epoch;
  /** @type {number | undefined} */
  lastSeq;
  /** The oldest seq shown, where loadOlder() goes on from. @type {number | undefined} */
  oldestSeq;

  /**
   * Connects at once. Throws a RangeError for a room or name the server would refuse.
   * @param {ClientOptions} options
   */
  constructor(options) {
    const roomIssue = roomProblem(options.room);
    if (roomIssue) throw new RangeError(`room ${roomIssue}`);
    const nameIssue = options.name === undefined ? undefined : nameProblem(options.name);
    if (nameIssue) throw new RangeError(`name ${nameIssue}`);
    this.#options = { ...options };
    this.epoch = options.epoch;
    this.lastSeq = options.since;
    this.#connect();
  }

  get status() {
    return this.#status;
  }

  /**
   * Listens to an event; returns the function that stops listening.
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {(event: ClientEvents[K]) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    const listeners = this.#listeners.get(type) ?? new Set();
    this.#listeners.set(type, listeners);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }

  /**
   * Sends a message. Resolves with it as stored (its `seq`), or rejects with the error
   * frame that refused it. While the client is disconnected or held back by the rate
   * limit it waits in a queue, and goes out in order when it can; after a reconnect, a
   * message the server already stored is not sent again.
   * @param {string} text
   * @param {{ cid?: string }} [options] `cid`: the app's own id for the message, to know
   *   its `message` event for its own (1-64 characters, unique; a random one otherwise).
   * @returns {Promise<ChatMessage>}
   */
  send(text, { cid = newCid() } = {}) {
    if (cid.length < 1 || cid.length > 64 || this.#queue.some((outgoing) => outgoing.cid === cid)) {
      return Promise.reject(new RangeError('a cid is 1-64 characters, and not one of a queued message'));
    }
    clearTimeout(this.#typingTimer); // the message says more than that it was being typed
    return new Promise((resolve, reject) => {
      this.#queue.push({ cid, text, resolve, reject, sent: false, retries: 0 });
      this.#pump();
    });
  }

  /**
   * Says whether the user is typing. Call it on every keystroke: "active" goes out at most
   * once every few seconds (one held back goes out when it may, unless "stopped" came
   * first), and not while messages wait, so typing never spends what messages need;
   * "stopped" only when the others still see it. Receivers clear "is typing" when the
   * member's message arrives, so a message stops it too.
   * @param {boolean} active
   */
  typing(active) {
    clearTimeout(this.#typingTimer);
    if (!active) {
      if (this.#typingShown && this.#transmit({ type: 'typing', active })) this.#typingShown = false;
      return;
    }
    if (this.#queue.length > 0) return;
    const waitMs = this.#typingSentAt + TYPING_EVERY_MS - Date.now();
    if (waitMs > 0) {
      this.#typingTimer = setTimeout(() => this.typing(true), waitMs);
      return;
    }
    if (!this.#transmit({ type: 'typing', active })) return;
    this.#typingSentAt = Date.now();
    this.#typingShown = true;
  }

  /**
   * Changes the display name, for this connection and the next ones. `me` and `members`
   * change at once (the server tells only the others); a refusal (a token that fixes the
   * name, say) puts the old name back before its `error`. Returns false when not
   * connected: the name is then taken at the next connection. Throws a RangeError for a
   * name the server would refuse (see nameProblem).
   * @param {string} name
   * @returns {boolean}
   */
  rename(name) {
    const problem = nameProblem(name);
    if (problem) throw new RangeError(`name ${problem}`);
    const trimmed = name.trim();
    const before = { name: this.#options.name, me: this.me };
    this.#options.name = trimmed;
    this.#setName(trimmed);
    return this.#ask({ type: 'rename', name: trimmed }, () => {
      this.#options.name = before.name;
      if (before.me && before.me.id === this.me?.id) this.#setName(before.me.name);
    });
  }

  /**
   * Moderators: deletes message `seq` for everyone. Returns false when not connected
   * (nothing was sent).
   * @param {number} seq
   * @returns {boolean}
   */
  deleteMessage(seq) {
    return this.#ask({ type: 'delete', seq });
  }

  /**
   * Moderators: closes every connection of a member, and keeps it out for `banSeconds`.
   * Returns false when not connected (nothing was sent).
   * @param {string} member
   * @param {{ banSeconds?: number }} [options]
   * @returns {boolean}
   */
  kick(member, options = {}) {
    return this.#ask({ type: 'kick', member, ...options });
  }

  /**
   * The page of messages before the oldest one seen so far, oldest first (empty at the
   * start of the retained history).
   * @param {number} [limit]
   * @returns {Promise<ChatMessage[]>}
   */
  async loadOlder(limit) {
    if (this.oldestSeq === undefined || this.oldestSeq <= 1) return [];
    const query = new URLSearchParams({ before: String(this.oldestSeq) });
    if (limit !== undefined) query.set('limit', String(limit));
    const url = `${httpBase(this.#options.url)}/api/rooms/${encodeURIComponent(this.#options.room)}/messages?${query}`;
    const response = await this.#fetch(url);
    const body = await response.json();
    // no_room: nothing is stored any more, so nothing older either.
    if (!response.ok && response.status !== 404) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
    /** @type {ChatMessage[]} */
    const messages = response.ok && body.epoch === this.epoch ? body.messages : [];
    if (messages.length > 0) this.oldestSeq = messages[0]?.seq;
    else this.oldestSeq = 1; // nothing older is retained
    return messages;
  }

  /**
   * Connects now, resuming where it was: after `closed` (a kick, close(), a refusal) once
   * more, and while waiting to reconnect without waiting out the backoff (the network is
   * back, say). Does nothing while connecting or open.
   */
  open() {
    const { state } = this.#status;
    if (state === 'connecting' || state === 'open') return;
    clearTimeout(this.#timer);
    this.#stopped = false;
    this.#attempt = 0;
    this.#connect();
  }

  /** Closes until open() is called: no reconnect, and messages still queued are rejected. */
  close() {
    this.#stopped = true;
    this.#generation += 1;
    clearTimeout(this.#timer);
    clearTimeout(this.#pumpTimer);
    clearTimeout(this.#typingTimer);
    const socket = this.#socket;
    this.#socket = undefined; // its close event is not news any more
    socket?.close(1000, 'client_closed');
    this.#finish(1000, 'client_closed');
  }

  // ---------- connecting ----------

  async #connect() {
    if (this.#stopped) return;
    const generation = ++this.#generation;
    this.#setStatus({ state: 'connecting' });
    try {
      this.#token = await this.#freshToken();
    } catch (error) {
      if (generation === this.#generation) this.#retry(1006, `no token: ${String(error)}`);
      return;
    }
    if (generation !== this.#generation) return;
    const query = new URLSearchParams();
    if (this.#options.name) query.set('name', this.#options.name);
    if (this.lastSeq !== undefined && this.epoch !== undefined) {
      query.set('since', String(this.lastSeq));
      query.set('epoch', this.epoch);
    }
    if (this.#token) query.set('token', this.#token);
    const url = `${wsBase(this.#options.url)}/ws/${encodeURIComponent(this.#options.room)}?${query}`;
    const Socket = this.#options.WebSocket ?? globalThis.WebSocket;
    const socket = new Socket(url);
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => (opened = true);
    socket.onmessage = (event) => {
      if (this.#socket === socket && typeof event.data === 'string') this.#receive(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      for (const outgoing of this.#queue) outgoing.sent = false;
      if (!opened) return void this.#refused(generation);
      this.#closed(event.code, event.reason);
    };
  }

  async #freshToken() {
    const { token } = this.#options;
    return typeof token === 'function' ? await token() : token;
  }

  /** The server closed an open connection: resume, or stop when it said not to retry. */
  #closed(/** @type {number} */ code, /** @type {string} */ reason) {
    // A new token resumes at once; the member missed nothing it cannot get back.
    if (code === 1008 && reason === 'token_expired' && typeof this.#options.token === 'function') {
      this.#attempt = 0;
      return void this.#connect();
    }
    if (code === 1008 && reason === 'kicked') this.#kicked = true;
    if (FINAL_CODES.has(code)) return this.#finish(code, reason);
    this.#retry(code, reason);
  }

  /**
   * The upgrade was refused, and a browser's WebSocket does not say why: the room's HTTP
   * route, asked with the same token, does (401, 403). Anything else is retried.
   * @param {number} generation The connection that was refused.
   */
  async #refused(generation) {
    let status = 0;
    let reason = 'connection_failed';
    /** @type {string | undefined} */
    let message;
    try {
      const url = `${httpBase(this.#options.url)}/api/rooms/${encodeURIComponent(this.#options.room)}`;
      const response = await this.#fetch(url);
      status = response.status;
      if (status === 401 || status === 403) {
        const { error } = (await response.json()) ?? {};
        reason = error?.code ?? reason;
        message = error?.message;
      }
    } catch {
      // the server is away: retried below
    }
    if (generation !== this.#generation) return;
    // An expired token from a function is replaced once; a refused one is final.
    if (status === 401 && typeof this.#options.token === 'function' && this.#attempt === 0) {
      this.#attempt += 1;
      return void this.#connect();
    }
    if (status === 401 || status === 403) return this.#finish(4000 + status, reason, message);
    // Bans are checked at the upgrade only, so the room's route answers a banned member as
    // anyone else: after a kick, an upgrade refused by a server that is up is most likely
    // a ban, and trying again until it ends would only hammer the server.
    if (this.#kicked && status >= 200 && status < 300) {
      return this.#finish(4403, 'banned', 'refused again after a kick: most likely banned for a while');
    }
    this.#retry(1006, reason);
  }

  /** Full jitter: anywhere between 0 and the doubling cap, so that clients spread out. */
  #retry(/** @type {number} */ code, /** @type {string} */ reason) {
    const { initialMs = 500, maxMs = 30_000 } = this.#options.backoff ?? {};
    const inMs = Math.round(Math.random() * Math.min(maxMs, initialMs * 2 ** this.#attempt));
    this.#attempt += 1;
    this.#setStatus({ state: 'reconnecting', inMs, code, reason });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), inMs);
  }

  #finish(/** @type {number} */ code, /** @type {string} */ reason, /** @type {string | undefined} */ message = undefined) {
    this.#stopped = true;
    const error = { type: 'error', code: 'unavailable', message: `the connection closed for good (${code} ${reason})` };
    for (const outgoing of this.#queue.splice(0)) outgoing.reject(/** @type {ErrorFrame} */ (error));
    this.#setStatus({ state: 'closed', code, reason, ...(message !== undefined && { message }) });
  }

  #setStatus(/** @type {Status} */ status) {
    this.#status = status;
    this.#emit('status', status);
  }

  /** @param {string} url */
  #fetch(url) {
    const doFetch = this.#options.fetch ?? globalThis.fetch;
    return doFetch(url, { headers: this.#token ? { authorization: `Bearer ${this.#token}` } : {} });
  }

  // ---------- receiving ----------

  #receive(/** @type {ServerFrame} */ frame) {
    switch (frame.type) {
      case 'welcome':
        return this.#welcome(frame);
      case 'message':
        return this.#message(frame);
      case 'presence':
        if (frame.event === 'leave') {
          this.members.delete(frame.member.id);
          this.#answered((request) => request.type === 'kick' && request.member === frame.member.id);
        } else {
          this.members.set(frame.member.id, frame.member);
        }
        return this.#emit('presence', frame);
      case 'typing':
        return this.#emit('typing', frame);
      case 'deleted':
        this.#answered((request) => request.type === 'delete' && request.seq === frame.seq);
        return this.#emit('deleted', frame);
      case 'error':
        return this.#error(frame);
    }
  }

  #welcome(/** @type {Welcome} */ welcome) {
    this.#attempt = 0;
    this.#kicked = false;
    this.#asked = []; // asked on a connection that is gone: no answer will come
    this.#typingShown = false; // the others saw the old connection leave
    this.me = welcome.you;
    // A guest keeps the name it was given when it comes back.
    this.#options.name ??= welcome.you.name;
    this.members = new Map(welcome.members.map((member) => [member.id, member]));
    const fresh = welcome.epoch !== this.epoch || welcome.recovered !== true;
    if (this.lastSeq !== undefined && fresh) this.#emit('reset', welcome);
    if (fresh) {
      this.lastSeq = undefined;
      this.oldestSeq = welcome.history[0]?.seq ?? welcome.seq + 1;
    }
    this.epoch = welcome.epoch;
    this.#emit('welcome', welcome);
    // Queued messages that the history shows were stored are answered here, not sent again.
    for (const message of welcome.history) this.#message(message);
    if (this.lastSeq === undefined || welcome.seq > this.lastSeq) this.lastSeq = welcome.seq;
    this.#setStatus({ state: 'open' });
    this.#pump();
  }

  #message(/** @type {ChatMessage} */ message) {
    // A message already seen (the welcome and the socket can overlap) is not news again.
    if (this.lastSeq !== undefined && message.seq <= this.lastSeq) return;
    this.lastSeq = message.seq;
    const index = message.cid === undefined ? -1 : this.#queue.findIndex((outgoing) => outgoing.cid === message.cid);
    if (index >= 0) {
      const [outgoing] = this.#queue.splice(index, 1);
      outgoing?.resolve(message);
    }
    this.#emit('message', message);
    this.#pump();
  }

  #error(/** @type {ErrorFrame} */ error) {
    const outgoing = error.cid === undefined ? undefined : this.#queue.find((queued) => queued.cid === error.cid);
    if (!outgoing) return this.#refusal(error);
    // Over the budget, or storage away for a moment: wait as asked, then again in order.
    if ((error.code === 'rate_limited' || error.code === 'unavailable') && outgoing.retries < (this.#options.maxRetries ?? 10)) {
      outgoing.retries += 1;
      outgoing.sent = false;
      this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + (error.retryAfterMs ?? 1000));
      return this.#pump();
    }
    this.#queue.splice(this.#queue.indexOf(outgoing), 1);
    outgoing.reject(error);
    this.#pump();
  }

  /** An error that answers no message: a refused request, undone here before it is told. */
  #refusal(/** @type {ErrorFrame} */ error) {
    const index = this.#asked.findIndex(({ request }) => ANY_FRAME.has(error.code) || REFUSALS[request.type].has(error.code));
    const [asked] = index < 0 ? [] : this.#asked.splice(index, 1);
    asked?.undo?.();
    this.#emit('error', asked ? { ...error, request: asked.request } : error);
  }

  /** Forgets the requests that `done` says the server did (it says so only to the room). */
  #answered(/** @type {(request: Request) => boolean} */ done) {
    this.#asked = this.#asked.filter(({ request }) => !done(request));
  }

  // ---------- sending ----------

  /**
   * Sends a request the server answers only by refusing it; remembered so that a refusal
   * can say what it refuses, and undo what was done ahead of the answer. Says whether it
   * was sent.
   * @param {Request} request
   * @param {() => void} [undo]
   */
  #ask(request, undo) {
    if (!this.#transmit(request)) return false;
    this.#asked.push({ request, undo });
    return true;
  }

  /** This client's own name, in `me` and in `members`. @param {string} name */
  #setName(name) {
    if (!this.me) return;
    this.me = { ...this.me, name };
    this.members.set(this.me.id, { id: this.me.id, name });
  }

  /**
   * Sends the oldest queued message once the one before it is answered. One at a time is
   * what keeps the order: were several on their way when the budget ran out, a later one
   * could be stored after a refill while an earlier one was refused. At chat speed it
   * costs nothing (a round trip per message is more than the budget allows anyway), and a
   * refusal is met by waiting `retryAfterMs`, never by a string of refused frames (the
   * server closes a connection after 50 of them in a row).
   */
  #pump() {
    if (this.#status.state !== 'open' || !this.#socket) return;
    const waitMs = this.#pausedUntil - Date.now();
    if (waitMs > 0) {
      clearTimeout(this.#pumpTimer);
      this.#pumpTimer = setTimeout(() => this.#pump(), waitMs);
      return;
    }
    const next = this.#queue[0];
    if (!next || next.sent) return;
    next.sent = true;
    if (this.#transmit({ type: 'message', text: next.text, cid: next.cid })) this.#typingShown = false;
  }

  /**
   * Sends a frame if the socket is open; says whether it did.
   * @param {object} frame
   */
  #transmit(frame) {
    if (this.#socket?.readyState !== 1) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  /**
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {ClientEvents[K]} event
   */
  #emit(type, event) {
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }
}

/**
 * @typedef {object} Outgoing
 * @property {string} cid
 * @property {string} text
 * @property {(message: ChatMessage) => void} resolve
 * @property {(error: ErrorFrame) => void} reject
 * @property {boolean} sent Sent on the current connection and not yet answered.
 * @property {number} retries
 *
 * @typedef {object} Asked
 * @property {Request} request
 * @property {(() => void) | undefined} undo Takes back what was done ahead of the answer.
 */

/** 16 random bytes in hex; getRandomValues, unlike randomUUID, works on plain-http pages too. */
function newCid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `c_${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** @param {string} url */
function httpBase(url) {
  return url.replace(/^ws/, 'http').replace(/\/$/, '');
}

/** @param {string} url */
function wsBase(url) {
  return url.replace(/^http/, 'ws').replace(/\/$/, '');
}
