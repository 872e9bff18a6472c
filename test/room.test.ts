// The room's rules, driven directly through the Connection interface: the cases a real
// client cannot provoke (a socket that throws, a buffer that grows) and the edge cases of
// resume, which the conformance suite covers over the wire as well.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../src/core/config.ts';
import { LocalHub, type RoomHub, type Snapshot } from '../src/core/hub.ts';
import { MemoryBans, MemoryStore } from '../src/core/store.ts';
import { Metrics } from '../src/core/metrics.ts';
import { FLOOD_LIMIT, MAX_BUFFERED_BYTES, MEMBER_EVENTS_WINDOW_MS, Room, type Connection } from '../src/core/room.ts';
import type { Member } from '../src/core/protocol.ts';
import type { ResumeRequest } from '../src/core/store.ts';

class RecordingConnection implements Connection {
  frames: any[] = [];
  closedWith: [number, string] | undefined;
  bufferedAmount = 0;
  remembered: Member | undefined;
  failing = false;

  send(payload: string | Uint8Array) {
    if (this.failing) throw new Error('socket exploded');
    this.frames.push(JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload)));
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
  }
  remember(member: Member) {
    this.remembered = member;
  }
  of(type: string) {
    return this.frames.filter((frame) => frame.type === type);
  }
}

const baseConfig = { historyLimit: 3, maxText: 10, maxRoomMembers: 3, rateBurst: 0, ratePerSecond: 0 };

function makeRoom(config: Partial<Config> = {}, now = () => 1_000) {
  const merged = { ...baseConfig, ...config };
  const metrics = new Metrics();
  const hub = new LocalHub(new MemoryStore('r', merged.historyLimit), new MemoryBans());
  const room = new Room({ name: 'r', config: merged, hub, metrics, now });
  const join = (name?: string, extra = {}) => {
    const connection = new RecordingConnection();
    room.join(connection, { name, ...extra });
    return connection;
  };
  return { room, hub, metrics, join };
}

const say = (room: Room, connection: Connection, text: string) => room.receive(connection, JSON.stringify({ type: 'message', text }));
/** Lets presence and typing held in the current window go out. */
const windowEnds = () => vi.advanceTimersByTime(MEMBER_EVENTS_WINDOW_MS);

