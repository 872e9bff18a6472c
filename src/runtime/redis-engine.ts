// STORAGE=redis: rooms shared by any number of instances (Node, Deno and Bun alike) through
// one Redis. Redis is the store of record for history, seq and epoch, and the member list;
// each instance subscribes once to the channel of every room it holds members of, and
// hands what arrives to the room, which delivers it to its own members on the runtime's
// fast path. What each step does in Redis is in redis-scripts.ts.
import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import type { Config } from '../core/config.ts';
import type { Engine, RoomReader } from '../core/engine.ts';
import { RoomFull, type HubListener, type RoomEvent, type RoomHub, type Snapshot } from '../core/hub.ts';
import { randomId } from '../core/ids.ts';
import { logEvent } from '../core/log.ts';
import type { ChatMessage, Deleted, Member, RoomInfo, RoomMessages, ServerFrame, Typing } from '../core/protocol.ts';
import type { HistoryQuery, MessageDraft, ResumeRequest } from '../core/store.ts';
import * as scripts from './redis-scripts.ts';

type Client = ReturnType<typeof createClient>;

/** A Lua script, run by its SHA1 once Redis has it. */
class Script {
  readonly sha: string;
  readonly source: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

const SCRIPTS = {
  append: new Script(scripts.APPEND),
  join: new Script(scripts.JOIN),
  leave: new Script(scripts.LEAVE),
  rename: new Script(scripts.RENAME),
  signal: new Script(scripts.SIGNAL),
  heartbeat: new Script(scripts.HEARTBEAT),
  release: new Script(scripts.RELEASE),
  remove: new Script(scripts.REMOVE),
  kick: new Script(scripts.KICK),
  banned: new Script(scripts.BANNED),
  info: new Script(scripts.INFO),
  messages: new Script(scripts.MESSAGES),
};

/** Reconnection back-off: 100 ms doubling up to 2 s, for ever (Redis may be gone for long). */
const reconnectStrategy = (retries: number) => Math.min(100 * 2 ** retries, 2000);
/**
 * A connection that stays silent this long is taken for dead and made again: a Redis that
 * hangs, or a network that drops packets without a reset, says nothing at all. A PING every
 * second keeps a healthy connection from ever being that silent.
 */
const PING_INTERVAL_MS = 1000;
const SILENCE_TIMEOUT_MS = 5000;
/**
 * An append that Redis runs later than this after its messages were posted is refused
 * there; a second after that, their senders are told `unavailable`. The second covers the
 * error in measuring Redis's clock (see measureClock) and the answer's way back, so that a
 * Redis that hangs and then wakes up never stores a message whose sender heard it failed.
 */
const APPEND_DEADLINE_MS = 2000;
const APPEND_GIVE_UP_MS = APPEND_DEADLINE_MS + 1000;

export class RedisEngine implements Engine {
  private readonly client: Client;
  private readonly subscriber: Client;
  /** This instance in the rooms' member lists; a new one after every lost subscription. */
  private instance = newInstance();
  private readonly hubs = new Set<RedisHub>();
  /** Calls nobody waits for (leaves, typing), so that close() can wait for them. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private subscribedOnce = false;
  private lastErrorLog = 0;
  /** The scripts loaded into Redis, and its clock read, on each (re)connection; see run(). */
  private scriptsLoaded: Promise<unknown> = Promise.resolve();
  /** Redis's clock minus this instance's, as last measured; see measureClock(). */
  private clockOffset: number | undefined;

  private readonly config: Config;

  constructor(config: Config) {
    this.config = config;
    // Commands fail at once while Redis is unreachable (the client is told `unavailable`)
    // rather than wait in a queue for a Redis that may not come back soon.
    this.client = createClient({
      url: config.redisUrl,
      disableOfflineQueue: true,
      pingInterval: PING_INTERVAL_MS,
      socket: { reconnectStrategy, connectTimeout: 2000, socketTimeout: SILENCE_TIMEOUT_MS },
    });
    this.subscriber = this.client.duplicate();
    for (const client of [this.client, this.subscriber]) {
      // Without a listener, node-redis would throw the error and end the process.
      client.on('error', (error: unknown) => this.logError(error));
    }
    this.client.on('ready', () => {
      const loads = Object.values(SCRIPTS).map((script) => this.client.scriptLoad(script.source));
      this.scriptsLoaded = Promise.all([...loads, this.measureClock()]).catch((error: unknown) => this.logError(error));
    });
    // The subscription came back after a break: events of that time are lost, so every
    // member resumes, from a new instance whose old members expire (see HEARTBEAT).
    this.subscriber.on('ready', () => {
      if (this.subscribedOnce) this.recover();
      this.subscribedOnce = true;
    });
    // Connecting is retried for as long as it takes; meanwhile `problem` says why not.
    void this.client.connect().catch(() => {});
    void this.subscriber.connect().catch(() => {});
    this.heartbeat = setInterval(() => this.beat(), config.presenceTtlMs / 3);
    this.heartbeat.unref?.();
  }

