// Turning one run's results into the stdout table, BENCHMARKS.md and a hand-written SVG chart.
import type { Result } from './client.ts';
import type { ServerId } from './servers.ts';

export interface Shape {
  name: string;
  rooms: number;
  members: number;
  senders: number;
  inflight: number;
}

export interface Row {
  shape: Shape;
  server: ServerId;
  label: string;
  result?: Result;
  error?: string;
  /** Other processes competed for the cores during the window. */
  suspect?: boolean;
}

export interface IdleRow {
  server: ServerId;
  label: string;
  connections: number;
  roomSize: number;
  result?: Result;
  error?: string;
}

export interface Machine {
  commit: string;
  cores: number;
  cpu: string;
  memory: string;
  kernel: string;
  versions: Record<string, string>;
}

export interface Report {
  date: string;
  command: string;
  machine: Machine;
  durationS: number;
  warmupS: number;
  textBytes: number;
  elapsedS: number;
  rows: Row[];
  idle: IdleRow[];
  notes: string[];
}

const FLOOR: ServerId = 'floor-node';
const SOCKETIO: ServerId = 'socketio-node';
const BUN_PUBLISH: ServerId = 'bun-publish';
const REDIS: ServerId = 'edgechat-node-redis';
const SOCKETIO_REDIS: ServerId = 'socketio-node-redis';

/** A cluster is compared with Socket.IO on the same layout; anything else with Socket.IO alone. */
const socketioFor = (server: ServerId) => (server === REDIS ? SOCKETIO_REDIS : SOCKETIO);

export function describeShape(shape: Shape): string {
  const where = shape.rooms === 1 ? `1 room of ${shape.members}` : `${shape.rooms} rooms of ${shape.members}`;
  const senders = shape.rooms === 1 ? `${shape.senders} senders` : `${shape.senders} sender${shape.senders > 1 ? 's' : ''}/room`;
  return `${where}, ${senders} × ${shape.inflight} in flight`;
}

const num = (value: number | undefined, digits = 0) =>
  value === undefined || !Number.isFinite(value)
    ? '–'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;
const pct = (share: number | undefined) => (share === undefined ? '–' : `${Math.round(share * 100)}%`);

function reference(rows: Row[], shape: Shape, server: ServerId): Result | undefined {
  return rows.find((row) => row.shape.name === shape.name && row.server === server)?.result;
}

const COLUMNS = [
  'server',
  'deliveries/s',
  '× floor',
  '× Socket.IO',
  '× Bun publish',
  'msgs/s',
  'p50 ms',
  'p99 ms',
  'p99 × floor',
  'max ms',
];

const COST_COLUMNS = [
  'server',
  'server CPU µs/delivery',
  '× floor',
  '× Bun publish',
  'deliveries/write',
  'server CPU',
  'client CPU',
  'other CPU',
  'fill s',
];

const labelOf = (row: Row) => (row.suspect ? `${row.label} †` : row.label);
const SUSPECT_NOTE =
  '† other processes kept a large share of a core busy during this window (see *other CPU*); its ratios are less reliable.';

const failedCells = (row: Row, width: number) => [row.label, `failed: ${row.error ?? '?'}`, ...Array(width - 2).fill('')];

/** Throughput and latency of one server in one shape, as cells. */
function cells(rows: Row[], row: Row): string[] {
  const r = row.result;
  if (!r) return failedCells(row, COLUMNS.length);
  const floor = reference(rows, row.shape, FLOOR);
  const socketio = reference(rows, row.shape, socketioFor(row.server));
  const publish = reference(rows, row.shape, BUN_PUBLISH);
  return [
    labelOf(row),
    num(r.deliveriesPerSec),
    ratio(r.deliveriesPerSec, floor?.deliveriesPerSec),
    ratio(r.deliveriesPerSec, socketio?.deliveriesPerSec),
    ratio(r.deliveriesPerSec, publish?.deliveriesPerSec),
    num(r.messagesPerSec),
    num(r.latency.p50, 2),
    num(r.latency.p99, 2),
    ratio(r.latency.p99, floor?.latency.p99),
    num(r.latency.max, 1),
  ];
}