describe('Room', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('closes with 1011 a member whose socket throws, and the others carry on', () => {
    const { room, join } = makeRoom();
    const ann = join('ann');
    const bob = join('bob');
    bob.failing = true;
    say(room, ann, 'hello');
    expect(bob.closedWith).toEqual([1011, 'internal_error']);
    windowEnds();
    expect(ann.of('presence').at(-1)).toMatchObject({ event: 'leave', member: { name: 'bob' }, count: 1 });
    say(room, ann, 'still here');
    expect(ann.of('message').map((m) => m.seq)).toEqual([1, 2]);
    expect(room.size).toBe(1);
  });

  it('closes with 1011 a connection that fails during its welcome, and keeps it out', () => {
    const { room, hub, join } = makeRoom();
    const ann = join('ann');
    const broken = new RecordingConnection();
    broken.failing = true;
    expect(room.join(broken, { name: 'broken' })).toBeUndefined();
    expect(broken.closedWith).toEqual([1011, 'internal_error']);
    expect(hub.info().members).toEqual([ann.frames[0].you]);
  });

  it('closes with 1013 slow_consumer a member over 1 MiB of unsent output, after the broadcast', () => {
    const { room, join } = makeRoom();
    const ann = join('ann');
    const slow = join('slow');
    const cat = join('cat');
    slow.bufferedAmount = MAX_BUFFERED_BYTES + 1;
    say(room, ann, 'hi');
    expect(slow.closedWith).toEqual([1013, 'slow_consumer']);
    windowEnds();
    // Both others get the message first and the leave after it.
    for (const member of [ann, cat]) {
      expect(member.frames.slice(-2).map((f) => f.type + (f.event ?? ''))).toEqual(['message', 'presenceleave']);
    }
  });

  it('broadcasts through a fan-out once per frame, skipping the member it is about, and still closes slow consumers', () => {
    const added: Connection[] = [];
    const published: [any, Connection | undefined][] = [];
    const fanout = {
      add: (connection: Connection) => void added.push(connection),
      publish: (payload: string | Uint8Array, except?: Connection) => void published.push([JSON.parse(payload as string), except]),
    };
    const hub = new LocalHub(new MemoryStore('r', 3), new MemoryBans());
    const room = new Room({ name: 'r', config: baseConfig, hub, metrics: new Metrics(), fanout });
    const ann = new RecordingConnection();
    const bob = new RecordingConnection();
    room.join(ann, { name: 'ann' });
    room.join(bob, { name: 'bob' });
    windowEnds();
    expect(added).toEqual([ann, bob]);
    expect(published.at(-1)).toEqual([expect.objectContaining({ type: 'presence', event: 'join' }), bob]);
    say(room, ann, 'hi');
    expect(published.at(-1)).toEqual([expect.objectContaining({ type: 'message', text: 'hi' }), undefined]);
    expect(ann.of('message')).toEqual([]); // the fan-out delivered it, not send
    bob.bufferedAmount = MAX_BUFFERED_BYTES + 1;
    say(room, ann, 'again');
    expect(bob.closedWith).toEqual([1013, 'slow_consumer']);
    // The leave waited for its window, when bob's socket had left the fan-out by closing.
    windowEnds();
    expect(published.at(-1)?.[0]).toMatchObject({ type: 'presence', event: 'leave', member: { name: 'bob' } });
  });

  it('sends a burst of presence together at the end of its window, or before the next message, in order', () => {
    const { room, join } = makeRoom({ maxRoomMembers: 10 });
    const ann = join('ann');
    const bob = join('bob');
    // The first event of a quiet room goes out at once; the next ones wait for the window.
    expect(ann.of('presence').map((p) => p.member.name)).toEqual(['bob']);
    const cat = join('cat');
    const dan = join('dan');
    expect(ann.of('presence')).toHaveLength(1);
    windowEnds();
    expect(ann.of('presence').map((p) => [p.member.name, p.count])).toEqual([
      ['bob', 2],
      ['cat', 3],
      ['dan', 4],
    ]);
    // Joined while cat's join was held: dan's welcome has cat already, and nothing comes twice.
    expect(dan.frames.map((f) => f.type)).toEqual(['welcome']);
    expect(dan.frames[0].members.map((m: Member) => m.name)).toEqual(['ann', 'bob', 'cat', 'dan']);
    expect(cat.of('presence').map((p) => p.member.name)).toEqual(['dan']);

    // The window stayed open: a leave and a typing wait, and a message takes them along first.
    room.leave(bob, 1000);
    room.receive(cat, '{"type":"typing","active":true}');
    say(room, dan, 'hi');
    expect(ann.frames.slice(-3).map((f) => f.type + (f.event ?? ''))).toEqual(['presenceleave', 'typing', 'message']);
    // A window that ends with nothing held closes; the next presence goes out at once.
    windowEnds();
    room.leave(cat, 1000);
    expect(ann.frames.at(-1)).toMatchObject({ type: 'presence', event: 'leave', member: { name: 'cat' } });
  });

  it('drops what was held when the room is reset: a member welcomed afterwards hears nothing of the lost state', async () => {
    // A hub in another process, as far as cat is concerned: its welcome comes later, taken
    // from a room that has started over (a new epoch, its order from 0).
    let welcomeCat: (snapshot: Snapshot) => void = () => {};
    const local = new LocalHub(new MemoryStore('r', 3), new MemoryBans());
    const joinHere = local.join.bind(local);
    const hub: RoomHub = Object.assign(local, {
      join: (member: Member, request: ResumeRequest, limit: number): Snapshot | Promise<Snapshot> =>
        member.name === 'cat' ? new Promise<Snapshot>((resolve) => (welcomeCat = resolve)) : joinHere(member, request, limit),
    });
    const room = new Room({ name: 'r', config: { ...baseConfig, maxRoomMembers: 10 }, hub, metrics: new Metrics() });
    const [ann, bob, cat] = [new RecordingConnection(), new RecordingConnection(), new RecordingConnection()];
    room.join(ann, { name: 'ann' });
    room.join(bob, { name: 'bob' });
    room.join(cat, { name: 'cat' });
    room.leave(bob, 1000); // held: bob's join opened the window
    room.reset();
    expect(ann.closedWith).toEqual([1012, 'storage_lost']);
    const you = { id: 'u_cat', name: 'cat' };
    welcomeCat({ epoch: 'new', seq: 0, order: 0, history: [], members: [you] });
    await Promise.resolve();
    windowEnds();
    // Bob's leave was held from before the reset; what the reset itself announced may follow.
    expect(cat.frames[0].type).toBe('welcome');
    expect(cat.of('presence').map((p) => p.member.name)).not.toContain('bob');
  });

  it('remembers identity on the socket at join and rename, and restores silently', () => {
    const { room, join } = makeRoom();
    const ann = join('ann');
    expect(ann.remembered).toEqual(ann.frames[0].you);
    room.receive(ann, JSON.stringify({ type: 'rename', name: 'anna' }));
    expect(ann.remembered).toEqual({ id: ann.frames[0].you.id, name: 'anna' });

    const woken = makeRoom();
    const restored = new RecordingConnection();
    woken.room.restore(restored, ann.remembered!, 'client-a', 1_000, {});
    expect(restored.frames).toEqual([]);
    expect(woken.hub.info().members).toEqual([ann.remembered]);
    say(woken.room, restored, 'back');
    expect(restored.of('message')[0].from).toEqual(ann.remembered);
  });

  it('does not announce members to each other while shutting down', () => {
    const { room, join } = makeRoom();
    const [ann, bob] = [join('ann'), join('bob')];
    const before = ann.frames.length;
    room.shutdown();
    expect(ann.closedWith).toEqual([1001, 'server_shutdown']);
    expect(bob.closedWith).toEqual([1001, 'server_shutdown']);
    expect(ann.frames.length).toBe(before);
    expect(room.size).toBe(0);
  });

  it('measures text in characters and counts refusals by reason', () => {
    const { room, metrics, join } = makeRoom();
    const ann = join('ann');
    say(room, ann, '🙂'.repeat(10));
    say(room, ann, '🙂'.repeat(11));
    expect(ann.of('message')).toHaveLength(1);
    expect(ann.of('error')[0]).toMatchObject({ code: 'bad_text' });
    expect(metrics.messagesAccepted).toBe(1);
    expect(metrics.render({ connections: 1, rooms: 1 })).toContain('edgechat_frames_rejected_total{reason="bad_text"} 1');
  });

  it('refills the rate budget over time and closes after FLOOD_LIMIT refusals in a row', () => {
    let now = 0;
    const { room, join } = makeRoom({ rateBurst: 2, ratePerSecond: 1 }, () => now);
    const ann = join('ann');
    say(room, ann, 'a');
    say(room, ann, 'b');
    say(room, ann, 'c');
    expect(ann.of('error')[0]).toMatchObject({ code: 'rate_limited', retryAfterMs: 1000 });
    now += 1000;
    say(room, ann, 'd');
    expect(ann.of('message').map((m) => m.text)).toEqual(['a', 'b', 'd']);
    // Typing over budget is dropped without an error, but still counts as flooding.
    room.receive(ann, '{"type":"typing","active":true}');
    expect(ann.of('error')).toHaveLength(1);
    for (let i = 0; i < FLOOD_LIMIT - 2; i++) say(room, ann, 'spam');
    expect(ann.closedWith).toBeUndefined();
    say(room, ann, 'one too many');
    expect(ann.closedWith).toEqual([1008, 'flooding']);
  });

  it('is full at MAX_ROOM_MEMBERS and tells nobody about the refused member', () => {
    const { room, join } = makeRoom();
    const members = [join(), join(), join()];
    const late = join();
    expect(late.closedWith).toEqual([1013, 'room_full']);
    expect(late.frames).toEqual([]);
    windowEnds();
    expect(members[0]!.of('presence')).toHaveLength(2);
    expect(room.size).toBe(3);
  });

  it('counts a member with several connections as one place, until its last one leaves', () => {
    const { room, join } = makeRoom();
    const kim = { member: { id: 'kim', name: 'Kim' } };
    const tabs = [join(undefined, kim), join(undefined, kim)];
    const bob = join('bob');
    const cat = join('cat');
    // Full with three members on four connections: a third tab still gets in, a fourth member not.
    const third = join(undefined, kim);
    expect(third.closedWith).toBeUndefined();
    expect(join('dan').closedWith).toEqual([1013, 'room_full']);
    for (const tab of [...tabs, third]) {
      room.leave(tab, 1000);
      expect(join('eve').closedWith).toEqual(tab === third ? undefined : [1013, 'room_full']);
    }
    windowEnds();
    const left = bob.of('presence').filter((event) => event.event === 'leave');
    expect(left).toEqual([expect.objectContaining({ member: { id: 'kim', name: 'Kim' }, count: 2 })]);
    say(room, cat, 'hi');
    expect(bob.of('message')).toHaveLength(1);
  });

  it('resumes only within the same epoch and the retained history', () => {
    const { room, hub, join } = makeRoom();
    const ann = join('ann');
    for (const text of ['1', '2', '3', '4', '5']) say(room, ann, text);
    const { epoch } = hub.info();
    const welcome = (extra: object) => join('x', extra).frames[0];
    expect(welcome({ since: 2, epoch })).toMatchObject({ recovered: true, seq: 5 });
    expect(welcome({ since: 2, epoch }).history.map((m: any) => m.seq)).toEqual([3, 4, 5]);
  });

  it('says recovered false when the missed messages are no longer retained', () => {
    const { room, hub, join } = makeRoom({ maxRoomMembers: 10 });
    const ann = join('ann');
    for (const text of ['1', '2', '3', '4', '5']) say(room, ann, text);
    const back = join('x', { since: 1, epoch: hub.info().epoch }).frames[0];
    expect(back.recovered).toBe(false);
    expect(back.history.map((m: any) => m.seq)).toEqual([3, 4, 5]);
  });

  it('ignores frames from a connection that is not a member', () => {
    const { room, join } = makeRoom();
    const ann = join('ann');
    const stranger = new RecordingConnection();
    say(room, stranger, 'hello?');
    expect(stranger.frames).toEqual([]);
    expect(ann.of('message')).toEqual([]);
  });
});
