// edgechat browser client for protocol v1.1. Plain ES module, no build step.
// User-supplied strings (names, message text) are only ever inserted with textContent,
// each in an element of its own that isolates its direction (<bdi>, or unicode-bidi:
// isolate in style.css), so that no right-to-left name can reorder the text around it.

const NAME_KEY = 'edgechat:name';
const TOKEN_KEY = 'edgechat:token';
const ROOM_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ROOM_RULE = 'Room names are 1–64 characters of a–z, 0–9, "_" or "-", starting with a letter or digit.';
const CONTROL_CHARACTER = /\p{Cc}/u;
const TYPING_IDLE_MS = 3000; // stop announcing our own typing after this much quiet
const TYPING_STALE_MS = 6000; // forget someone else's typing after this long without news
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const NO_RETRY_CODES = new Set([1008, 1009]); // protocol: "do not retry the same thing"
const SCROLL_SLACK_PX = 40; // "at the bottom" tolerance, so sub-pixel offsets still count
// Older messages asked for at a time (the server caps it at its HISTORY_LIMIT).
const OLDER_PAGE_SIZE = 50;
const GAP_TEXT = 'Some messages may be missing here';
const OLDER_FAILED_TEXT = 'Could not load older messages. Press "Load older messages" to try again.';
const BAN_SECONDS = 600; // "Ban" keeps a kicked member out this long
const KICKED_TEXT = 'A moderator removed you from this room.';

const $ = (id) => document.getElementById(id);
const ui = {
  roomForm: $('room-form'),
  room: $('room'),
  roomError: $('room-error'),
  nameForm: $('name-form'),
  name: $('name'),
  you: $('you'),
  status: $('status'),
  open: $('open'),
  close: $('close'),
  messages: $('messages'),
  members: $('members'),
  membersHeading: $('members-heading'),
  memberCount: $('member-count'),
  typing: $('typing'),
  notice: $('notice'),
  composer: $('composer'),
  text: $('text'),
};

const state = {
  room: '',
  socket: null,
  /** The token, when sessionStorage cannot keep it. */
  token: null,
  /** Our name before a rename the server may still refuse. */
  nameBefore: null,
  /**
   * The last request the server may refuse as forbidden or not_found (rename, delete,
   * kick), so an error without a cid can be told as what it refuses.
   */
  lastAsk: null,
  /** The room a moderator removed us from: a refusal there is likely a ban. */
  kickedFrom: null,
  /** Set when the user pressed Close (or a 1008/1009 close): no automatic reconnect. */
  stopped: false,
  attempt: 0,
  reconnectTimer: 0,
  countdownTimer: 0,
  /** Resume point: the epoch from the last welcome and the last seq seen. */
  epoch: null,
  lastSeq: null,
  me: null,
  /** Every member id this page has had, so our messages stay "own" across reconnects. */
  ownIds: new Set(),
  /** `epoch:seq` of every message shown: seqs restart when the epoch changes. */
  shown: new Set(),
  /** The oldest message shown ({ epoch, seq }), where scroll-back continues from. */
  oldest: null,
  /** Scroll-back: a page request is in flight / the server has nothing older to give. */
  loadingOlder: false,
  olderEnded: false,
  /** The last page request failed: only the button retries, not scrolling. */
  olderFailed: false,
  /** Bumped when the list is emptied, so a page that arrives afterwards is dropped. */
  timeline: 0,
  members: new Map(),
  memberCount: 0,
  typers: new Map(),
  typingActive: false,
  typingIdleTimer: 0,
  cidCounter: 0,
  /** Texts sent but not yet acknowledged, by cid, so a refused message can be restored. */
  pending: new Map(),
  /** Whether the reader is at the bottom of the list (updated on scroll). */
  pinned: true,
  noticeTimer: 0,
};

// ---------- validation ----------

function normalizeRoom(raw) {
  return raw.trim().toLowerCase();
}

