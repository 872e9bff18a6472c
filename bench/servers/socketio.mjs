// Socket.IO 4 room broadcast: what a user would otherwise pick. Members join the room named
// in the handshake query, get a `welcome` event, and `message` events are stamped like
// edgechat's (seq, id, from, ts, the sender's cid) and broadcast with io.to(room).emit,
// which Socket.IO encodes once per broadcast. WebSocket transport, no compression.
// Given REDIS_URL, it is one of several processes that share their rooms through
// @socket.io/redis-adapter (socketio-redis.mjs).
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Server } from 'socket.io';
import { shareRooms } from './socketio-redis.mjs';

const port = Number(process.env.PORT ?? 8789);
const host = process.env.HOST ?? '127.0.0.1';
const maxText = Number(process.env.MAX_TEXT ?? 2000);
const epoch = randomBytes(4).toString('hex');

const httpServer = createServer((req, res) => {
  if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  // everything under /socket.io/ is answered by Socket.IO itself
});
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 16384,
});

/** @type {Map<string, {seq: number}>} */
const rooms = new Map();
let nextMember = 0;

function roomOf(name) {
  let room = rooms.get(name);
  if (!room) {
    room = { seq: 0 };
    rooms.set(name, room);
  }
  return room;
}

/**
 * Numbers a message in its room and broadcasts it to every member. In a cluster only the
 * room's owner does this, so the seq it keeps here is the room's.
 * @param {string} name
 * @param {{id: string, name: string}} from
 * @param {{text: string, cid?: string}} message
 */
function broadcast(name, from, { text, cid }) {
  const seq = ++roomOf(name).seq;
  io.to(name).emit('message', {
    type: 'message',
    room: name,
    seq,
    id: `m_${epoch}_${seq}`,
    from,
    text,
    ts: Date.now(),
    ...(cid !== undefined && { cid }),
  });
}

const post = process.env.REDIS_URL ? await shareRooms(io, process.env.REDIS_URL, broadcast) : broadcast;

io.on('connection', (socket) => {
  const query = socket.handshake.query;
  const name = String(query.room ?? 'lobby').toLowerCase();
  const member = { id: `u_${(nextMember++).toString(36)}`, name: String(query.name ?? 'guest') };
  socket.join(name);
  // In a cluster, this process's view of the seq (the load client reads no welcome field).
  socket.emit('welcome', { type: 'welcome', room: name, epoch, seq: roomOf(name).seq, you: member });
  socket.on('message', (frame) => {
    if (typeof frame?.text !== 'string' || frame.text.length > maxText) return;
    post(name, member, { text: frame.text, ...(typeof frame.cid === 'string' && { cid: frame.cid }) });
  });
});

httpServer.listen(port, host, () => console.log(JSON.stringify({ event: 'listening', host, port })));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