/** What it cost: CPU per delivery (independent of who set the pace), and who was busy. */
function costCells(rows: Row[], row: Row): string[] {
  const r = row.result;
  if (!r) return failedCells(row, COST_COLUMNS.length);
  const floor = reference(rows, row.shape, FLOOR);
  const publish = reference(rows, row.shape, BUN_PUBLISH);
  return [
    labelOf(row),
    num(r.serverCpuUsPerDelivery, 2),
    ratio(r.serverCpuUsPerDelivery, floor?.serverCpuUsPerDelivery),
    ratio(r.serverCpuUsPerDelivery, publish?.serverCpuUsPerDelivery),
    num(r.deliveriesPerWrite, 1),
    pct(r.serverCpuShare),
    pct(r.clientCpuShare),
    pct(r.otherCpuShare),
    num(r.fillMs / 1000, 1),
  ];
}

const IDLE_COLUMNS = [
  'server',
  'connections',
  'RSS before MiB',
  'RSS halfway MiB',
  'RSS after MiB',
  'KiB/connection',
  '× floor',
  'KiB/added connection',
  '× floor',
  'connect s',
];

function idleCells(idle: IdleRow[], row: IdleRow): string[] {
  const r = row.result;
  if (!r) return [row.label, `failed: ${row.error ?? '?'}`, ...IDLE_COLUMNS.slice(2).map(() => '')];
  const floor = idle.find((other) => other.server === FLOOR)?.result;
  return [
    row.label,
    num(r.connections),
    num((r.rssBeforeKiB ?? NaN) / 1024, 1),
    num((r.rssHalfwayKiB ?? NaN) / 1024, 1),
    num((r.rssAfterKiB ?? NaN) / 1024, 1),
    num(r.kibPerConnection, 2),
    ratio(r.kibPerConnection, floor?.kibPerConnection),
    num(r.kibPerAddedConnection, 2),
    ratio(r.kibPerAddedConnection, floor?.kibPerAddedConnection),
    num(r.connectMs / 1000, 1),
  ];
}

function textTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const TEXT_COLUMNS = new Set(['server', 'target', 'shape', 'met']);

function markdownTable(header: string[], body: string[][]): string {
  const line = (row: string[]) => `| ${row.join(' | ')} |`;
  return [line(header), line(header.map((h) => (TEXT_COLUMNS.has(h) ? '---' : '---:'))), ...body.map(line)].join('\n');
}

function shapesOf(rows: Row[]): Shape[] {
  const shapes: Shape[] = [];
  for (const row of rows) if (!shapes.some((s) => s.name === row.shape.name)) shapes.push(row.shape);
  return shapes;
}

export function stdoutTables(report: Report): string {
  const parts: string[] = [];
  for (const shape of shapesOf(report.rows)) {
    const rows = report.rows.filter((row) => row.shape.name === shape.name);
    parts.push(
      `${shape.name}: ${describeShape(shape)}`,
      textTable(
        COLUMNS,
        rows.map((row) => cells(report.rows, row)),
      ),
      '',
      textTable(
        COST_COLUMNS,
        rows.map((row) => costCells(report.rows, row)),
      ),
      ...(rows.some((row) => row.suspect) ? [SUSPECT_NOTE.replace(/\*/g, '')] : []),
      '',
    );
  }
  if (report.idle.length) {
    const first = report.idle[0]!;
    parts.push(
      `idle: ${num(first.connections)} connections in rooms of ${first.roomSize}`,
      textTable(
        IDLE_COLUMNS,
        report.idle.map((row) => idleCells(report.idle, row)),
      ),
      '',
    );
  }
  const targets = targetRows(report);
  if (targets.length) parts.push('targets', textTable(TARGET_COLUMNS, targets), '');
  return parts.join('\n');
}

const TARGET_COLUMNS = ['target', 'shape', 'measured', 'met'];