  get problem(): string | undefined {
    return this.client.isReady && this.subscriber.isReady ? undefined : 'Redis is unreachable';
  }

  open(room: string): RedisHub {
    const hub = new RedisHub(this, room, this.config);
    this.hubs.add(hub);
    return hub;
  }

  /** From Redis, which has the whole room (a room held here has only this instance's members). */
  async reader(room: string): Promise<RoomReader | undefined> {
    const keys = roomKeys(this.config.redisPrefix, room);
    const found = (await this.run(SCRIPTS.info, keys.keys, [keys.channel])) as [string, number, string] | null;
    if (!found) return undefined;
    const [epoch, seq, members] = found;
    const list = JSON.parse(members) as Member[];
    const info: RoomInfo = { room, count: list.length, members: list, seq, epoch };
    return { info: () => info, messages: (query) => this.messages(room, query) };
  }

  async messages(room: string, { since, before, limit }: HistoryQuery): Promise<RoomMessages> {
    const keys = roomKeys(this.config.redisPrefix, room);
    const args = [String(since ?? ''), String(before ?? ''), String(limit)];
    const page = (await this.run(SCRIPTS.messages, keys.keys, args)) as [string, string[]] | null;
    // Gone between the two reads: an empty page of whatever epoch comes next.
    if (!page) return { room, epoch: '', messages: [] };
    return { room, epoch: page[0], messages: parseList(page[1]) };
  }

  async bannedUntil(room: string, id: string): Promise<number | undefined> {
    const { keys } = roomKeys(this.config.redisPrefix, room);
    return ((await this.run(SCRIPTS.banned, keys, [id])) as number | null) ?? undefined;
  }

  release(hub: RoomHub): void {
    if (!(hub instanceof RedisHub)) return;
    this.hubs.delete(hub);
    this.detach(hub.unsubscribe());
    this.detach(this.run(SCRIPTS.release, hub.keys, [this.instance]));
  }

  flush(): void {
    // Every command has been sent as it was made; Redis's own persistence does the rest.
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await Promise.allSettled([...this.inFlight]);
    await Promise.allSettled([this.client.close(), this.subscriber.close()]);
  }

  get instanceId(): string {
    return this.instance;
  }

  /**
   * Runs a script by SHA1. The scripts are loaded first on every connection, so that calls
   * reach Redis in the order they are made: falling back to EVAL after a NOSCRIPT answer
   * would send that call after later ones (only after an operator's SCRIPT FLUSH now).
   */
  async run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    await this.ready();
    try {
      return await this.client.evalSha(script.sha, { keys, arguments: args });
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return this.client.eval(script.source, { keys, arguments: args });
    }
  }

  /** Settles once the scripts are loaded and Redis's clock read on the current connection. */
  ready(): Promise<unknown> {
    return this.scriptsLoaded;
  }

  /** A call whose answer nobody waits for: a failure is logged, and close() waits for it. */
  detach(call: Promise<unknown>): void {
    const tracked = call.catch((error: unknown) => this.logError(error)).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    return this.subscriber.sSubscribe(channel, onMessage);
  }

  /** Removes one listener; Redis is told only when it was the channel's last. */
  unsubscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    return this.subscriber.sUnsubscribe(channel, onMessage);
  }

  /**
   * The deadline of an append of messages posted at `postedAt` (this instance's clock), on
   * Redis's clock; '' (none) until the clock has been read once.
   */
  appendDeadline(postedAt: number): string {
    return this.clockOffset === undefined ? '' : String(postedAt + this.clockOffset + APPEND_DEADLINE_MS);
  }

  /**
   * Reads Redis's clock. Taken as of the moment the answer arrived, the offset comes out
   * low by up to the round trip, which only makes deadlines earlier; it is read again with
   * every heartbeat, so that the two clocks drifting apart does not matter.
   */
  private async measureClock(): Promise<void> {
    const [seconds, micros] = await this.client.time();
    this.clockOffset = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - Date.now();
  }

  /** Renews this instance's place in every room it holds, and finds rooms whose data is gone. */
  private beat(): void {
    if (this.problem) return;
    this.detach(this.measureClock());
    const until = String(Math.round((this.config.presenceTtlMs * 2) / 3));
    const ttl = String(this.config.redisRoomTtlMs);
    for (const hub of this.hubs) {
      this.detach(
        this.run(SCRIPTS.heartbeat, hub.keys, [hub.channel, this.instance, until, ttl]).then((answer) => {
          const [epoch, known] = answer as [string, number];
          hub.checkEpoch(epoch === '' ? undefined : epoch, known === 1);
        }),
      );
    }
  }

  private recover(): void {
    this.instance = newInstance();
    logEvent('redis_resubscribed', { rooms: this.hubs.size });
    for (const hub of this.hubs) hub.lost();
  }

  /** Errors come on every reconnection attempt: one line a second is enough. */
  private logError(error: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 1000) return;
    this.lastErrorLog = now;
    logEvent('redis_error', { error: String(error) });
  }
}