function nameProblem(name) {
  const length = [...name].length; // the server counts code points
  if (length < 1) return 'Enter a name.';
  if (length > 32) return 'Names are at most 32 characters.';
  if (CONTROL_CHARACTER.test(name)) return 'Names cannot contain control characters.';
  return null;
}

function savedName() {
  try {
    return localStorage.getItem(NAME_KEY);
  } catch {
    return null; // storage can be disabled (privacy modes); fall back to a guest name
  }
}

/**
 * A token the app that links here gave in the fragment (`#token=…`, which never reaches a
 * server log or a Referer), kept for this tab's session and removed from the address bar.
 */
function takeToken() {
  const given = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!given) return;
  try {
    sessionStorage.setItem(TOKEN_KEY, given);
  } catch {
    state.token = given; // storage disabled: kept in memory for this page only
  }
  history.replaceState(null, '', `${location.pathname}${location.search}`);
}

function savedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? state.token;
  } catch {
    return state.token;
  }
}

/** Headers for the HTTP API: the token, when there is one. */
function authHeaders() {
  const token = savedToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function saveName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Not persisted, but still used for this session's connections.
  }
}

// ---------- status and notices ----------

function setStatus(text, phase) {
  ui.status.textContent = text;
  document.body.dataset.state = phase;
  ui.open.disabled = phase === 'connecting' || phase === 'connected';
  ui.close.disabled = phase === 'closed';
  // Moderation acts on the live room only; disabled also says so next to a stale list.
  for (const button of document.querySelectorAll('.moderate')) button.disabled = phase !== 'connected';
}

function showNotice(text, clearAfterMs) {
  clearTimeout(state.noticeTimer);
  ui.notice.textContent = text;
  if (clearAfterMs) state.noticeTimer = setTimeout(clearNotice, clearAfterMs);
}

function clearNotice() {
  clearTimeout(state.noticeTimer);
  ui.notice.textContent = '';
}

function showRoomError(text) {
  ui.roomError.textContent = text;
  ui.roomError.hidden = !text;
  ui.room.setAttribute('aria-invalid', text ? 'true' : 'false');
}

// ---------- connection ----------

function socketUrl(resuming) {
  const params = new URLSearchParams();
  const name = savedName();
  // A saved name the server would refuse (HTTP 400) would only loop the backoff.
  if (name && !nameProblem(name.trim())) params.set('name', name);
  if (resuming) {
    params.set('since', String(state.lastSeq));
    params.set('epoch', state.epoch);
  }
  const token = savedToken();
  if (token) params.set('token', token);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = params.toString() ? `?${params}` : '';
  return `${scheme}://${location.host}/ws/${state.room}${query}`;
}

function connect() {
  cancelReconnect();
  if (state.socket) return;
  if (!ROOM_PATTERN.test(state.room)) {
    showRoomError(ROOM_RULE);
    setStatus('closed', 'closed');
    return;
  }
  state.stopped = false;
  setStatus('connecting', 'connecting');
  const resuming = state.lastSeq !== null && state.epoch !== null;
  const socket = new WebSocket(socketUrl(resuming));
  state.socket = socket;
  let opened = false;
  socket.addEventListener('open', () => (opened = true));
  // Handlers ignore events from a socket we have already replaced (room switch).
  socket.addEventListener('message', (event) => {
    if (state.socket === socket) handleFrame(event.data, resuming);
  });
  socket.addEventListener('close', (event) => {
    if (state.socket === socket) handleClose(event, opened);
  });
}

/** Closes the current socket without triggering a reconnect. */
function disconnect() {
  cancelReconnect();
  stopOwnTyping();
  state.stopped = true;
  const socket = state.socket;
  state.socket = null;
  if (socket) socket.close(1000, 'client closed');
  clearTypers();
  setStatus('closed', 'closed');
}