/** The goals of the issues (4, and the clusters on Redis), checked against this run's ratios. */
function targetRows(report: Report): string[][] {
  const out: string[][] = [];
  const check = (target: string, shape: string, value: number | undefined, ok: (v: number) => boolean, unit = '×') => {
    if (value === undefined || !Number.isFinite(value)) return;
    out.push([target, shape, unit === '×' ? `${value.toFixed(2)}×` : `${value.toFixed(2)} ${unit}`, ok(value) ? 'yes' : 'no']);
  };
  for (const shape of shapesOf(report.rows)) {
    const node = reference(report.rows, shape, 'edgechat-node');
    const bun = reference(report.rows, shape, 'edgechat-bun');
    const floor = reference(report.rows, shape, FLOOR);
    const socketio = reference(report.rows, shape, SOCKETIO);
    const publish = reference(report.rows, shape, BUN_PUBLISH);
    if (node && floor)
      check('Node deliveries/s ≥ 0.85× floor', shape.name, node.deliveriesPerSec / floor.deliveriesPerSec, (v) => v >= 0.85);
    if (node && socketio)
      check('Node deliveries/s ≥ 5× Socket.IO', shape.name, node.deliveriesPerSec / socketio.deliveriesPerSec, (v) => v >= 5);
    if (node && floor) check('Node p99 ≤ 1.5× floor', shape.name, node.latency.p99 / floor.latency.p99, (v) => v <= 1.5);
    if (bun && publish)
      check('Bun deliveries/s ≥ 0.8× Bun publish', shape.name, bun.deliveriesPerSec / publish.deliveriesPerSec, (v) => v >= 0.8);
    if (bun && publish && bun.serverCpuUsPerDelivery && publish.serverCpuUsPerDelivery) {
      check(
        '(same, as cost) Bun CPU/delivery ≤ 1.25× Bun publish',
        shape.name,
        bun.serverCpuUsPerDelivery / publish.serverCpuUsPerDelivery,
        (v) => v <= 1.25,
      );
    }
    // A cluster's CPU is its two instances' and redis-server's.
    const redis = reference(report.rows, shape, REDIS);
    const socketioRedis = reference(report.rows, shape, SOCKETIO_REDIS);
    const cost = (result: Result) => result.serverCpuUsPerDelivery ?? NaN;
    if (redis && node) check('Redis mode ×2 CPU/delivery ≤ 1.3× memory mode', shape.name, cost(redis) / cost(node), (v) => v <= 1.3);
    const single = reference(report.rows, shape, 'edgechat-node-redis-single');
    if (single && node) {
      check('(same, one instance) Redis mode ×1 CPU/delivery ≤ 1.3× memory mode', shape.name, cost(single) / cost(node), (v) => v <= 1.3);
    }
    if (redis && socketioRedis) {
      check(
        'Redis cluster ≥ 5× Socket.IO + Redis adapter in deliveries per CPU-second',
        shape.name,
        cost(socketioRedis) / cost(redis),
        (v) => v >= 5,
      );
    }
  }
  const idle = (id: ServerId) => report.idle.find((row) => row.server === id)?.result;
  for (const [label, id, limit] of [
    ['Node', 'edgechat-node', 12],
    ['Bun', 'edgechat-bun', 5],
  ] as const) {
    check(`${label} idle memory ≤ ${limit} KiB/connection`, 'idle', idle(id)?.kibPerConnection, (v) => v <= limit, 'KiB');
    check(`(same, per added connection) ${label} ≤ ${limit} KiB`, 'idle', idle(id)?.kibPerAddedConnection, (v) => v <= limit, 'KiB');
  }
  return out;
}