/** One room in Redis, as this instance sees it. */
class RedisHub implements RoomHub {
  listener: HubListener | undefined;
  readonly keys: string[];
  readonly channel: string;
  /** The epoch this instance's members are in; another one means the room's data was lost. */
  private epoch: string | undefined;
  private subscription: Promise<void> | undefined;
  private readonly messageHead: string;
  /** The messages posted in this event-loop turn, appended together after it. */
  private turn: Turn | undefined;

  private readonly engine: RedisEngine;
  readonly name: string;
  private readonly config: Config;

  constructor(engine: RedisEngine, name: string, config: Config) {
    this.engine = engine;
    this.name = name;
    this.config = config;
    ({ keys: this.keys, channel: this.channel } = roomKeys(config.redisPrefix, name));
    this.messageHead = `{"type":"message","room":${JSON.stringify(name)},"seq":`;
  }

  async join(member: Member, { since, epoch }: ResumeRequest, limit: number): Promise<Snapshot> {
    // Subscribed before the snapshot is taken, so that no event falls between the two.
    await this.subscribe();
    const args = [
      this.channel,
      this.engine.instanceId,
      member.id,
      JSON.stringify(member),
      String(Math.round((this.config.presenceTtlMs * 2) / 3)),
      since === undefined ? '' : String(since),
      epoch ?? '',
      String(limit),
      String(this.config.historyRetention),
      String(this.config.maxRoomMembers),
      String(this.config.redisRoomTtlMs),
    ];
    const answer = (await this.engine.run(SCRIPTS.join, this.keys, args)) as [string, number, number, string[], string, string];
    if (answer[0] === 'full') throw new RoomFull();
    const [current, seq, order, history, members, recovered] = answer;
    this.checkEpoch(current, true);
    return {
      epoch: current,
      seq,
      order,
      history: parseList(history),
      members: JSON.parse(members) as Member[],
      ...(recovered !== '' && { recovered: recovered === '1' }),
    };
  }

  restore(): void {
    // Only a Durable Object that wakes up restores members; it never has a Redis hub.
  }

  leave(member: Member): void {
    this.engine.detach(this.engine.run(SCRIPTS.leave, this.keys, [this.channel, member.id, this.engine.instanceId]));
  }

  rename(member: Member): void {
    this.engine.detach(this.engine.run(SCRIPTS.rename, this.keys, [this.channel, member.id, JSON.stringify(member)]));
  }

  typing(member: Member, active: boolean): void {
    const typing: Typing = { type: 'typing', from: member, active };
    const frame = JSON.stringify(typing satisfies ServerFrame);
    this.engine.detach(this.engine.run(SCRIPTS.signal, this.keys, [this.channel, member.id, frame]));
  }

  /**
   * Queues a message for this turn's append: the messages of one event-loop turn go to
   * Redis in one script and come back in one publish, so that each instance writes them to
   * its members together. They reach the members from the room's channel.
   */
  post(draft: MessageDraft): Promise<ChatMessage> {
    const { from, text, ts, cid } = draft;
    // The message's JSON after its id; the script puts the head, seq and id before it, in
    // the key order of every other message.
    const rest = JSON.stringify({ from, text, ts, ...(cid !== undefined && { cid }) }).slice(1);
    if (!this.turn) {
      const turn: Turn = { rests: [], posts: [] };
      this.turn = turn;
      setImmediate(() => void this.append(turn));
    }
    const turn = this.turn;
    return new Promise((resolve, reject) => {
      turn.rests.push(rest);
      turn.posts.push({ draft, resolve, reject });
    });
  }

