// Protocol v1 on Cloudflare Workers + Durable Objects, run by wrangler dev on workerd (the
// open-source Workers runtime), and the deploy bundle built the way `wrangler deploy` does.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { describeConformance } from './conformance/suite.ts';

describeConformance('workers', 'durable', {
  // No process to measure, so createApp leaves /metrics out.
  metrics: false,
  // A Durable Object cannot send protocol pings; Cloudflare's edge keeps sockets alive.
  protocolPings: false,
  // A Durable Object gets no signal before it is stopped (a deploy or a restart drops its
  // sockets), so it cannot close them with 1001 first.
  gracefulShutdown: false,
  // A room's epoch, seq and history are in the object's SQLite storage and are never forgotten.
  idleEviction: false,
  // workerd does not expose a socket's queued output (no WebSocket.bufferedAmount,
  // workerd#988), so a slow consumer cannot be told from a fast one.
  slowConsumerClose: false,
  // wrangler dev's proxy does the client's handshake itself and opens a well-formed one to
  // workerd: a missing key or another version is answered in plain text (400, 426) and a
  // malformed key is accepted, so the Worker never sees a malformed upgrade.
  seesMalformedUpgrades: false,
  // wrangler dev takes the request URL's scheme from X-Forwarded-Proto; on Cloudflare the
  // edge sets that header itself.
  seesClientForwardedProto: false,
  // Each room's object keeps its members' budgets: one shared across rooms would cost a
  // call to another object for every message.
  clientBudgetAcrossRooms: false,
  // Sockets are held by the rooms' objects, spread over many isolates; no one place counts
  // them all.
  connectionCaps: false,
  // workerd decodes a text frame's invalid UTF-8 as U+FFFD before the object sees it.
  invalidUtf8Close: false,
  // Connections are Cloudflare's edge's (wrangler dev's proxy, locally) before the Worker's.
  handshakeTimeout: false,
  // wrangler dev and workerd are two processes; the descriptor limit is Cloudflare's concern.
  survivesDescriptorLimit: false,
});

test('the Worker bundles for deploy (wrangler deploy --dry-run)', async () => {
  const outdir = await mkdtemp(join(tmpdir(), 'edgechat-bundle-'));
  await promisify(execFile)(process.execPath, ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', outdir], {
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true' },
  });
  const bundle = await readFile(join(outdir, 'worker.js'), 'utf8');
  expect(bundle).toMatch(/export\s*\{[^}]*\bRoomObject\b/);
});
