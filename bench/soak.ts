// npm run soak: connection churn across many rooms for a few minutes against one edgechat
// server (SQLite, or with --storage redis a Redis of its own; rooms let go quickly), then
// everything closed: does the server give back what it took? Prints the server's memory,
// rooms and connections before, during and after; with Redis, also whether any member or
// instance entry is left there. Bounded: at most --connections sockets at once, for
// --duration seconds, on 127.0.0.1.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import WebSocket from 'ws';
import { startRedis } from '../test/support/redis.ts';
import { startServer } from '../test/support/server.ts';

const { values: flags } = parseArgs({
  options: {
    runtime: { type: 'string', default: 'node' },
    duration: { type: 'string', default: '180' },
    connections: { type: 'string', default: '400' },
    rooms: { type: 'string', default: '200' },
    storage: { type: 'string', default: 'sqlite' },
  },
});
const storage = flags.storage as 'sqlite' | 'redis';
const redis = storage === 'redis' ? await startRedis() : undefined;
const runtime = flags.runtime as 'node' | 'bun' | 'deno';
const durationMs = Number(flags.duration) * 1000;
const maxOpen = Number(flags.connections);
const roomCount = Number(flags.rooms);
const ROOM_IDLE_TTL_MS = 1000;

// On Node, a heap snapshot on SIGUSR2 (into a scratch directory) is how the soak makes the
// server collect its garbage before memory is read: heap used then counts live objects only.
const snapshots = mkdtempSync(join(tmpdir(), 'edgechat-soak-'));
const server = await startServer({
  runtime,
  env: {
    ...(runtime === 'node' && { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshots}` }),
    RATE_LIMIT_PER_SEC: '0',
    CLIENT_RATE_PER_SEC: '0',
    HTTP_RATE_PER_SEC: '0',
    MAX_CONNECTIONS_PER_CLIENT: '100000',
    ROOM_IDLE_TTL_MS: String(ROOM_IDLE_TTL_MS),
    STORAGE: storage,
    ...(redis && { REDIS_URL: redis.url }),
  },
});

/** With Redis: the member lists and instance entries left there (none once everyone has gone). */
async function leftInRedis(): Promise<number> {
  if (!redis) return 0;
  const client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
  const keys = (await Promise.all(['members', 'alive', 'conns', 'counts'].map((key) => client.keys(`*:${key}`)))).flat();
  await client.close();
  return keys.length;
}

interface Reading {
  rssMiB: number;
  heapMiB: number;
  rooms: number;
  connections: number;
}

/** Makes the Node server collect its garbage (a heap snapshot does) and waits until it has. */
async function collectGarbage(): Promise<void> {
  if (runtime !== 'node') return;
  const before = readdirSync(snapshots).length;
  process.kill(server.pid, 'SIGUSR2');
  for (let tries = 0; tries < 600 && readdirSync(snapshots).length === before; tries++) await settle(100);
  await settle(500); // the file is named before it is written out
}

/** The server's figures; `collected`: after its garbage is collected (a pause, so not during the churn). */
async function read(collected = false): Promise<Reading> {
  if (collected) await collectGarbage();
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssMiB: metric('process_resident_memory_bytes') / 2 ** 20,
    heapMiB: metric('nodejs_heap_used_bytes') / 2 ** 20,
    rooms: metric('edgechat_rooms'),
    connections: metric('edgechat_connections'),
  };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const open = new Set<WebSocket>();
let opened = 0;
let messages = 0;

function connect(): void {
  const room = `soak-${Math.floor(Math.random() * roomCount)}`;
  const ws = new WebSocket(server.wsUrl(`/ws/${room}`));
  opened += 1;
  open.add(ws);
  ws.on('error', () => {});
  ws.on('close', () => open.delete(ws));
  ws.once('message', () => {
    if (Math.random() < 0.3) {
      ws.send(JSON.stringify({ type: 'message', text: `soak ${opened}` }));
      messages += 1;
    }
  });
}

// Baseline: the server warmed up by one round of what is coming, then left alone.
for (let i = 0; i < maxOpen; i++) connect();
await settle(2000);
for (const ws of open) ws.close();
await settle(ROOM_IDLE_TTL_MS * 3);
const baseline = await read(true);
console.log('baseline', baseline);

const started = Date.now();
let peak = baseline;
let nextReport = started + 10_000;
while (Date.now() - started < durationMs) {
  // Each tick closes a tenth of the sockets and opens new ones up to the cap.
  for (const ws of [...open]) if (Math.random() < 0.1) ws.close();
  while (open.size < maxOpen) connect();
  await settle(250);
  if (Date.now() >= nextReport) {
    nextReport += 10_000;
    const now = await read();
    if (now.rssMiB > peak.rssMiB) peak = now;
    console.log(`${Math.round((Date.now() - started) / 1000)} s`, now, `opened ${opened}, messages ${messages}`);
  }
}
for (const ws of open) ws.close();
await settle(ROOM_IDLE_TTL_MS * 3);
const after = await read(true);
const left = await leftInRedis();
await server.stop();
await redis?.dispose();
rmSync(snapshots, { recursive: true, force: true });

console.log('after', after);
const summary = [
  `Soak (${runtime}, ${storage === 'redis' ? 'Redis' : 'SQLite'}): ${Math.round(durationMs / 1000)} s of churn, ${opened.toLocaleString('en')} connections opened`,
  `(at most ${maxOpen} at once) in ${roomCount} rooms, ${messages.toLocaleString('en')} messages.`,
  `Heap used${runtime === 'node' ? ' (after a full collection)' : ''} ${baseline.heapMiB.toFixed(1)} MiB before and`,
  `${after.heapMiB.toFixed(1)} MiB after; RSS ${baseline.rssMiB.toFixed(1)} → ${peak.rssMiB.toFixed(1)} → ${after.rssMiB.toFixed(1)} MiB;`,
  `rooms held after: ${after.rooms}, connections: ${after.connections}${redis ? `, member lists and instance entries left in Redis: ${left}` : ''}.`,
].join(' ');
console.log(`\n${summary}`);
const leaked = after.rooms !== 0 || after.connections !== 0 || left !== 0 || after.heapMiB > baseline.heapMiB * 1.2 + 2;
if (leaked) {
  console.error('the server did not give back what it took');
  process.exitCode = 1;
}
