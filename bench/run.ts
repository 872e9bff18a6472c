// npm run bench: every server × every shape, each server started fresh per shape, one load
// client (its own process) for all of them; then the idle-memory run; then the table on
// stdout, BENCHMARKS.md and bench/chart.svg. `npm run bench -- --help` lists the flags.
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Job, Mode, Result } from './client.ts';
import { formatSummary, summarise } from './profile-summary.ts';
import { markdown, stdoutTables, svgChart, describeShape, type IdleRow, type Report, type Row, type Shape } from './report.ts';
import { readMachineBusy } from './proc.ts';
import { SERVERS, root, serverById, startServer, type Running, type ServerDef } from './servers.ts';

const HELP = `npm run bench -- [flags]

  --servers LIST      comma-separated, default all: ${SERVERS.map((s) => s.id).join(',')}
                      (without it, the Redis rows run in room200 only, and not idle)
  --shapes LIST       default room200,room2000,rooms1000x10; also RxM (e.g. 10x50) for R rooms of M
  --rooms R --members M
                      one custom shape instead of --shapes
  --senders S         senders per room (overrides every shape)
  --inflight W        messages each sender keeps in flight (overrides every shape)
  --duration SEC      measured window per server and shape (default 3)
  --warmup SEC        discarded warm-up before it (default 1)
  --text BYTES        message text length (default 100)
  --idle N            connections for the idle-memory run (default 5000; 0 skips it)
  --idle-room-size M  members per room in the idle run (default 10)
  --no-idle           skip the idle-memory run
  --max-other SHARE   when other processes keep more than this share of a core busy during a
                      window, measure that server again once (default 0.3)
  --retries N         at most this many such repeats per run (default 2)
  --quiet-wait SEC    before each measurement, wait while the machine is busier than
                      --max-other, at most this long over the whole run (default 60)
  --verify            record every member's seq sequence and check exactly-once, in order
                      (no report is written)
  --profile LIST      run these servers (node ones) with --cpu-prof on the first shape and
                      print a self-time summary per process (no report is written)
  --no-write          print the table only; leave BENCHMARKS.md and bench/chart.svg alone
  --help`;

const NAMED_SHAPES: Record<string, Shape> = {
  room200: { name: 'room200', rooms: 1, members: 200, senders: 8, inflight: 4 },
  room2000: { name: 'room2000', rooms: 1, members: 2000, senders: 8, inflight: 2 },
  rooms1000x10: { name: 'rooms1000x10', rooms: 1000, members: 10, senders: 1, inflight: 1 },
};