/** `changes`: the hand-written account of what each optimisation bought (bench/changes.md). */
export function markdown(report: Report, chartPath: string, changes: string): string {
  const m = report.machine;
  const parts = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts); edit the generator, not this file. -->',
    '',
    'Fan-out throughput, latency and cost of edgechat on Node, Bun and Deno, measured side by side in',
    'one run against the same load client, with three references: **floor**, a tuned plain-`ws`',
    'broadcast server for Node (`bench/servers/floor.mjs`: encode once, corked writes flushed once',
    'per event-loop turn; no validation, presence or history), **Socket.IO 4** room broadcast',
    '(`bench/servers/socketio.mjs`), and **Bun native publish** (`bench/servers/bun-publish.ts`).',
    'Absolute figures drift on a shared machine; read the ratio columns, which compare servers',
    'measured one after another within the same run.',
    '',
    'Two rows in room200 are clusters: **edgechat on Node ×2, Redis** (`STORAGE=redis`) and',
    '**Socket.IO 4 ×2, Redis adapter** (the same Socket.IO server on `@socket.io/redis-adapter`,',
    '`bench/servers/socketio-redis.mjs`), each two processes sharing a redis-server started for',
    "that measurement alone. The client spreads each room's members, senders included, over the",
    'two processes in turn, so every message crosses Redis to reach half of its room. Their',
    '*× Socket.IO* compares them with the Socket.IO cluster, and their server CPU is the sum of',
    'both processes and redis-server. A third row, **edgechat on Node ×1, Redis**, is one such',
    'process alone on its redis-server: it separates what Redis costs from what splitting the',
    'room costs.',
    '',
    'The load client (`bench/client.ts`) is one Node process with one thread, so that the server',
    'under test keeps the other core: it speaks WebSocket over raw `net` sockets that all read',
    'into one shared buffer, walks frames in place, recognises a delivery by its first bytes, and',
    "only a sender looks for its own `cid` (a backwards search over the frame's last bytes);",
    'nothing is JSON-parsed. Socket.IO is spoken as engine.io 4 over a plain WebSocket',
    '(`EIO=4&transport=websocket`, `40` connect, `42[…]` events, pings answered). The same client,',
    'in verify mode, checks that every member receives every message exactly once and in seq',
    'order (`test/bench-smoke.test.ts` runs that against every server here).',
    '',
    `- Run: ${report.date}, ${Math.round(report.elapsedS)} s in total`,
    `- Command: \`${report.command}\` (edgechat at ${m.commit})`,
    `- Machine: ${m.cores} cores, ${m.cpu}, ${m.memory} RAM, Linux ${m.kernel}`,
    `- Versions: ${Object.entries(m.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `- Each measurement: a fresh server process on 127.0.0.1, members connected and the join storm`,
    `  over, senders started, ${report.warmupS} s warm-up discarded, then ${report.durationS} s measured. Texts are`,
    `  ${report.textBytes} bytes. Rate limit off (\`RATE_LIMIT_PER_SEC=0\`), \`MAX_ROOM_MEMBERS=100000\`.`,
    '',
    '**How to read it.** Each shape has two tables. The first is throughput and latency:',
    '*deliveries/s* counts message frames received by all members (messages × recipients);',
    "*msgs/s* counts messages acknowledged (the sender's own copy came back); *p50/p99/max* is",
    'send → own copy, matched by `cid`. Each sender keeps a fixed number of messages in flight',
    'and sends the next when its own copy returns, so latency and throughput are two views of',
    'one closed loop. The second table is cost: *server CPU* is user + system time of the server',
    'process from `/proc/<pid>/stat` over the window (100% = one core; Bun and Deno run helper',
    'threads; a cluster adds up its processes and Redis), and *µs/delivery* divides it by',
    'deliveries, which stays comparable even when the pace was set by something other than the',
    "server. *deliveries/write* divides deliveries by the server's write/writev system calls",
    '(`syscw` in `/proc/<pid>/io`): 1.0 means one system call per frame per member, more means',
    'frames were coalesced (runtimes that write with `send`/`sendmsg`, Bun and Deno, show –;',
    "a cluster's count includes its Redis traffic). *client CPU* is the load client's own share",
    'of a core (it is one thread); near 100% means the client, not the server, set the pace, and',
    "the cost ratio is then the one to trust. *other CPU* is the rest of the machine's busy time",
    'in the window (`/proc/stat`): kernel interrupt work plus any other process; a large figure',
    'means something else competed for the two cores, and such a run is measured again once.',
    '*fill s* runs from the first connection to the end of the join storm (every welcome received',
    'and the last presence frame delivered), before any message is sent.',
    '',
  ];
  for (const shape of shapesOf(report.rows)) {
    const rows = report.rows.filter((row) => row.shape.name === shape.name);
    parts.push(
      `## ${shape.name}: ${describeShape(shape)}`,
      '',
      markdownTable(
        COLUMNS,
        rows.map((row) => cells(report.rows, row)),
      ),
      '',
      markdownTable(
        COST_COLUMNS,
        rows.map((row) => costCells(report.rows, row)),
      ),
      '',
      ...(rows.some((row) => row.suspect) ? [SUSPECT_NOTE, ''] : []),
    );
  }
  if (report.idle.length) {
    const first = report.idle[0]!;
    parts.push(
      `## Idle memory: ${num(first.connections)} connections in rooms of ${first.roomSize}`,
      '',
      'Resident memory of the server process (`VmRSS` in `/proc/<pid>/status`) after every member has',
      'joined and the frames have stopped, minus the same before the first connection, divided by',
      'the number of connections. No garbage collection is forced, so this is what the process',
      'really holds. The rooms fill in two halves, and RSS is read in between: *KiB/added',
      'connection* is what the second half added, per connection. What a process pays once, such',
      "as a young generation grown to its full size or an allocator's first pages, falls in the",
      'first half, so this column is nearer to what each further connection costs.',
      '',
      markdownTable(
        IDLE_COLUMNS,
        report.idle.map((row) => idleCells(report.idle, row)),
      ),
      '',
    );
  }
  const targets = targetRows(report);
  if (targets.length) parts.push('## Targets', '', markdownTable(TARGET_COLUMNS, targets), '');
  parts.push(changes.trim(), '');
  parts.push('## Chart', '', `![deliveries/s and p99 latency per server and shape](${chartPath})`, '');
  if (report.notes.length) parts.push('## Notes', '', ...report.notes.map((note) => `- ${note}`), '');
  parts.push(
    '## Reproduce',
    '',
    '```sh',
    'npm run bench                                     # everything, as above',
    'npm run bench -- --servers edgechat-node,floor-node --shapes room200 --duration 10',
    'npm run bench -- --rooms 50 --members 40 --senders 2 --inflight 4 --no-idle --no-write',
    'npm run bench -- --profile edgechat-node,floor-node --shapes room200   # CPU profiles',
    'npm run bench -- --servers edgechat-node,edgechat-node-redis,socketio-node-redis --shapes room200 --no-idle',
    'npm run bench -- --help',
    '```',
    '',
  );
  return parts.join('\n');
}

