// The floor for Node: the least a plain `ws` broadcast server has to do, tuned. It speaks
// as much of the edgechat protocol as the load client needs (welcome on join; message
// broadcast with seq, id, from, ts and the sender's cid; /healthz) and nothing else: no
// schema validation, no presence, no history, no rate limit, no slow-consumer check.
// Each broadcast is serialised and framed once (one Buffer: header + payload, via
// ws's Sender.frame), and written to every member's TCP socket directly; sockets are
// corked on first write and uncorked once per event-loop turn (setImmediate), so that all
// broadcasts of one turn leave a socket in a single writev.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Sender, WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 8788);
const host = process.env.HOST ?? '127.0.0.1';
const maxText = Number(process.env.MAX_TEXT ?? 2000);
const epoch = randomBytes(4).toString('hex');

/** @type {Map<string, {name: string, seq: number, members: Set<import('node:net').Socket>}>} */
const rooms = new Map();
/** @type {Set<import('node:net').Socket>} */
const corked = new Set();
let flushScheduled = false;

function flush() {
  flushScheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

function broadcast(room, text) {
  const [header, payload] = Sender.frame(Buffer.from(text), {
    fin: true,
    opcode: 1,
    mask: false,
    readOnly: false,
    rsv1: false,
  });
  const frame = payload ? Buffer.concat([header, payload]) : header;
  for (const socket of room.members) {
    if (!socket.writable) continue;
    if (!corked.has(socket)) {
      socket.cork();
      corked.add(socket);
    }
    socket.write(frame);
  }
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16384 });
let nextMember = 0;

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  } else {
    res.writeHead(404).end();
  }
});

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/ws\/([a-z0-9][a-z0-9_-]{0,63})$/.exec(url.pathname.toLowerCase());
  if (!match) {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const name = match[1];
    let room = rooms.get(name);
    if (!room) {
      room = { name, seq: 0, members: new Set() };
      rooms.set(name, room);
    }
    const member = { id: `u_${(nextMember++).toString(36)}`, name: url.searchParams.get('name') ?? 'guest' };
    ws.send(JSON.stringify({ type: 'welcome', room: name, epoch, seq: room.seq, you: member }));
    room.members.add(socket);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (frame?.type !== 'message' || typeof frame.text !== 'string' || frame.text.length > maxText) return;
      const seq = ++room.seq;
      const message = {
        type: 'message',
        room: name,
        seq,
        id: `m_${epoch}_${seq}`,
        from: member,
        text: frame.text,
        ts: Date.now(),
        ...(typeof frame.cid === 'string' && { cid: frame.cid }),
      };
      broadcast(room, JSON.stringify(message));
    });
    ws.on('close', () => {
      room.members.delete(socket);
      corked.delete(socket);
    });
  });
});

server.listen(port, host, () => console.log(JSON.stringify({ event: 'listening', host, port })));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