function handleClose(event, opened) {
  state.socket = null;
  state.typingActive = false;
  clearTypers();
  if (state.stopped) {
    setStatus('closed', 'closed');
  } else if (event.code === 1008 && event.reason === 'kicked') {
    // 1008: not retried, or a ban would only be met by a reconnect loop.
    state.stopped = true;
    state.kickedFrom = state.room;
    setStatus('closed', 'closed');
    showNotice(KICKED_TEXT);
  } else if (event.code === 1008 && event.reason === 'token_expired') {
    state.stopped = true;
    setStatus('closed', 'closed');
    showNotice('Your session has expired. Sign in again in the app that sent you here.');
  } else if (NO_RETRY_CODES.has(event.code)) {
    state.stopped = true;
    setStatus('closed', 'closed');
    const why = event.code === 1009 ? 'a message was too large' : 'too many messages were refused';
    showNotice(`The server closed the connection because ${why}. Press Open to reconnect.`);
  } else if (!opened) {
    // Refused before it opened: a browser does not say why, so the room is asked.
    void explainRefusal();
  } else {
    if (event.code === 1013 && event.reason === 'room_full') showNotice('This room is full. Retrying…');
    scheduleReconnect();
  }
}

/**
 * After a connection refused before it opened: a 401 or 403 for this room is shown as
 * what it means, and not retried; anything else (the server restarting) is retried.
 */
async function explainRefusal() {
  let refusal = null;
  let answered = false;
  try {
    const response = await fetch(`/api/rooms/${state.room}`, { headers: authHeaders() });
    answered = true;
    if (response.status === 401 || response.status === 403) refusal = { status: response.status, ...(await response.json()).error };
  } catch {
    // the server is away: retry below
  }
  // The room answers a banned member (bans are checked on the WebSocket only): after a
  // kick, a socket refused by a server that is up is most likely a ban, not retried.
  if (!refusal && answered && state.kickedFrom === state.room) refusal = { status: 403, code: 'banned' };
  if (!refusal) return scheduleReconnect();
  state.stopped = true;
  setStatus('closed', 'closed');
  const hasToken = Boolean(savedToken());
  if (refusal.status === 403) {
    const banned = state.kickedFrom === state.room
      ? `${KICKED_TEXT} You cannot rejoin it yet: you may be banned for a while.`
      : 'You are banned from this room.';
    showNotice(refusal.code === 'banned' ? banned : 'This room is private, and your account may not enter it.');
  } else if (hasToken && /expired/.test(refusal.message ?? '')) {
    showNotice('Your session has expired. Sign in again in the app that sent you here.');
  } else {
    showNotice(hasToken ? 'Your sign-in was not accepted here.' : 'This room is private. Open it from the app that invited you.');
  }
}

function backoffDelay(attempt) {
  // Equal jitter: half the exponential step is fixed, half random, so clients that
  // were dropped together do not all come back at the same instant.
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return step / 2 + Math.random() * (step / 2);
}

function scheduleReconnect() {
  const due = Date.now() + backoffDelay(state.attempt);
  state.attempt += 1;
  const tick = () => {
    const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
    setStatus(`reconnecting in ${seconds}s`, 'reconnecting');
  };
  tick();
  state.countdownTimer = setInterval(tick, 250);
  state.reconnectTimer = setTimeout(connect, due - Date.now());
}

function cancelReconnect() {
  clearTimeout(state.reconnectTimer);
  clearInterval(state.countdownTimer);
}

function send(frame) {
  if (state.socket?.readyState !== WebSocket.OPEN) return false;
  state.socket.send(JSON.stringify(frame));
  return true;
}

// ---------- inbound frames ----------

function handleFrame(data, resuming) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return; // not protocol v1; nothing sensible to show
  }
  switch (frame?.type) {
    case 'welcome': return onWelcome(frame, resuming);
    case 'message': return onMessage(frame);
    case 'presence': return onPresence(frame);
    case 'typing': return onTyping(frame);
    case 'deleted': return onDeleted(frame);
    case 'error': return onError(frame);
  }
}

