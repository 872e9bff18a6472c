// The ceiling on Bun: its native pub/sub (uWebSockets underneath). Every member subscribes
// to its room's topic and a message is stamped like edgechat's (seq, id, from, ts, the
// sender's cid) and handed to server.publish once, which writes it to every subscriber,
// the sender included, without returning to JavaScript per member. Run with `bun`.
export {};

// Only the little of Bun's API used here; the project type-checks against Node's types.
interface BunSocket {
  data: { room: string; member: { id: string; name: string } };
  subscribe(topic: string): void;
  send(data: string): number;
}
interface BunServer {
  upgrade(request: Request, options: { data: BunSocket['data'] }): boolean;
  publish(topic: string, data: string): number;
  port: number;
}
declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: {
    port: number;
    hostname: string;
    fetch(request: Request, server: BunServer): Response | undefined;
    websocket: {
      perMessageDeflate: boolean;
      maxPayloadLength: number;
      open(ws: BunSocket): void;
      message(ws: BunSocket, data: string | Uint8Array): void;
    };
  }): BunServer;
};

const port = Number(Bun.env.PORT ?? 8790);
const hostname = Bun.env.HOST ?? '127.0.0.1';
const maxText = Number(Bun.env.MAX_TEXT ?? 2000);
const epoch = Math.random().toString(36).slice(2, 10);
const rooms = new Map<string, { seq: number }>();
let nextMember = 0;

const server = Bun.serve({
  port,
  hostname,
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return Response.json({ status: 'ok' });
    const match = /^\/ws\/([a-z0-9][a-z0-9_-]{0,63})$/.exec(url.pathname.toLowerCase());
    if (!match) return new Response('not found', { status: 404 });
    const member = { id: `u_${(nextMember++).toString(36)}`, name: url.searchParams.get('name') ?? 'guest' };
    if (server.upgrade(request, { data: { room: match[1]!, member } })) return undefined;
    return new Response('upgrade required', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 16384,
    open(ws) {
      const name = ws.data.room;
      let room = rooms.get(name);
      if (!room) {
        room = { seq: 0 };
        rooms.set(name, room);
      }
      ws.subscribe(name);
      ws.send(JSON.stringify({ type: 'welcome', room: name, epoch, seq: room.seq, you: ws.data.member }));
    },
    message(ws, data) {
      if (typeof data !== 'string') return;
      let frame: { type?: unknown; text?: unknown; cid?: unknown };
      try {
        frame = JSON.parse(data);
      } catch {
        return;
      }
      if (frame?.type !== 'message' || typeof frame.text !== 'string' || frame.text.length > maxText) return;
      const name = ws.data.room;
      const room = rooms.get(name)!;
      const seq = ++room.seq;
      const message = {
        type: 'message',
        room: name,
        seq,
        id: `m_${epoch}_${seq}`,
        from: ws.data.member,
        text: frame.text,
        ts: Date.now(),
        ...(typeof frame.cid === 'string' && { cid: frame.cid }),
      };
      server.publish(name, JSON.stringify(message));
    },
  },
});

console.log(JSON.stringify({ event: 'listening', hostname, port: server.port }));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
