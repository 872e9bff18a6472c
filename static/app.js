// The chat page: the view, and nothing else. Connecting, resuming, the send queue, rate
// limits, typing throttles, paging back and the protocol's rules are the client library's
// (client.js); this script draws what it reports and hands it what the user does.
// User-supplied strings (names, message text) are only ever inserted as text, each in an
// element of its own that isolates its direction (<bdi>, or unicode-bidi: isolate in
// style.css), so that no right-to-left name can reorder the text around it.
import { ChatClient, nameProblem, roomProblem } from './client.js';

const NAME_KEY = 'edgechat:name';
const TOKEN_KEY = 'edgechat:token';
const BACKOFF = { initialMs: 500, maxMs: 15_000 };
const TYPING_IDLE_MS = 3000; // stop announcing our own typing after this much quiet
const TYPING_STALE_MS = 6000; // forget someone else's typing after this long without news
const SCROLL_SLACK_PX = 40; // "at the bottom" tolerance, so sub-pixel offsets still count
const OLDER_PAGE_SIZE = 50; // older messages asked for at a time (the server caps it)
const REJOIN_GRACE_MS = 30_000; // after a reconnect, members coming back within this are not news
const GAP_TEXT = 'Some messages may be missing here';
const OLDER_FAILED_TEXT = 'Could not load older messages. Press "Load older messages" to try again.';
const BAN_SECONDS = 600; // "Ban" keeps a kicked member out this long
const KICKED_TEXT = 'A moderator removed you from this room.';
const EXPIRED_TEXT = 'Your session has expired. Sign in again in the app that sent you here.';
// Links are made of http and https addresses only; bidi controls never belong to one.
const URL_CANDIDATE = /\bhttps?:\/\/[^\s<>"\u202A-\u202E\u2066-\u2069]+/giu;

const $ = (id) => document.getElementById(id);
const ui = {
  bar: document.querySelector('.bar'),
  settingsToggle: $('settings-toggle'),
  roomTitle: $('room-title'),
  roomForm: $('room-form'),
  room: $('room'),
  roomError: $('room-error'),
  nameForm: $('name-form'),
  name: $('name'),
  nameError: $('name-error'),
  you: $('you'),
  status: $('status'),
  countdown: $('countdown'),
  open: $('open'),
  close: $('close'),
  messages: $('messages'),
  jump: $('jump'),
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
  /** @type {ChatClient | null} */
  client: null,
  /** Stops listening to the client's events (before it is replaced). */
  stopListening: [],
  /** The token, when sessionStorage cannot keep it. */
  token: null,
  /** What the status says: connecting, connected, reconnecting or closed. */
  phase: 'connecting',
  countdownTimer: 0,
  /** The last close was a kick: a refusal now is most likely a ban. */
  kicked: false,
  /** Every member id this page has had (a guest gets a new one per connection). */
  ownIds: new Set(),
  /** `epoch:seq` of every message shown: seqs restart when the epoch changes. */
  shown: new Set(),
  /** The oldest message shown ({ epoch, seq }), where scroll-back continues from. */
  oldest: null,
  loadingOlder: false,
  /** The last page request failed: only the button retries, not scrolling. */
  olderFailed: false,
  /** The first welcome's history is in: what arrives after it may be unread. */
  settled: false,
  /** Messages from others that arrived while the page was hidden or scrolled up. */
  unread: 0,
  /** Whether the reader is at the bottom of the list (updated on scroll). */
  pinned: true,
  memberCount: 0,
  /** Names of the others when the connection last dropped. */
  namesBeforeDrop: [],
  /** Names that left with our connection: their joins after our reconnect are not news. */
  expectedBack: new Set(),
  expectedTimer: 0,
  typers: new Map(),
  typingIdleTimer: 0,
  /** The saved name before a rename the server may still refuse. */
  savedNameBefore: null,
  noticeTimer: 0,
};

// ---------- storage ----------

function savedName() {
  try {
    return localStorage.getItem(NAME_KEY);
  } catch {
    return null; // storage can be disabled (privacy modes); fall back to a guest name
  }
}

function rememberName(name) {
  try {
    if (name === null) localStorage.removeItem(NAME_KEY);
    else localStorage.setItem(NAME_KEY, name);
  } catch {
    // Not persisted, but the client still uses it for this session's connections.
  }
}

/** The name, unless the server would refuse it (and the client with it). */
function usable(name) {
  return name && !nameProblem(name) ? name : undefined;
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

// ---------- the connection ----------

function connect() {
  // A guest keeps its name in the next room too.
  const name = usable(savedName()) ?? usable(state.client?.me?.name);
  detachClient();
  const client = new ChatClient({ url: location.origin, room: state.room, name, token: savedToken() ?? undefined, backoff: BACKOFF });
  state.client = client;
  state.phase = 'connecting';
  state.settled = false;
  state.stopListening = [
    client.on('status', onStatus),
    client.on('welcome', onWelcome),
    client.on('reset', appendGapDivider),
    client.on('message', onMessage),
    client.on('presence', onPresence),
    client.on('typing', onTyping),
    client.on('deleted', onDeleted),
    client.on('error', onRequestError),
  ];
  onStatus(client.status); // the first one came before anyone listened
}

function detachClient() {
  for (const stop of state.stopListening) stop();
  state.stopListening = [];
  state.client?.close();
  state.client = null;
}

/** Open: again after a close, or at once instead of waiting out the backoff. */
function openConnection() {
  if (state.client) state.client.open();
  else ui.roomForm.requestSubmit(); // no room joined yet: the form says why
}

function onStatus(status) {
  const phase = phaseOf(status);
  if (state.phase === 'connected' && phase !== 'connected') state.namesBeforeDrop = otherNames();
  if (phase !== 'connected') clearTypers(); // nobody's typing is known while away
  state.phase = phase;
  renderPhase(phase);
  renderCountdown(status);
  if (status.state === 'open') settle();
  if (status.state === 'closed') explainClose(status);
  if (status.state === 'reconnecting' && status.reason === 'room_full') showNotice('This room is full. Retrying…');
}

function phaseOf(status) {
  if (status.state === 'open') return 'connected';
  if (status.state === 'closed' || status.state === 'reconnecting') return status.state;
  // One more try while reconnecting is still "reconnecting": the live region stays quiet.
  return state.phase === 'reconnecting' ? 'reconnecting' : 'connecting';
}

/** The history of a welcome is in: scroll-back can go on from it, and news is news. */
function settle() {
  state.settled = true;
  renderOlder();
}

function renderPhase(phase) {
  // Only a change is written: writing the same words again would announce them again.
  if (ui.status.textContent !== phase) ui.status.textContent = phase;
  document.body.dataset.state = phase;
  const focusWasOn = document.activeElement;
  ui.open.hidden = phase !== 'closed';
  ui.close.hidden = phase === 'closed';
  if (focusWasOn === ui.close && ui.close.hidden) ui.open.focus();
  if (focusWasOn === ui.open && ui.open.hidden) ui.close.focus();
  // Moderation acts on the live room only; disabled also says so next to a stale list.
  for (const button of document.querySelectorAll('.moderate')) button.disabled = phase !== 'connected';
}

/** "in 3s" beside the status while a reconnect waits; outside the live region, so silent. */
function renderCountdown(status) {
  clearInterval(state.countdownTimer);
  ui.countdown.textContent = '';
  if (status.state !== 'reconnecting') return;
  const due = Date.now() + status.inMs;
  const tick = () => {
    const text = ` in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))}s`;
    if (ui.countdown.textContent !== text) ui.countdown.textContent = text;
  };
  tick();
  state.countdownTimer = setInterval(tick, 250);
}

/** Says why the client stopped, unless the user closed it. */
function explainClose({ code, reason, message }) {
  if (reason === 'client_closed') return;
  if (reason === 'kicked') {
    state.kicked = true;
    return showNotice(KICKED_TEXT);
  }
  if (reason === 'token_expired') return showNotice(EXPIRED_TEXT);
  if (reason === 'banned') {
    return showNotice(
      state.kicked
        ? `${KICKED_TEXT} You cannot rejoin it yet: you may be banned for a while.`
        : 'You are banned from this room for a while.',
    );
  }
  if (code === 4403) return showNotice('This room is private, and your account may not enter it.');
  if (code === 4401) return showNotice(refusedTokenText(message));
  const why =
    code === 1009
      ? 'because a message was too large'
      : reason === 'flooding'
        ? 'because too many messages were refused'
        : `(${reason || code})`;
  showNotice(`The server closed the connection ${why}. Press Open to reconnect.`);
}

function refusedTokenText(message) {
  if (!savedToken()) return 'This room is private. Open it from the app that invited you.';
  return /expired/.test(message ?? '') ? EXPIRED_TEXT : 'Your sign-in was not accepted here.';
}

// ---------- what the client reports ----------

function onWelcome(welcome) {
  state.kicked = false;
  state.ownIds.add(welcome.you.id);
  expectBack(welcome.members);
  // The role or the epoch may have changed: Delete only where it would delete that message.
  syncDeleteButtons();
  renderMembers(welcome.members.length);
  renderYou();
  clearNotice();
}

/**
 * After a reconnect, those who were here before and are not back yet will be (a restart
 * drops everyone): their joins are not news, for a little while.
 */
function expectBack(members) {
  const present = new Set(members.map((member) => member.name));
  state.expectedBack = new Set(state.namesBeforeDrop.filter((name) => !present.has(name)));
  state.namesBeforeDrop = [];
  clearTimeout(state.expectedTimer);
  state.expectedTimer = setTimeout(() => state.expectedBack.clear(), REJOIN_GRACE_MS);
}

function onMessage(message) {
  stopTyper(message.from.id);
  const epoch = state.client.epoch;
  const outgoing = message.cid ? ui.messages.querySelector(`.outgoing[data-cid="${CSS.escape(message.cid)}"]`) : null;
  if (!markShown(message, epoch)) return outgoing?.remove(); // resumes can repeat a message
  if (outgoing) becomeStored(outgoing, message, epoch);
  else insertInTimeline(messageItem(message, epoch));
  if (!state.oldest) {
    state.oldest = { epoch, seq: message.seq };
    if (state.settled) renderOlder(); // the first message of a room that was empty
  }
  if (state.pinned) scrollToBottom();
  if (!state.ownIds.has(message.from.id) && state.settled) countUnread();
}

function onPresence({ event, member, count }) {
  if (event === 'leave') {
    stopTyper(member.id);
    appendPresenceLine(member.name, ' left');
  } else if (event === 'join') {
    if (!state.expectedBack.delete(member.name)) appendPresenceLine(member.name, ' joined');
  } else {
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
  note.append('Message deleted by ', isolated(by.name));
  const hadFocus = item.contains(document.activeElement);
  item.replaceWith(note);
  if (hadFocus) note.focus();
}

/** The server refused a rename, a delete or a kick. */
function onRequestError(error) {
  if (error.request?.type === 'rename') return undoRename(error);
  showNotice(requestErrorText(error));
}

function requestErrorText({ code, message, request, retryAfterMs }) {
  if (code === 'rate_limited') return `Too fast: try that again in ${Math.max(1, Math.ceil((retryAfterMs ?? 1000) / 1000))}s.`;
  if (code === 'not_found') {
    // Someone else got there first: the message is gone, or the member left.
    return request?.type === 'kick'
      ? 'That member is no longer in this room.'
      : 'That message is no longer in the history; it may already have been deleted.';
  }
  if (code === 'forbidden') return `Not allowed: ${message}`;
  return `The server refused that: ${message}`;
}

/** The client has put the old name back; the field and the storage follow. */
function undoRename({ code, message }) {
  rememberName(state.savedNameBefore);
  ui.name.value = savedName() ?? '';
  renderYou();
  renderMembers(state.memberCount);
  if (code === 'forbidden') return showNameError('Your name comes from your sign-in and cannot be changed here.');
  if (code === 'rate_limited') return showNameError('Name not changed: too fast. Try again in a moment.');
  showNameError(`Name not changed: ${message}.`);
}

// ---------- notices and field errors ----------

function showNotice(text, clearAfterMs) {
  clearTimeout(state.noticeTimer);
  ui.notice.textContent = text;
  if (clearAfterMs) state.noticeTimer = setTimeout(clearNotice, clearAfterMs);
}

function clearNotice() {
  clearTimeout(state.noticeTimer);
  ui.notice.textContent = '';
}

function showFieldError(input, error, text) {
  error.textContent = text;
  error.hidden = !text;
  input.setAttribute('aria-invalid', text ? 'true' : 'false');
  if (text) showSettings(true); // folded away on a phone: unfold, or the error is unseen
}

const showRoomError = (text) => showFieldError(ui.room, ui.roomError, text);
const showNameError = (text) => showFieldError(ui.name, ui.nameError, text);

function showSettings(open) {
  ui.settingsToggle.setAttribute('aria-expanded', String(open));
  ui.bar.dataset.settings = open ? 'open' : 'closed';
}

// ---------- the timeline ----------

/** Records a message as shown; false when it already is. */
function markShown(message, epoch) {
  const key = `${epoch}:${message.seq}`;
  if (state.shown.has(key)) return false;
  state.shown.add(key);
  return true;
}

/** Puts an item at the end of what the room has said, above messages still on their way. */
function insertInTimeline(item) {
  const firstOutgoing = ui.messages.querySelector('.outgoing');
  if (firstOutgoing) firstOutgoing.before(item);
  else ui.messages.append(item);
  if (state.pinned) scrollToBottom();
}

/** The last item of what the room has said (below it: only messages on their way). */
function lastTimelineItem() {
  const firstOutgoing = ui.messages.querySelector('.outgoing');
  return firstOutgoing ? firstOutgoing.previousElementSibling : ui.messages.lastElementChild;
}

function messageItem(message, epoch) {
  const item = document.createElement('li');
  const meta = document.createElement('div');
  meta.className = 'meta';
  item.append(meta, messageText(message.text));
  fillStored(item, message, epoch);
  return item;
}

/** Makes an item the stored `message`: its seq, its time, and Delete for moderators. */
function fillStored(item, message, epoch) {
  item.className = state.ownIds.has(message.from.id) ? 'message own' : 'message';
  item.dataset.seq = String(message.seq);
  item.dataset.epoch = epoch; // a seq names a message only within its epoch
  delete item.dataset.cid;
  const time = document.createElement('time');
  time.dateTime = new Date(message.ts).toISOString();
  time.textContent = formatTime(message.ts);
  const meta = item.querySelector('.meta');
  meta.replaceChildren(authorName(message.from.name), time);
  if (mayDelete(item)) meta.append(deleteButton(item));
}

/**
 * Our message, now stored: it becomes a message where it is, so that nothing is added to
 * the list (and announced) twice, unless one still on its way above it must stay above.
 */
function becomeStored(item, message, epoch) {
  if (ui.messages.querySelector('.outgoing') !== item) insertInTimeline(item);
  fillStored(item, message, epoch);
}

function authorName(name) {
  const author = isolated(name);
  author.className = 'author';
  return author;
}

/** The text of a message, with its http and https addresses as links. */
function messageText(text) {
  const paragraph = document.createElement('p');
  paragraph.className = 'text';
  paragraph.dir = 'auto'; // a right-to-left message reads right to left
  let shownUpTo = 0;
  for (const match of text.matchAll(URL_CANDIDATE)) {
    const address = trimAddress(match[0]);
    const href = safeHref(address);
    if (!href) continue;
    paragraph.append(text.slice(shownUpTo, match.index), link(address, href));
    shownUpTo = match.index + address.length;
  }
  paragraph.append(text.slice(shownUpTo));
  return paragraph;
}

/** An address without the punctuation that ends the sentence around it. */
function trimAddress(candidate) {
  let address = candidate.replace(/[.,;:!?'*]+$/u, '');
  // A closing bracket belongs to the address only when it opens one: "(see https://x.org/)".
  for (const [open, close] of [
    ['(', ')'],
    ['[', ']'],
  ]) {
    while (address.endsWith(close) && count(address, close) > count(address, open)) {
      address = address.slice(0, -1).replace(/[.,;:!?'*]+$/u, '');
    }
  }
  return address;
}

function count(text, character) {
  return text.split(character).length - 1;
}

/** The address as the browser parses it, if it is http or https; null otherwise. */
function safeHref(address) {
  try {
    const url = new URL(address);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function link(text, href) {
  const anchor = document.createElement('a');
  anchor.href = href;
  anchor.textContent = text;
  anchor.target = '_blank';
  anchor.rel = 'noopener noreferrer';
  return anchor;
}

function formatTime(ts) {
  const date = new Date(ts);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The item shown for message `seq` of the current epoch, if any. */
function shownItem(seq) {
  const items = ui.messages.querySelectorAll(`.message[data-seq="${seq}"]`);
  return [...items].find((item) => item.dataset.epoch === state.client?.epoch) ?? null;
}

/** "ann joined", "ann left": a quiet line in the timeline. */
function appendPresenceLine(name, what) {
  const line = document.createElement('li');
  line.className = 'presence';
  line.append(isolated(name), what);
  insertInTimeline(line);
}

/** Marks a possible gap below what is shown; with nothing shown there is nothing to mark. */
function appendGapDivider() {
  if (!lastTimelineItem()?.matches('.message, .deleted, .presence')) return; // empty, or already marked
  const divider = document.createElement('li');
  divider.className = 'gap';
  divider.textContent = GAP_TEXT;
  insertInTimeline(divider);
}

function resetTimeline() {
  state.shown.clear();
  state.oldest = null;
  state.loadingOlder = false;
  state.olderFailed = false;
  state.unread = 0;
  ui.messages.replaceChildren();
  state.pinned = true;
  renderUnread();
}

// ---------- sending ----------

function submitMessage(event) {
  event.preventDefault();
  const text = ui.text.value;
  if (!text.trim()) return;
  if (state.phase === 'closed') return showNotice('Not connected: press Open to reconnect, then send.');
  ui.text.value = '';
  stopOwnTyping();
  const item = document.createElement('li');
  const meta = document.createElement('div');
  meta.className = 'meta';
  item.append(meta, messageText(text));
  send(item, text);
}

/**
 * Hands a message to the client's queue, and shows it at the bottom until it is stored
 * (then it becomes a message there) or refused (then it says so, and offers to try again).
 */
function send(item, text) {
  const client = state.client;
  const cid = newCid();
  item.className = 'outgoing own';
  item.dataset.cid = cid;
  const status = document.createElement('span');
  status.className = 'sending';
  status.textContent = 'Sending…';
  item.querySelector('.meta').replaceChildren(authorName(client.me?.name ?? usable(savedName()) ?? 'You'), status);
  item.querySelector('.unsent')?.remove();
  ui.messages.append(item);
  scrollToBottom(); // what we just said is what we want to see
  client.send(text, { cid }).catch((error) => {
    if (client === state.client && item.dataset.cid === cid) showUnsent(item, text, error);
  });
}

function newCid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `p_${[...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** Below the text (a long one would hide it above): why it was not sent, and what to do. */
function showUnsent(item, text, error) {
  item.classList.add('failed');
  item.querySelector('.sending').textContent = 'Not sent';
  const why = document.createElement('p');
  why.className = 'unsent';
  why.append(unsentReason(error));
  const retry = actionButton('Retry', () => {
    if (state.phase === 'closed') return showNotice('Not connected: press Open to reconnect, then try again.');
    send(item, text);
  });
  const edit = actionButton('Edit', () => {
    // Back into the composer, after anything typed there since.
    ui.text.value = ui.text.value ? `${ui.text.value}\n${text}` : text;
    item.remove();
    ui.text.focus();
  });
  why.append(retry, edit);
  item.append(why);
}

function unsentReason(error) {
  if (error.code === 'bad_text') return `The server refused it: ${error.message}.`;
  if (error.code === 'rate_limited') return 'Too many messages at once.';
  return state.phase === 'closed' ? 'The connection is closed.' : 'The room could not take it.';
}

function actionButton(label, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'action';
  button.textContent = label;
  button.addEventListener('click', onClick);
  return button;
}

/** Enter sends, Shift+Enter starts a new line (and Enter that ends an IME composition does neither). */
function sendOnEnter(event) {
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  ui.composer.requestSubmit();
}

function noteOwnTyping() {
  clearTimeout(state.typingIdleTimer);
  if (!ui.text.value.trim()) return stopOwnTyping();
  state.client?.typing(true); // the client sends at most one every few seconds
  state.typingIdleTimer = setTimeout(stopOwnTyping, TYPING_IDLE_MS);
}

function stopOwnTyping() {
  clearTimeout(state.typingIdleTimer);
  state.client?.typing(false);
}

// ---------- scrolling, unread and the tab's title ----------

function isNearBottom() {
  const list = ui.messages;
  return list.scrollHeight - list.scrollTop - list.clientHeight < SCROLL_SLACK_PX;
}

function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  state.pinned = true;
  markRead();
}

function onScroll() {
  state.pinned = isNearBottom();
  markRead();
  // Reaching the top asks for the page before it, unless the last try failed: then
  // the button retries, so a reader lingering at the top does not hammer the server.
  if (ui.messages.scrollTop < SCROLL_SLACK_PX && !state.olderFailed) void loadOlder();
}

/** A message from someone else that the reader has not seen yet. */
function countUnread() {
  if (!document.hidden && state.pinned) return;
  state.unread += 1;
  const arrow = document.createElement('span');
  arrow.setAttribute('aria-hidden', 'true');
  arrow.textContent = ' ↓';
  ui.jump.replaceChildren(`${state.unread} new message${state.unread === 1 ? '' : 's'}`, arrow);
  renderUnread();
}

/** The reader sees the bottom of the list: nothing is unread any more. */
function markRead() {
  if (document.hidden || !state.pinned) return renderUnread();
  state.unread = 0;
  renderUnread();
}

/** The count in the tab's title, and the button to the news while scrolled up. Runs on every scroll: writes only changes. */
function renderUnread() {
  const title = `${state.unread ? `(${state.unread}) ` : ''}#${state.room} – edgechat`;
  if (document.title !== title) document.title = title;
  const hidden = state.pinned || state.unread === 0;
  if (hidden === ui.jump.hidden) return;
  if (hidden && ui.jump.contains(document.activeElement)) ui.messages.focus();
  ui.jump.hidden = hidden;
}

function jumpToNew() {
  scrollToBottom();
  ui.messages.focus();
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
  const { oldest, client } = state;
  // The server only pages its current epoch; older messages of another one are gone.
  return oldest !== null && oldest.epoch === client?.epoch && (client.oldestSeq ?? 0) > 1;
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
  const { client } = state;
  const { epoch } = state.oldest;
  state.loadingOlder = true;
  renderOlder();
  const page = await client.loadOlder(OLDER_PAGE_SIZE).catch(() => null);
  if (client !== state.client) return; // another room meanwhile
  // Everything inserted or resized happens above the old top message: it stays put.
  keepInPlace(older.item.nextElementSibling, () => {
    state.loadingOlder = false;
    state.olderFailed = page === null;
    if (page && client.epoch === epoch) prependOlder(page, epoch);
    renderOlder();
  });
  if (!page) showNotice(OLDER_FAILED_TEXT, 6000);
  else if (ui.notice.textContent === OLDER_FAILED_TEXT) clearNotice(); // a retry worked
}

function prependOlder(messages, epoch) {
  const items = messages.filter((message) => markShown(message, epoch)).map((message) => messageItem(message, epoch));
  older.item.after(...items);
  if (items.length) state.oldest = { epoch, seq: Number(items[0].dataset.seq) };
}

/** Runs `change`, which alters only what is above `anchor`, without moving `anchor` on screen. */
function keepInPlace(anchor, change) {
  const before = anchor?.getBoundingClientRect().top;
  change();
  if (anchor) ui.messages.scrollTop += anchor.getBoundingClientRect().top - before;
}

// ---------- moderation ----------

function isModerator() {
  return state.client?.me?.role === 'moderator';
}

/** A seq is only ever deleted in the current epoch: older ones name other messages now. */
function mayDelete(item) {
  return isModerator() && item.dataset.epoch === state.client.epoch;
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
  button.disabled = state.phase !== 'connected';
  button.addEventListener('click', onClick);
  return button;
}

function deleteButton(item) {
  const author = item.querySelector('.author')?.textContent ?? '';
  const seq = Number(item.dataset.seq);
  return moderateButton('Delete', `Delete message from ${author}`, () => {
    if (!confirm(`Delete this message from ${quoted(author)} for everyone in the room?`)) return;
    asked(state.client.deleteMessage(seq));
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
    asked(state.client.kick(id));
  });
  const minutes = BAN_SECONDS / 60;
  const ban = moderateButton('Ban', `Ban ${name} for ${minutes} minutes`, () => {
    if (!confirm(`Remove ${quoted(name)} from this room and keep them out for ${minutes} minutes?`)) return;
    asked(state.client.kick(id, { banSeconds: BAN_SECONDS }));
  });
  kick.dataset.action = 'kick';
  ban.dataset.action = 'ban';
  const actions = document.createElement('span');
  actions.className = 'member-actions';
  actions.append(kick, ban);
  return actions;
}

/** After a moderator's request: a stale notice goes, or the request could not go out. */
function asked(sent) {
  if (sent) clearNotice();
  else showNotice('Not connected. Press Open to reconnect, then try again.');
}

// ---------- members and typing ----------

function otherNames() {
  const me = state.client?.me?.id;
  return [...(state.client?.members.values() ?? [])].filter((member) => member.id !== me).map((member) => member.name);
}

function renderMembers(count) {
  // A re-render must not drop keyboard focus from a Kick or Ban button.
  const focused = ui.members.contains(document.activeElement) ? document.activeElement : null;
  const me = state.client?.me;
  const items = [...(state.client?.members.values() ?? [])].map(({ id, name }) => {
    const item = document.createElement('li');
    item.dataset.id = id;
    item.append(isolated(name));
    if (id === me?.id) {
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
  const me = state.client?.me;
  ui.you.replaceChildren(...(me ? ['You are ', isolated(me.name)] : []));
  // A guest's field stays empty: its name is the server's until the user picks one.
  ui.name.placeholder = !savedName() && me ? me.name : '';
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
  const names = [...state.typers.values()].map((typer) => isolated(typer.name));
  let parts = [];
  if (names.length === 1) parts = [names[0], ' is typing…'];
  else if (names.length === 2) parts = [names[0], ' and ', names[1], ' are typing…'];
  else if (names.length > 2) parts = [names[0], ', ', names[1], ` and ${names.length - 2} more are typing…`];
  ui.typing.replaceChildren(...parts);
}

// ---------- the room and the name ----------

function switchRoom(event) {
  event.preventDefault();
  const room = ui.room.value.trim().toLowerCase();
  ui.room.value = room;
  const problem = roomProblem(room);
  if (problem) return showRoomError(`The room name ${problem}.`);
  showRoomError('');
  // The same room: keep what is shown and resume, rather than starting over.
  if (room === state.room && state.client) return state.client.open();
  const url = new URL(location.href);
  url.searchParams.set('room', room);
  history.replaceState(null, '', url);
  state.room = room;
  renderRoom();
  resetTimeline();
  clearTypers();
  clearNotice();
  connect();
  renderMembers(0);
}

function renderRoom() {
  ui.roomTitle.textContent = `#${state.room}`;
  renderUnread(); // the tab's title names the room
}

function changeName(event) {
  event.preventDefault();
  const name = ui.name.value.trim();
  const problem = nameProblem(name);
  if (problem) return showNameError(`The name ${problem}.`);
  showNameError('');
  ui.name.value = name;
  state.savedNameBefore = savedName();
  rememberName(name);
  // Not connected: the client takes the name at its next connection.
  state.client?.rename(name);
  renderMembers(state.memberCount);
  renderYou();
}

// ---------- start ----------

function start() {
  takeToken();
  state.room = (new URLSearchParams(location.search).get('room') ?? 'lobby').trim().toLowerCase();
  ui.room.value = state.room;
  ui.name.value = savedName() ?? '';
  renderRoom();

  ui.settingsToggle.addEventListener('click', () => showSettings(ui.bar.dataset.settings !== 'open'));
  ui.roomForm.addEventListener('submit', switchRoom);
  ui.nameForm.addEventListener('submit', changeName);
  ui.composer.addEventListener('submit', submitMessage);
  ui.text.addEventListener('keydown', sendOnEnter);
  ui.text.addEventListener('input', noteOwnTyping);
  ui.open.addEventListener('click', openConnection);
  ui.close.addEventListener('click', () => state.client?.close());
  ui.jump.addEventListener('click', jumpToNew);
  ui.messages.addEventListener('scroll', onScroll, { passive: true });
  // Keeps a reader at the bottom there when notices or the composer change the list's height.
  new ResizeObserver(() => {
    if (state.pinned) scrollToBottom();
  }).observe(ui.messages);
  document.addEventListener('visibilitychange', markRead);
  // Back online: no point waiting out the backoff.
  window.addEventListener('online', () => {
    if (state.phase === 'reconnecting') state.client?.open();
  });

  const problem = roomProblem(state.room);
  if (problem) {
    showRoomError(`The room name ${problem}.`);
    state.phase = 'closed';
    return renderPhase('closed');
  }
  connect();
}

start();
