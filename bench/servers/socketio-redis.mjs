// Socket.IO processes sharing their rooms through @socket.io/redis-adapter, set up as its
// documentation says: a node-redis client to publish and a duplicate of it to subscribe.
//
// The adapter hands a process's own broadcasts to its members at once, and another
// process's only after they have crossed Redis. So if each process numbered and broadcast
// the messages its own members send, members on different processes would see a room's
// messages in different orders, whatever gave out the seqs. Each room therefore has one
// owner, the first process to claim it in Redis, which numbers and broadcasts every message
// of the room; the others pass theirs on to it with serverSideEmit (through Redis as well).
// Every process then sees the owner's broadcasts in the order it published them.
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';

/**
 * Puts `io` on the adapter and returns how a message posted here reaches `broadcast` (which
 * numbers it and sends it to the whole room) on the room's owner.
 * @template M
 * @param {import('socket.io').Server} io
 * @param {string} url
 * @param {(room: string, from: unknown, message: M) => void} broadcast
 * @returns {Promise<(room: string, from: unknown, message: M) => Promise<void>>}
 */
export async function shareRooms(io, url, broadcast) {
  const pub = createClient({ url });
  const sub = pub.duplicate();
  // Without a listener node-redis throws the error, and the process ends.
  for (const client of [pub, sub]) {
    client.on('error', (error) => console.error(JSON.stringify({ event: 'redis_error', error: String(error) })));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  const self = io.of('/').adapter.uid;

  /**
   * Room → whether this process owns it: asked of Redis once, and every message of the room
   * waits for that same answer, so none overtakes another.
   */
  const owned = new Map();
  const owns = (room) => {
    let answer = owned.get(room);
    if (!answer) {
      const key = `owner:${room}`;
      answer = pub
        .set(key, self, { condition: 'NX' })
        .then(() => pub.get(key))
        .then((owner) => owner === self);
      owned.set(room, answer);
    }
    return answer;
  };
  // Passed on by another process: every other process hears it, and the owner broadcasts it.
  io.on('post', async (room, from, message) => {
    if (await owns(room)) broadcast(room, from, message);
  });
  return async (room, from, message) => {
    if (await owns(room)) broadcast(room, from, message);
    else io.serverSideEmit('post', room, from, message);
  };
}
