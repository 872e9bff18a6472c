// A short run of the benchmark's load client in verify mode against every server it compares
// (edgechat on each runtime whose entry exists, the three references, and the two clusters on
// Redis, whose members are spread over both processes): every message a sender got back must
// reach every member of its room exactly once, in seq order. Nothing here looks at timing;
// `npm run bench` measures.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { runJob } from '../bench/client.ts';
import { SERVERS, root, startServer } from '../bench/servers.ts';

describe('benchmark smoke run (verify mode)', () => {
  it.each(SERVERS.map((def) => [def.id, def] as const))(
    '%s delivers every message to every member exactly once, in seq order',
    async (_id, def) => {
      const server = await startServer(def);
      try {
        const result = await runJob({
          host: '127.0.0.1',
          ports: server.ports,
          proto: def.proto,
          mode: 'verify',
          rooms: 3,
          members: 12,
          senders: 2,
          inflight: 3,
          textBytes: 100,
          warmupMs: 100,
          durationMs: 700,
          serverPids: server.pids,
          connectTimeoutMs: 20_000,
        });
        expect(result.verify?.problems).toEqual([]);
        expect(result.verify?.ok).toBe(true);
        expect(result.verify!.messages).toBeGreaterThan(0);
        expect(result.verify!.deliveries).toBe(result.verify!.messages * 12);
        expect(result.dropped).toBe(0);
      } finally {
        await server.stop();
      }
    },
    60_000,
  );

  it('notices a server that repeats, reorders or loses a delivery', async () => {
    for (const fault of ['repeat', 'reorder', 'lose'] as const) {
      const server = await faultyServer(fault);
      try {
        const result = await runJob({
          host: '127.0.0.1',
          ports: [server.port],
          proto: 'edgechat',
          mode: 'verify',
          rooms: 1,
          members: 4,
          senders: 1,
          inflight: 1,
          textBytes: 20,
          warmupMs: 0,
          durationMs: 200,
          drainTimeoutMs: 1000,
        });
        expect(result.verify?.ok, fault).toBe(false);
      } finally {
        await server.close();
      }
    }
  }, 60_000);

  it('runs end to end through npm run bench (edgechat on Node, verify, nothing written)', () => {
    const run = spawnSync(
      process.execPath,
      [
        'node_modules/tsx/dist/cli.mjs',
        'bench/run.ts',
        '--servers',
        'edgechat-node',
        '--shapes',
        '2x10',
        '--duration',
        '0.5',
        '--warmup',
        '0.1',
        '--verify',
        '--no-idle',
        '--no-write',
      ],
      { cwd: root, encoding: 'utf8', timeout: 60_000 },
    );
    expect(run.stderr).toMatch(/verified \d+ messages, \d+ deliveries: ok/);
    expect(run.stdout).toContain('edgechat on Node');
    expect(run.status).toBe(0);
  }, 70_000);
});

/**
 * A one-room server that speaks the protocol but, at the 5th message, repeats it to the
 * last member, sends it after the 6th, or drops it for the last member.
 */
async function faultyServer(fault: 'repeat' | 'reorder' | 'lose') {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const members: WebSocket[] = [];
  let seq = 0;
  let held: string | undefined;
  wss.on('connection', (ws) => {
    members.push(ws);
    ws.send(JSON.stringify({ type: 'welcome', seq }));
    ws.on('message', (data) => {
      const { text, cid } = JSON.parse(String(data));
      seq += 1;
      const frame = JSON.stringify({ type: 'message', seq, text, cid });
      for (const [index, member] of members.entries()) {
        const last = index === members.length - 1;
        if (seq === 5 && last && fault === 'lose') continue;
        if (seq === 5 && last && fault === 'reorder') {
          held = frame;
          continue;
        }
        member.send(frame);
        if (seq === 5 && last && fault === 'repeat') member.send(frame);
        if (seq === 6 && last && held) member.send(held);
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as { port: number }).port,
    close: () => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise((resolve) => http.close(resolve));
    },
  };
}