  private async append(turn: Turn): Promise<void> {
    this.turn = undefined;
    const postedAt = Date.now();
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      for (const { reject } of turn.posts) reject(error);
    };
    const giveUp = setTimeout(() => fail(new Error('Redis did not answer in time')), APPEND_GIVE_UP_MS);
    try {
      // The deadline needs Redis's clock, read when the connection became ready.
      await this.engine.ready();
      const deadline = this.engine.appendDeadline(postedAt);
      const { historyRetention, redisRoomTtlMs } = this.config;
      const args = [String(historyRetention), this.channel, this.messageHead, deadline, String(redisRoomTtlMs), ...turn.rests];
      const answer = (await this.engine.run(SCRIPTS.append, this.keys, args)) as [string, number] | ['late'];
      if (answer[0] === 'late') return fail(new Error('Redis ran the append after its deadline'));
      // Cannot happen while the clocks are as measured; should it, the operator hears of it.
      if (failed) logEvent('redis_append_after_give_up', { room: this.name, messages: turn.posts.length });
      const [epoch, last] = answer as [string, number];
      const first = last - turn.posts.length + 1;
      turn.posts.forEach(({ draft: { from, text, ts, cid }, resolve }, i) => {
        const seq = first + i;
        const id = `m_${epoch}_${seq}`;
        resolve({ type: 'message', room: this.name, seq, id, from, text, ts, ...(cid !== undefined && { cid }) });
      });
    } catch (error) {
      fail(error);
    } finally {
      clearTimeout(giveUp);
    }
  }

  async remove(seq: number, by: Member): Promise<boolean> {
    const deleted: Deleted = { type: 'deleted', room: this.name, seq, by };
    const args = [this.channel, String(seq), JSON.stringify(deleted satisfies ServerFrame)];
    return (await this.engine.run(SCRIPTS.remove, this.keys, args)) === 1;
  }

  async kick(id: string, banMs: number | undefined): Promise<boolean> {
    const args = [this.channel, id, banMs === undefined ? '' : String(banMs)];
    return (await this.engine.run(SCRIPTS.kick, this.keys, args)) === 1;
  }

  /**
   * After a heartbeat or a snapshot: a room whose data is gone, or that has a new epoch,
   * or that no longer counts this instance as alive, sends its members here to resume.
   */
  checkEpoch(current: string | undefined, counted: boolean): void {
    if (this.epoch !== undefined && (current !== this.epoch || !counted)) this.lost();
    this.epoch = current;
  }

  /** What this instance's members were told may be incomplete: they resume. */
  lost(): void {
    this.epoch = undefined;
    this.listener?.reset();
  }

  unsubscribe(): Promise<void> {
    const subscribed = this.subscription;
    this.subscription = undefined;
    // Only this hub's listener: a hub made since for the same room keeps its own.
    return subscribed ? subscribed.then(() => this.engine.unsubscribe(this.channel, this.onMessage)) : Promise.resolve();
  }

  private readonly onMessage = (message: string) => this.receive(message);

  private subscribe(): Promise<void> {
    this.subscription ??= this.engine.subscribe(this.channel, this.onMessage);
    // A subscription that failed (Redis unreachable) is tried again by the next join.
    this.subscription.catch(() => (this.subscription = undefined));
    return this.subscription;
  }

  private receive(published: string): void {
    for (const line of published.split('\n')) {
      const event = parseEvent(line);
      if (!event) continue;
      // The room started over under its members (its data was lost): they resume, and
      // those still being welcomed are welcomed into the new epoch.
      if (this.epoch !== undefined && event.epoch !== this.epoch) this.lost();
      this.epoch = event.epoch;
      if (event.frame === '' && event.about !== undefined) this.listener?.expel(event.about);
      else this.listener?.deliver(event);
    }
  }
}

interface Turn {
  rests: string[];
  posts: { draft: MessageDraft; resolve: (message: ChatMessage) => void; reject: (error: unknown) => void }[];
}

/** "<epoch>|<order>|<about>|<frame>" as the scripts publish it. */
function parseEvent(message: string): (RoomEvent & { epoch: string }) | undefined {
  const first = message.indexOf('|');
  const second = message.indexOf('|', first + 1);
  const third = message.indexOf('|', second + 1);
  if (first < 0 || second < 0 || third < 0) return undefined;
  const about = message.slice(second + 1, third);
  return {
    epoch: message.slice(0, first),
    order: Number(message.slice(first + 1, second)),
    about: about === '' ? undefined : about,
    frame: message.slice(third + 1),
  };
}

function parseList(messages: string[]): ChatMessage[] {
  return messages.map((message) => JSON.parse(message) as ChatMessage);
}

/** A room's keys in script order (see redis-scripts.ts) and its channel. */
function roomKeys(prefix: string, room: string): { keys: string[]; channel: string } {
  const tag = `${prefix}{${room}}`;
  const keys = ['meta', 'log', 'members', 'alive', 'conns', 'counts', 'bans'].map((key) => `${tag}:${key}`);
  return { keys, channel: `${tag}:events` };
}

function newInstance(): string {
  return `i_${randomId(10)}`;
}
