// @ts-check
// The edgechat client: one dependency-free ES module for browsers, Node 22+, Deno, Bun and
// Workers. It connects to a room, reconnects with backoff and resumes where it left off,
// and sends messages through a queue that neither loses nor repeats one. The wire types
// come from the zod schemas in src/core/protocol.ts (types only: nothing is imported at
// run time), so the page can load this file as it is, without a build step.
/**
 * @import { ChatMessage, Deleted, ErrorFrame, Member, Presence, ServerFrame, Typing, Welcome } from '../src/core/protocol.ts'
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
 *   | { state: 'closed', code: number, reason: string }} Status
 *   `closed` is final: the server said not to retry (1007, 1008 `kicked`, 1009, a token
 *   refused), or the app called close().
 *
 * @typedef {{
 *   welcome: Welcome,
 *   message: ChatMessage,
 *   presence: Presence,
 *   typing: Typing,
 *   deleted: Deleted,
 *   status: Status,
 *   reset: Welcome,
 *   error: ErrorFrame,
 * }} ClientEvents
 *   `reset` comes before `welcome` when a resume was not recovered: what the app shows may
 *   have a gap, and the welcome's history is a fresh start. `error` is an error frame that
 *   answers no `send` (a refused rename, delete or kick).
 */

/** Close codes after which the same connection must not simply be tried again. */
const FINAL_CODES = new Set([1007, 1008, 1009]);
/** A typing frame goes out at most this often while the user keeps typing. */
const TYPING_EVERY_MS = 3000;

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
  /** No message is sent before this time (a `rate_limited` or `unavailable` answer). */
  #pausedUntil = 0;
  /** The next reconnection. @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  /** The end of a pause of the queue. @type {ReturnType<typeof setTimeout> | undefined} */
  #pumpTimer;
  #attempt = 0;
  #stopped = false;
  #lastTyping = 0;
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

  /** @param {ClientOptions} options */
  constructor(options) {
    this.#options = options;
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
    let listeners = this.#listeners.get(type);
    if (!listeners) this.#listeners.set(type, (listeners = new Set()));
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }

  /**
   * Sends a message. Resolves with it as stored (its `seq`), or rejects with the error
   * frame that refused it. While the client is disconnected or held back by the rate
   * limit it waits in a queue, and goes out in order when it can; after a reconnect, a
   * message the server already stored is not sent again.
   * @param {string} text
   * @returns {Promise<ChatMessage>}
   */
  send(text) {
    return new Promise((resolve, reject) => {
      this.#queue.push({ cid: newCid(), text, resolve, reject, sent: false, retries: 0 });
      this.#pump();
    });
  }

  /**
   * Says whether the user is typing. Call it on every keystroke: at most one frame goes
   * out every few seconds, and none while messages wait, so typing never spends what
   * messages need. Receivers clear "is typing" when the member's message arrives.
   * @param {boolean} active
   */
  typing(active) {
    const now = Date.now();
    if (active && (now - this.#lastTyping < TYPING_EVERY_MS || this.#queue.length > 0)) return;
    if (!active && this.#lastTyping === 0) return;
    this.#lastTyping = active ? now : 0;
    this.#transmit({ type: 'typing', active });
  }

  /** @param {string} name */
  rename(name) {
    this.#options.name = name;
    this.#transmit({ type: 'rename', name });
  }

  /** Moderators: deletes message `seq` for everyone. @param {number} seq */
  deleteMessage(seq) {
    this.#transmit({ type: 'delete', seq });
  }

  /**
   * Moderators: closes every connection of a member, and keeps it out for `banSeconds`.
   * @param {string} member
   * @param {{ banSeconds?: number }} [options]
   */
  kick(member, options = {}) {
    this.#transmit({ type: 'kick', member, ...options });
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
    if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
    /** @type {ChatMessage[]} */
    const messages = body.epoch === this.epoch ? body.messages : [];
    if (messages.length > 0) this.oldestSeq = messages[0]?.seq;
    else this.oldestSeq = 1; // nothing older is retained
    return messages;
  }

  /** Closes for good: no reconnect, and messages still queued are rejected. */
  close() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#pumpTimer);
    this.#socket?.close(1000, 'client_closed');
    this.#finish(1000, 'client_closed');
  }

  // ---------- connecting ----------

  async #connect() {
    if (this.#stopped) return;
    this.#setStatus({ state: 'connecting' });
    try {
      this.#token = await this.#freshToken();
    } catch (error) {
      return this.#retry(1006, `no token: ${String(error)}`);
    }
    if (this.#stopped) return;
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
      if (typeof event.data === 'string') this.#receive(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      for (const outgoing of this.#queue) outgoing.sent = false;
      if (this.#stopped) return;
      if (!opened) return void this.#refused();
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
    if (FINAL_CODES.has(code)) return this.#finish(code, reason);
    this.#retry(code, reason);
  }

  /**
   * The upgrade was refused, and a browser's WebSocket does not say why: the room's HTTP
   * route, asked with the same token, does (401, 403). Anything else is retried.
   */
  async #refused() {
    let status = 0;
    let reason = 'connection_failed';
    try {
      const url = `${httpBase(this.#options.url)}/api/rooms/${encodeURIComponent(this.#options.room)}`;
      const response = await this.#fetch(url);
      status = response.status;
      if (status === 401 || status === 403) reason = (await response.json())?.error?.code ?? reason;
    } catch {
      // the server is away: retried below
    }
    if (this.#stopped) return;
    // An expired token from a function is replaced once; a refused one is final.
    if (status === 401 && typeof this.#options.token === 'function' && this.#attempt === 0) {
      this.#attempt += 1;
      return void this.#connect();
    }
    if (status === 401 || status === 403) return this.#finish(4000 + status, reason);
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

  #finish(/** @type {number} */ code, /** @type {string} */ reason) {
    this.#stopped = true;
    const error = { type: 'error', code: 'unavailable', message: `the connection closed for good (${code} ${reason})` };
    for (const outgoing of this.#queue.splice(0)) outgoing.reject(/** @type {ErrorFrame} */ (error));
    this.#setStatus({ state: 'closed', code, reason });
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
        if (frame.event === 'leave') this.members.delete(frame.member.id);
        else this.members.set(frame.member.id, frame.member);
        return this.#emit('presence', frame);
      case 'typing':
        return this.#emit('typing', frame);
      case 'deleted':
        return this.#emit('deleted', frame);
      case 'error':
        return this.#error(frame);
    }
  }

  #welcome(/** @type {Welcome} */ welcome) {
    this.#attempt = 0;
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
    if (!outgoing) return this.#emit('error', error);
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

  // ---------- sending ----------

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
    this.#transmit({ type: 'message', text: next.text, cid: next.cid });
  }

  /** @param {object} frame */
  #transmit(frame) {
    if (this.#socket?.readyState === 1) this.#socket.send(JSON.stringify(frame));
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
 */

function newCid() {
  return `c_${crypto.randomUUID()}`;
}

/** @param {string} url */
function httpBase(url) {
  return url.replace(/^ws/, 'http').replace(/\/$/, '');
}

/** @param {string} url */
function wsBase(url) {
  return url.replace(/^http/, 'ws').replace(/\/$/, '');
}