const COLORS: Record<ServerId, string> = {
  'edgechat-node': '#2b6cb0',
  'edgechat-node-sqlite': '#63b3ed',
  'edgechat-bun': '#c05621',
  'edgechat-bun-sqlite': '#f6ad55',
  'edgechat-deno': '#2f855a',
  'floor-node': '#718096',
  'socketio-node': '#805ad5',
  'bun-publish': '#d69e2e',
  'edgechat-node-redis': '#1a365d',
  'edgechat-node-redis-single': '#2c5282',
  'socketio-node-redis': '#553c9a',
};

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars: deliveries/s on the left, p99 latency on the right, one group per shape. */
export function svgChart(report: Report): string {
  const width = 1100;
  const labelW = 190;
  const panelW = 300;
  const leftX = labelW + 10;
  const rightX = leftX + panelW + 160;
  const bar = 14;
  const gap = 6;
  const out: string[] = [];
  let y = 40;
  out.push(
    `<text x="${leftX}" y="24" class="h">deliveries/s (longer is better), ratio to the floor</text>`,
    `<text x="${rightX}" y="24" class="h">p99 latency, ms (shorter is better), ratio to the floor</text>`,
  );
  for (const shape of shapesOf(report.rows)) {
    const rows = report.rows.filter((row) => row.shape.name === shape.name && row.result);
    const floor = reference(report.rows, shape, FLOOR);
    out.push(`<text x="10" y="${y + 12}" class="s">${escapeXml(`${shape.name}: ${describeShape(shape)}`)}</text>`);
    y += 22;
    const maxRate = Math.max(...rows.map((row) => row.result!.deliveriesPerSec), 1);
    const maxP99 = Math.max(...rows.map((row) => row.result!.latency.p99).filter(Number.isFinite), 0.001);
    for (const row of rows) {
      const r = row.result!;
      const color = COLORS[row.server];
      const w1 = Math.max(1, (r.deliveriesPerSec / maxRate) * panelW);
      const w2 = Number.isFinite(r.latency.p99) ? Math.max(1, (r.latency.p99 / maxP99) * panelW) : 0;
      const rateRatio = floor ? ` (${ratio(r.deliveriesPerSec, floor.deliveriesPerSec)})` : '';
      const p99Ratio = floor ? ` (${ratio(r.latency.p99, floor.latency.p99)})` : '';
      out.push(
        `<text x="${labelW}" y="${y + bar - 3}" class="l" text-anchor="end">${escapeXml(row.label)}</text>`,
        `<rect x="${leftX}" y="${y}" width="${w1.toFixed(1)}" height="${bar}" fill="${color}"/>`,
        `<text x="${(leftX + w1 + 4).toFixed(1)}" y="${y + bar - 3}" class="v">${num(r.deliveriesPerSec)}${rateRatio}</text>`,
        `<rect x="${rightX}" y="${y}" width="${w2.toFixed(1)}" height="${bar}" fill="${color}"/>`,
        `<text x="${(rightX + w2 + 4).toFixed(1)}" y="${y + bar - 3}" class="v">${num(r.latency.p99, 1)}${p99Ratio}</text>`,
      );
      y += bar + gap;
    }
    y += 14;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">`,
    '<style>.h{font-size:13px;font-weight:600}.s{font-size:13px;font-weight:600;fill:#222}.l{font-size:12px;fill:#333}.v{font-size:11px;fill:#444}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