const { values: flags } = parseArgs({
  options: {
    servers: { type: 'string' },
    shapes: { type: 'string' },
    rooms: { type: 'string' },
    members: { type: 'string' },
    senders: { type: 'string' },
    inflight: { type: 'string' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    text: { type: 'string', default: '100' },
    idle: { type: 'string', default: '5000' },
    'idle-room-size': { type: 'string', default: '10' },
    'no-idle': { type: 'boolean', default: false },
    verify: { type: 'boolean', default: false },
    'max-other': { type: 'string', default: '0.3' },
    retries: { type: 'string', default: '2' },
    'quiet-wait': { type: 'string', default: '60' },
    profile: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

function count(name: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    console.error(`--${name} must be a number ≥ ${min}, not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

function shapesFromFlags(): Shape[] {
  let shapes: Shape[];
  if (flags.rooms !== undefined || flags.members !== undefined) {
    const rooms = count('rooms', flags.rooms) ?? 1;
    const members = count('members', flags.members) ?? 200;
    shapes = [{ name: `${rooms}x${members}`, rooms, members, senders: rooms === 1 ? 8 : 1, inflight: 2 }];
  } else {
    shapes = (flags.shapes ?? Object.keys(NAMED_SHAPES).join(',')).split(',').map((name) => {
      const named = NAMED_SHAPES[name.trim()];
      if (named) return { ...named };
      const custom = /^(\d+)x(\d+)$/.exec(name.trim());
      if (!custom) {
        console.error(`unknown shape "${name}"; use ${Object.keys(NAMED_SHAPES).join(', ')} or RxM`);
        process.exit(2);
      }
      const rooms = Number(custom[1]);
      return { name: name.trim(), rooms, members: Number(custom[2]), senders: rooms === 1 ? 8 : 1, inflight: 2 };
    });
  }
  const senders = count('senders', flags.senders);
  const inflight = count('inflight', flags.inflight);
  for (const shape of shapes) {
    if (senders !== undefined) shape.senders = senders;
    if (inflight !== undefined) shape.inflight = inflight;
    shape.senders = Math.min(shape.senders, shape.members);
  }
  return shapes;
}

const shapes = shapesFromFlags();
const servers: ServerDef[] = (flags.servers ?? SERVERS.map((s) => s.id).join(',')).split(',').map((id) => serverById(id.trim()));
/** Whether this run measures `def` in a shape (or 'idle'): a run that names its servers, in every one. */
const measures = (def: ServerDef, shape: string) => flags.servers !== undefined || !def.shapes || def.shapes.includes(shape);
const durationMs = count('duration', flags.duration, 0.1)! * 1000;
const warmupMs = count('warmup', flags.warmup, 0)! * 1000;
const textBytes = count('text', flags.text)!;
const idleConnections = flags['no-idle'] ? 0 : count('idle', flags.idle, 0)!;
const idleRoomSize = count('idle-room-size', flags['idle-room-size'])!;
const mode: Mode = flags.verify ? 'verify' : 'load';
const maxOther = count('max-other', flags['max-other'], 0)!;
const maxRetries = count('retries', flags.retries, 0)!;
const quietWaitMs = count('quiet-wait', flags['quiet-wait'], 0)! * 1000;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** The load client process; one job at a time, each bounded in time. */
class Client {
  private child: ChildProcess | undefined;

  private spawn(): ChildProcess {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      this.child = fork(join(root, 'bench', 'client-main.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    }
    return this.child;
  }

  run(job: Job): Promise<Result> {
    const child = this.spawn();
    // Connecting, the join storm, warm-up, the window and draining all have their own limits;
    // this one catches anything else.
    const limitMs = (job.connectTimeoutMs ?? 120_000) + 60_000 + job.warmupMs + job.durationMs + 30_000;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.off('message', onMessage);
      };
      const timer = setTimeout(() => {
        done();
        child.kill('SIGKILL');
        reject(new Error(`the load client did not finish within ${Math.round(limitMs / 1000)} s`));
      }, limitMs);
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`the load client exited (${code})`));
      };
      const onMessage = (answer: { ok: boolean; result?: Result; error?: string }) => {
        done();
        if (answer.ok) resolve(answer.result!);
        else reject(new Error(answer.error));
      };
      child.once('exit', onExit);
      child.once('message', onMessage);
      child.send(job);
    });
  }

  close(): void {
    if (this.child?.connected) this.child.disconnect();
  }
}

function shapeJob(shape: Shape, server: Running, jobMode: Mode): Job {
  return {
    host: '127.0.0.1',
    ports: server.ports,
    proto: server.def.proto,
    mode: jobMode,
    rooms: shape.rooms,
    members: shape.members,
    senders: shape.senders,
    inflight: shape.inflight,
    textBytes,
    warmupMs,
    durationMs,
    serverPids: server.pids,
  };
}

function version(command: string[]): string {
  try {
    const text = execFileSync(command[0]!, command.slice(1), { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    return /\d+\.\d+\.\d+/.exec(text)?.[0] ?? text.trim().split('\n')[0]!;
  } catch {
    return 'not installed';
  }
}

function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${head} with uncommitted changes in src/` : head;
  } catch {
    return 'unknown';
  }
}

function machine(): Report['machine'] {
  return {
    commit: commit(),
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    kernel: release(),
    versions: {
      Node: process.version.slice(1),
      Bun: version([join(root, 'node_modules', '.bin', 'bun'), '--version']),
      Deno: version([join(root, 'node_modules', '.bin', 'deno'), '--version']),
      ws: packageVersion('ws'),
      'socket.io': packageVersion('socket.io'),
      '@socket.io/redis-adapter': packageVersion('@socket.io/redis-adapter'),
      'redis-server': version(['redis-server', '--version']),
      'node-redis': packageVersion('redis'),
      hono: packageVersion('hono'),
      '@hono/node-server': packageVersion('@hono/node-server'),
    },
  };
}

const percent = (share: number | undefined) => `${Math.round((share ?? NaN) * 100)}%`;

function short(result: Result): string {
  const l = result.latency;
  const shares = result.serverCpuShares ?? [];
  // A cluster's share by process: its instances, then redis-server.
  const split = shares.length > 1 ? ` (${shares.map(percent).join(' + ')})` : '';
  return (
    `${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} deliveries/s, ` +
    `${Math.round(result.messagesPerSec).toLocaleString('en-US')} msgs/s, p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} ms, ` +
    `CPU server ${percent(result.serverCpuShare)}${split} client ${percent(result.clientCpuShare)} ` +
    `other ${Math.round((result.otherCpuShare ?? NaN) * 100)}%, fan-out ${result.fanoutRatio.toFixed(3)}, ` +
    `fill ${(result.fillMs / 1000).toFixed(1)} s`
  );
}

function problems(result: Result): string[] {
  const out: string[] = [];
  if (result.dropped) out.push(`${result.dropped} connections dropped`);
  if (result.errorFrames) out.push(`${result.errorFrames} error frames (${result.firstError})`);
  if (result.outOfOrderAcks) out.push(`${result.outOfOrderAcks} own copies out of order`);
  if (result.verify && !result.verify.ok) out.push(...result.verify.problems);
  return out;
}

async function profile(ids: string[]): Promise<void> {
  const shape = shapes[0]!;
  const client = new Client();
  const dir = join(root, 'bench', 'profiles');
  mkdirSync(dir, { recursive: true });
  try {
    for (const id of ids) {
      const def = serverById(id);
      if (def.runtime !== 'node') throw new Error(`--profile runs node servers only, not ${id}`);
      const out = join(dir, id);
      rmSync(out, { recursive: true, force: true });
      const server = await startServer(def, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', out] });
      try {
        log(`profiling ${def.label}, ${shape.name}: ${describeShape(shape)}`);
        const result = await client.run(shapeJob(shape, server, 'load'));
        log(`  ${short(result)} (under the profiler)`);
      } finally {
        await server.stop(10_000); // SIGTERM: each process exits and writes its profile
      }
      // One profile per process of a cluster (redis-server is not profiled).
      const files = readdirSync(out).filter((name) => name.endsWith('.cpuprofile'));
      if (!files.length) throw new Error(`${id} wrote no profile to ${out}`);
      for (const file of files) {
        console.log(`\n== ${def.label}: ${join('bench', 'profiles', id, file)}\n`);
        console.log(formatSummary(summarise(JSON.parse(readFileSync(join(out, file), 'utf8')))));
      }
    }
  } finally {
    client.close();
  }
}

/** Share of a core the machine spends busy while this process sleeps for `ms`. */
async function machineLoad(ms: number): Promise<number> {
  const before = readMachineBusy();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return (readMachineBusy() - before) / (ms / 1000);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const idle: IdleRow[] = [];
  const notes: string[] = [];
  if (flags.profile) {
    await profile(flags.profile.split(',').map((id) => id.trim()));
    process.exit(0);
  }
  const started = Date.now();
  const host = machine();
  const load = await machineLoad(1000);
  if (load > 0.25) {
    const warning = `Before the run, other processes kept ${Math.round(load * 100)}% of a core busy; every figure shares the machine with them (see the *other CPU* column).`;
    notes.push(warning);
    log(`warning: ${warning}`);
  }
  const client = new Client();
  let failed = false;

  // Other people's processes share the two cores: before each measurement, wait (within a
  // budget for the whole run) until the machine is close to idle.
  let quietBudgetMs = quietWaitMs;
  const waitForQuiet = async () => {
    while (quietBudgetMs > 0) {
      const busy = await machineLoad(400);
      if (busy <= maxOther) return;
      quietBudgetMs -= 400;
      if (quietBudgetMs <= 0) log(`    the machine stays busy (${Math.round(busy * 100)}% of a core); no more waiting in this run`);
    }
  };

  /** One measurement on a fresh server process. */
  const measure = async (def: ServerDef, shape: Shape): Promise<Result> => {
    await waitForQuiet();
    const server = await startServer(def);
    try {
      return await client.run(shapeJob(shape, server, mode));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}\n    server output (tail):\n${server.output().slice(-2000)}`);
    } finally {
      await server.stop();
    }
  };
  let retriesLeft = maxRetries;

  try {
    for (const shape of shapes) {
      log(`\n${shape.name}: ${describeShape(shape)}`);
      for (const def of servers.filter((server) => measures(server, shape.name))) {
        const row: Row = { shape, server: def.id, label: def.label };
        rows.push(row);
        try {
          let result = await measure(def, shape);
          log(`  ${def.id.padEnd(14)} ${short(result)}`);
          // Something else took a core: measure again once, and keep the cleaner of the two.
          const other = result.otherCpuShare ?? 0;
          if (other > maxOther && retriesLeft > 0 && mode === 'load') {
            retriesLeft -= 1;
            log(`    other processes used ${Math.round(other * 100)}% of a core; measuring again`);
            await new Promise((resolve) => setTimeout(resolve, 1000));
            const again = await measure(def, shape);
            log(`  ${def.id.padEnd(14)} ${short(again)}`);
            const better = (again.otherCpuShare ?? 0) < other ? again : result;
            notes.push(
              `${shape.name}, ${def.label}: measured twice because other processes used ${Math.round(other * 100)}% of a core ` +
                `during the first window; kept the run with ${Math.round((better.otherCpuShare ?? 0) * 100)}%.`,
            );
            result = better;
          }
          row.result = result;
          const trouble = problems(result);
          if (trouble.length) log(`    PROBLEMS: ${trouble.join('; ')}`);
          if (mode === 'verify')
            log(
              `    verified ${result.verify?.messages} messages, ${result.verify?.deliveries} deliveries: ${result.verify?.ok ? 'ok' : 'FAILED'}`,
            );
          if (trouble.length) {
            failed = mode === 'verify' || failed;
            notes.push(`${shape.name}, ${def.label}: ${trouble.join('; ')}.`);
          }
          if (result.clientCpuShare > 0.9) {
            notes.push(
              `${shape.name}, ${def.label}: the load client used ${Math.round(result.clientCpuShare * 100)}% of a core; it may have set the pace.`,
            );
          }
          if ((result.otherCpuShare ?? 0) > maxOther) row.suspect = true;
        } catch (error) {
          row.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
          log(`  ${def.id.padEnd(14)} FAILED: ${error instanceof Error ? error.message : error}`);
          notes.push(`${shape.name}, ${def.label} failed: ${row.error}`);
          failed = true;
        }
      }
    }

    if (idleConnections > 0 && mode === 'load') {
      const rooms = Math.ceil(idleConnections / idleRoomSize);
      log(`\nidle: ${idleConnections} connections in ${rooms} rooms of ${idleRoomSize}`);
      for (const def of servers.filter((server) => measures(server, 'idle'))) {
        const row: IdleRow = { server: def.id, label: def.label, connections: rooms * idleRoomSize, roomSize: idleRoomSize };
        idle.push(row);
        let server: Running | undefined;
        try {
          await waitForQuiet();
          server = await startServer(def);
          const shape: Shape = { name: 'idle', rooms, members: idleRoomSize, senders: 0, inflight: 0 };
          const result = await client.run({ ...shapeJob(shape, server, 'idle'), settleMs: 1000 });
          row.result = result;
          log(
            `  ${def.id.padEnd(14)} ${(result.kibPerConnection ?? NaN).toFixed(2)} KiB/connection, ` +
              `${(result.kibPerAddedConnection ?? NaN).toFixed(2)} per added one ` +
              `(RSS ${((result.rssBeforeKiB ?? 0) / 1024).toFixed(1)} → ${((result.rssHalfwayKiB ?? 0) / 1024).toFixed(1)} → ` +
              `${((result.rssAfterKiB ?? 0) / 1024).toFixed(1)} MiB, ` +
              `connected in ${(result.connectMs / 1000).toFixed(1)} s)`,
          );
        } catch (error) {
          row.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
          log(`  ${def.id.padEnd(14)} FAILED: ${row.error}`);
          notes.push(`idle, ${def.label} failed: ${row.error}`);
          failed = true;
        } finally {
          await server?.stop();
        }
      }
    }
  } finally {
    client.close();
  }
  const waitedS = (quietWaitMs - Math.max(0, quietBudgetMs)) / 1000;
  if (waitedS >= 1) notes.push(`The run waited ${waitedS.toFixed(0)} s in all for other processes to leave the cores idle.`);

  const args = process.argv.slice(2);
  const report: Report = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    machine: host,
    durationS: durationMs / 1000,
    warmupS: warmupMs / 1000,
    textBytes,
    elapsedS: (Date.now() - started) / 1000,
    rows,
    idle,
    notes,
  };
  console.log(`\n${stdoutTables(report)}`);
  if (notes.length) console.log(`notes:\n${notes.map((note) => `  - ${note}`).join('\n')}\n`);
  console.log(`total ${report.elapsedS.toFixed(0)} s`);
  if (!flags['no-write'] && mode === 'load') {
    writeFileSync(join(root, 'bench', 'chart.svg'), svgChart(report));
    writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
    const changes = readFileSync(join(root, 'bench', 'changes.md'), 'utf8');
    writeFileSync(join(root, 'BENCHMARKS.md'), markdown(report, 'bench/chart.svg', changes));
    console.log('wrote BENCHMARKS.md, bench/chart.svg and bench/results.json');
  }
  if (failed) process.exitCode = 1;
}

await main();