function onWelcome(welcome, resuming) {
  state.attempt = 0;
  state.kickedFrom = null;
  state.me = welcome.you;
  state.ownIds.add(welcome.you.id);
  // A resume the server could not fill is a fresh start, but what the reader already saw
  // stays: a divider marks where messages may be missing, so the gap is never silent.
  if (resuming && welcome.recovered !== true) appendGapDivider();
  state.epoch = welcome.epoch;
  state.lastSeq = welcome.seq;
  // The role or the epoch may have changed: Delete only where it would delete that message.
  syncDeleteButtons();
  // Seqs of the same epoch already shown are skipped; after an epoch change none match.
  welcome.history.forEach(appendMessage);
  renderOlder(); // a new epoch cannot page further back into the old one shown above
  state.members = new Map(welcome.members.map((m) => [m.id, m.name]));
  renderMembers(welcome.members.length);
  renderYou();
  clearNotice();
  setStatus('connected', 'connected');
}

function onMessage(message) {
  stopTyper(message.from.id);
  if (message.cid && state.pending.delete(message.cid)) clearNotice();
  appendMessage(message);
}

function onPresence({ event, member, count }) {
  if (event === 'leave') {
    state.members.delete(member.id);
    stopTyper(member.id);
  } else {
    state.members.set(member.id, member.name);
    const typer = state.typers.get(member.id);
    if (typer) typer.name = member.name;
    renderTyping();
  }
  renderMembers(count);
}

function onTyping({ from, active }) {
  if (!active) return stopTyper(from.id);
  const typer = state.typers.get(from.id);
  clearTimeout(typer?.timer);
  const timer = setTimeout(() => stopTyper(from.id), TYPING_STALE_MS);
  state.typers.set(from.id, { name: from.name, timer });
  renderTyping();
}

/** A moderator (or the backend) deleted a message: it leaves every member's timeline. */
function onDeleted({ seq, by }) {
  const item = shownItem(seq);
  if (!item) return; // not shown here (older than the page went back, say)
  // A quiet note keeps the conversation around it making sense. The key stays in
  // state.shown, so a copy that was already on its way (an older page) stays out.
  const note = document.createElement('li');
  note.className = 'deleted';
  note.tabIndex = -1; // focus goes here when it was on the Delete button that went away
  note.append('Message deleted by ', isolated(by?.name ?? 'a moderator'));
  const hadFocus = item.contains(document.activeElement);
  item.replaceWith(note);
  if (hadFocus) note.focus();
}

function onError(error) {
  const text = error.cid ? state.pending.get(error.cid) : undefined;
  if (text !== undefined) {
    state.pending.delete(error.cid);
    // The message was not delivered: give the text back unless the user typed something new.
    if (!ui.text.value) ui.text.value = text;
  }
  switch (error.code) {
    case 'rate_limited': {
      const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
      return showNotice(`You are sending too fast. Try again in ${seconds}s.`, error.retryAfterMs ?? 1000);
    }
    case 'bad_text':
      return showNotice(`Message not sent: ${error.message}`);
    case 'bad_name':
      return showNotice(`Name not changed: ${error.message}`);
    case 'not_found':
      // Someone else got there first: the message is gone, or the member left.
      return showNotice(state.lastAsk?.kind === 'kick'
        ? 'That member is no longer in this room.'
        : 'That message is no longer in the history; it may already have been deleted.');
    case 'forbidden':
      if (state.lastAsk && state.lastAsk.kind !== 'rename') return showNotice(`Not allowed: ${error.message}`);
      // A refused rename: the sign-in fixes the name.
      if (state.nameBefore) {
        state.me = { ...state.me, name: state.nameBefore };
        state.members.set(state.me.id, state.nameBefore);
        ui.name.value = state.nameBefore;
        renderMembers(state.memberCount);
        renderYou();
        state.nameBefore = null;
      }
      return showNotice('Your name comes from your sign-in and cannot be changed here.');
    default:
      return showNotice(`Server error: ${error.message}`);
  }
}

// ---------- messages ----------

function resetMessages() {
  state.shown.clear();
  state.oldest = null;
  state.loadingOlder = false;
  state.olderEnded = false;
  state.olderFailed = false;
  state.timeline += 1;
  ui.messages.replaceChildren();
  state.pinned = true;
}

function isNearBottom() {
  const list = ui.messages;
  return list.scrollHeight - list.scrollTop - list.clientHeight < SCROLL_SLACK_PX;
}

function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  state.pinned = true;
}

/** Keeps a pinned reader at the bottom when notices or the header change the list's height. */
function followListResizes() {
  ui.messages.addEventListener('scroll', () => {
    state.pinned = isNearBottom();
    // Reaching the top asks for the page before it, unless the last try failed: then
    // the button retries, so a reader lingering at the top does not hammer the server.
    if (ui.messages.scrollTop < SCROLL_SLACK_PX && !state.olderFailed) void loadOlder();
  }, { passive: true });
  new ResizeObserver(() => {
    if (state.pinned) scrollToBottom();
  }).observe(ui.messages);
}

function formatTime(ts) {
  const date = new Date(ts);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The list item for a message of `epoch`, or null when it is already shown. */
function messageItem(message, epoch) {
  const key = `${epoch}:${message.seq}`;
  if (state.shown.has(key)) return null; // resumes and acks can repeat a message
  state.shown.add(key);

  const item = document.createElement('li');
  item.className = 'message';
  item.dataset.seq = String(message.seq);
  item.dataset.epoch = epoch; // a seq names a message only within its epoch
  if (state.ownIds.has(message.from.id)) item.classList.add('own');

  const meta = document.createElement('div');
  meta.className = 'meta';
  const name = document.createElement('bdi');
  name.className = 'author';
  name.textContent = message.from.name;
  const time = document.createElement('time');
  time.dateTime = new Date(message.ts).toISOString();
  time.textContent = formatTime(message.ts);
  meta.append(name, time);

  const text = document.createElement('p');
  text.className = 'text';
  text.dir = 'auto'; // a right-to-left message reads right to left
  text.textContent = message.text;

  item.append(meta, text);
  if (mayDelete(item)) meta.append(deleteButton(item));
  return item;
}

/** The item shown for message `seq` of the current epoch, if any. */
function shownItem(seq) {
  if (!Number.isSafeInteger(seq)) return null;
  const items = ui.messages.querySelectorAll(`.message[data-seq="${seq}"]`);
  return [...items].find((item) => item.dataset.epoch === state.epoch) ?? null;
}

/** Adds a message of the current epoch at the bottom. */
function appendMessage(message) {
  const item = messageItem(message, state.epoch);
  if (!item) return;
  state.lastSeq = Math.max(state.lastSeq ?? 0, message.seq);
  ui.messages.append(item);
  if (!state.oldest) {
    state.oldest = { epoch: state.epoch, seq: message.seq };
    renderOlder();
  }
  // Follow new messages, but don't yank a reader who scrolled up.
  if (state.pinned) scrollToBottom();
}

/** Marks a possible gap below what is shown; with nothing shown there is nothing to mark. */
function appendGapDivider() {
  const last = ui.messages.lastElementChild;
  if (!last?.matches('.message, .deleted')) return; // empty, or already marked
  const divider = document.createElement('li');
  divider.className = 'gap';
  divider.textContent = GAP_TEXT;
  ui.messages.append(divider);
  if (state.pinned) scrollToBottom();
}

// ---------- scroll-back ----------

/** The top of the list: a button for the page before, or why there is nothing older. */
const older = (() => {
  const item = document.createElement('li');
  item.className = 'older';
  const button = document.createElement('button');
  button.type = 'button';
  button.addEventListener('click', () => {
    state.olderFailed = false;
    void loadOlder();
  });
  const note = document.createElement('span');
  item.append(button, note);
  return { item, button, note };
})();

function canLoadOlder() {
  const { oldest } = state;
  // The server only pages its current epoch; older messages of another one are gone.
  return oldest !== null && oldest.seq > 1 && !state.olderEnded && oldest.epoch === state.epoch;
}

function renderOlder() {
  if (!state.oldest) return older.item.remove();
  if (ui.messages.firstElementChild !== older.item) ui.messages.prepend(older.item);
  const more = canLoadOlder();
  older.button.hidden = !more;
  older.button.textContent = state.loadingOlder ? 'Loading older messages…' : 'Load older messages';
  older.button.setAttribute('aria-disabled', String(state.loadingOlder));
  older.note.hidden = more;
  // Seqs may skip (deleted messages), so only seq 1 itself proves the beginning.
  older.note.textContent = state.oldest.seq <= 1 ? 'Beginning of the conversation' : 'No older messages available';
}

/** Loads the page before the oldest message shown; one request at a time. */
async function loadOlder() {
  if (state.loadingOlder || !canLoadOlder()) return;
  const { epoch, seq } = state.oldest;
  const timeline = state.timeline;
  state.loadingOlder = true;
  renderOlder();
  const page = await fetchOlder(seq);
  if (timeline !== state.timeline) return; // the list was emptied (room switch) meanwhile
  // Everything inserted or resized happens above the old top message: it stays put.
  keepInPlace(older.item.nextElementSibling, () => {
    state.loadingOlder = false;
    state.olderFailed = page === null;
    if (page) prependOlder(page, epoch);
    renderOlder();
  });
  if (!page) showNotice(OLDER_FAILED_TEXT, 6000);
  else if (ui.notice.textContent === OLDER_FAILED_TEXT) clearNotice(); // a retry worked
}

/** `{ epoch, messages }` before `seq`, oldest first; null when the request failed. */
async function fetchOlder(seq) {
  const query = new URLSearchParams({ before: String(seq), limit: String(OLDER_PAGE_SIZE) });
  try {
    const response = await fetch(`/api/rooms/${state.room}/messages?${query}`, { headers: authHeaders() });
    // no_room: nothing stored any more, so no epoch the shown messages could continue.
    if (response.status === 404) return { epoch: null, messages: [] };
    if (!response.ok) return null;
    const page = await response.json();
    return Array.isArray(page?.messages) ? page : null;
  } catch {
    return null; // offline, or the server is restarting; the button retries
  }
}

function prependOlder(page, epoch) {
  // Seqs of another epoch belong to another history, not to the one shown.
  if (page.epoch !== epoch) {
    state.olderEnded = true;
    return;
  }
  const items = page.messages.map((message) => messageItem(message, epoch)).filter(Boolean);
  older.item.after(...items);
  if (items.length) state.oldest = { epoch, seq: Number(items[0].dataset.seq) };
  // Only an empty page is the end: a server with a HISTORY_LIMIT under the page size
  // answers every page short.
  if (!items.length) state.olderEnded = true;
}

/** Runs `change`, which alters only what is above `anchor`, without moving `anchor` on screen. */
function keepInPlace(anchor, change) {
  const before = anchor?.getBoundingClientRect().top;
  change();
  if (anchor) ui.messages.scrollTop += anchor.getBoundingClientRect().top - before;
}

function sendMessage(text) {
  const cid = `c${++state.cidCounter}-${Math.random().toString(36).slice(2, 8)}`;
  if (!send({ type: 'message', text, cid })) return false;
  state.pending.set(cid, text);
  return true;
}

// ---------- moderation ----------

function isModerator() {
  return state.me?.role === 'moderator';
}

/** A seq is only ever deleted in the current epoch: older ones name other messages now. */
function mayDelete(item) {
  return isModerator() && item.dataset.epoch === state.epoch;
}

/** A name inside plain text (confirm dialogs): isolated, so it cannot reorder the question. */
function quoted(name) {
  return `\u2068${name}\u2069`;
}

/** A small button for a moderator action; usable only while connected. */
function moderateButton(label, accessibleName, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'moderate';
  button.textContent = label;
  // The visible word starts the accessible name (WCAG 2.5.3), which says to whom.
  button.setAttribute('aria-label', accessibleName);
  button.disabled = document.body.dataset.state !== 'connected';
  button.addEventListener('click', onClick);
  return button;
}

function deleteButton(item) {
  const author = item.querySelector('.author')?.textContent ?? '';
  const seq = Number(item.dataset.seq);
  return moderateButton('Delete', `Delete message from ${author}`, () => {
    if (!confirm(`Delete this message from ${quoted(author)} for everyone in the room?`)) return;
    ask({ type: 'delete', seq }, { kind: 'delete' });
  });
}

/** Adds or removes Delete on every message shown, after the role or the epoch changed. */
function syncDeleteButtons() {
  for (const item of ui.messages.querySelectorAll('.message')) {
    const button = item.querySelector('.moderate');
    if (mayDelete(item) && !button) item.querySelector('.meta').append(deleteButton(item));
    else if (!mayDelete(item)) button?.remove();
  }
}

/** Kick, and Kick with a ban, for a member other than us. */
function kickButtons(id, name) {
  const kick = moderateButton('Kick', `Kick ${name}`, () => {
    if (!confirm(`Remove ${quoted(name)} from this room? They can rejoin straight away.`)) return;
    ask({ type: 'kick', member: id }, { kind: 'kick' });
  });
  const minutes = BAN_SECONDS / 60;
  const ban = moderateButton('Ban', `Ban ${name} for ${minutes} minutes`, () => {
    if (!confirm(`Remove ${quoted(name)} from this room and keep them out for ${minutes} minutes?`)) return;
    ask({ type: 'kick', member: id, banSeconds: BAN_SECONDS }, { kind: 'kick' });
  });
  kick.dataset.action = 'kick';
  ban.dataset.action = 'ban';
  const actions = document.createElement('span');
  actions.className = 'member-actions';
  actions.append(kick, ban);
  return actions;
}

/** Sends a request the server may refuse without a cid, remembering what it was. */
function ask(frame, what) {
  if (!send(frame)) return showNotice('Not connected. Press Open to reconnect, then try again.');
  state.lastAsk = what;
  clearNotice();
}

// ---------- members and typing ----------

function renderMembers(count) {
  // A re-render must not drop keyboard focus from a Kick or Ban button.
  const focused = ui.members.contains(document.activeElement) ? document.activeElement : null;
  const items = [...state.members].map(([id, name]) => {
    const item = document.createElement('li');
    item.dataset.id = id;
    item.append(isolated(name));
    if (id === state.me?.id) {
      item.classList.add('me');
      item.append(' (you)');
    } else if (isModerator()) {
      item.append(kickButtons(id, name));
    }
    return item;
  });
  ui.members.replaceChildren(...items);
  state.memberCount = count;
  ui.memberCount.textContent = String(count);
  if (focused) restoreMemberFocus(focused);
}

/** Focus back on the same button, or on the list's heading when that member has left. */
function restoreMemberFocus(focused) {
  const id = focused.closest('li')?.dataset.id;
  const same = [...ui.members.querySelectorAll('li')].find((item) => item.dataset.id === id);
  const button = same?.querySelector(`[data-action="${focused.dataset.action}"]`);
  (button ?? ui.membersHeading).focus();
}

/** A user-supplied string as text in a <bdi>: shown as it is, reordering nothing outside. */
function isolated(text) {
  const bdi = document.createElement('bdi');
  bdi.textContent = text;
  return bdi;
}

function renderYou() {
  ui.you.replaceChildren(...(state.me ? ['You are ', isolated(state.me.name)] : []));
  // A guest keeps the name field empty so a reconnect asks for a fresh guest name.
  if (!savedName() && state.me) ui.name.placeholder = state.me.name;
}

function stopTyper(id) {
  const typer = state.typers.get(id);
  if (!typer) return;
  clearTimeout(typer.timer);
  state.typers.delete(id);
  renderTyping();
}

function clearTypers() {
  for (const typer of state.typers.values()) clearTimeout(typer.timer);
  state.typers.clear();
  renderTyping();
}

function renderTyping() {
  const names = [...state.typers.values()].map((t) => isolated(t.name));
  let parts = [];
  if (names.length === 1) parts = [names[0], ' is typing…'];
  else if (names.length === 2) parts = [names[0], ' and ', names[1], ' are typing…'];
  else if (names.length > 2) parts = [names[0], ', ', names[1], ` and ${names.length - 2} more are typing…`];
  ui.typing.replaceChildren(...parts);
}

function noteOwnTyping() {
  clearTimeout(state.typingIdleTimer);
  if (!ui.text.value.trim()) return stopOwnTyping();
  if (!state.typingActive) state.typingActive = send({ type: 'typing', active: true });
  state.typingIdleTimer = setTimeout(stopOwnTyping, TYPING_IDLE_MS);
}

function stopOwnTyping() {
  clearTimeout(state.typingIdleTimer);
  if (state.typingActive) send({ type: 'typing', active: false });
  state.typingActive = false;
}

// ---------- user actions ----------

function switchRoom(event) {
  event.preventDefault();
  const room = normalizeRoom(ui.room.value);
  ui.room.value = room;
  if (!ROOM_PATTERN.test(room)) {
    showRoomError(ROOM_RULE);
    return;
  }
  showRoomError('');
  if (room === state.room) {
    // Same room: keep the history and resume rather than starting over.
    if (!state.socket) connect();
    return;
  }
  const url = new URL(location.href);
  url.searchParams.set('room', room);
  history.replaceState(null, '', url);
  disconnect();
  // A different room has its own history stream: start fresh, no resume.
  state.room = room;
  state.epoch = null;
  state.lastSeq = null;
  state.members.clear();
  renderMembers(0);
  resetMessages();
  clearNotice();
  document.title = `${room} · edgechat`;
  connect();
}

function changeName(event) {
  event.preventDefault();
  const name = ui.name.value.trim();
  const problem = nameProblem(name);
  if (problem) return showNotice(problem);
  ui.name.value = name;
  saveName(name);
  clearNotice();
  if (state.me && send({ type: 'rename', name })) {
    state.lastAsk = { kind: 'rename' };
    // The server tells only the others; update our own view directly (and keep the old
    // name, should the server refuse).
    state.nameBefore = state.me.name;
    state.me = { ...state.me, name };
    state.members.set(state.me.id, name);
    renderMembers(state.memberCount);
    renderYou();
  }
}

function submitMessage(event) {
  event.preventDefault();
  const text = ui.text.value;
  if (!text.trim()) return;
  if (!sendMessage(text)) {
    const hint = state.stopped ? 'Press Open to reconnect.' : 'Waiting to reconnect.';
    return showNotice(`Not connected, message not sent. ${hint}`);
  }
  ui.text.value = '';
  stopOwnTyping();
}

function start() {
  takeToken();
  const params = new URLSearchParams(location.search);
  state.room = normalizeRoom(params.get('room') ?? 'lobby');
  ui.room.value = state.room;
  ui.name.value = savedName() ?? '';
  document.title = `${state.room} · edgechat`;

  ui.roomForm.addEventListener('submit', switchRoom);
  ui.nameForm.addEventListener('submit', changeName);
  ui.composer.addEventListener('submit', submitMessage);
  ui.text.addEventListener('input', noteOwnTyping);
  ui.open.addEventListener('click', connect);
  ui.close.addEventListener('click', disconnect);
  // Back online: no point waiting out the backoff.
  window.addEventListener('online', () => {
    if (!state.socket && !state.stopped) connect();
  });
  followListResizes();

  connect();
}

start();
