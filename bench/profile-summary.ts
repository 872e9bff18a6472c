// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per origin
// (edgechat's own code, ws, hono, zod, Node internals, GC, idle).
//   tsx bench/profile-summary.ts <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function origin(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'V8/native (program)';
  if (!url) return 'native (no url)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/dist/') || url.includes('/src/')) return 'edgechat';
  if (url.includes('/bench/')) return 'bench';
  return url;
}

function short(url: string): string {
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '')
    .replace(/^.*\/(dist|src)\//, '$1/');
}

export interface Summary {
  totalMs: number;
  busyMs: number;
  functions: { name: string; where: string; origin: string; ms: number; share: number }[];
  origins: { origin: string; ms: number; share: number }[];
}

export function summarise(profile: Profile): Summary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    // timeDeltas[i] is the time before sample i; attribute the following delta to it.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const functions = new Map<string, { name: string; where: string; origin: string; us: number }>();
  const origins = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || '(anonymous)';
    const where = url ? `${short(url)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, origin: origin(url, name), us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const o = origin(url, name);
    origins.set(o, (origins.get(o) ?? 0) + us);
    total += us;
    if (name === '(idle)') idle += us;
  }
  const busy = total - idle;
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    functions: [...functions.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .map((f) => ({ name: f.name, where: f.where, origin: f.origin, ms: f.us / 1000, share: busy ? f.us / busy : 0 })),
    origins: [...origins.entries()]
      .filter(([o]) => o !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([o, us]) => ({ origin: o, ms: us / 1000, share: busy ? us / busy : 0 })),
  };
}

export function formatSummary(summary: Summary, top = 25): string {
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `profiled ${(summary.totalMs / 1000).toFixed(1)} s, busy ${(summary.busyMs / 1000).toFixed(1)} s (shares below are of busy time)`,
    '',
    'self time by origin:',
    ...summary.origins.slice(0, 12).map((o) => `  ${pct(o.share)}  ${o.ms.toFixed(0).padStart(7)} ms  ${o.origin}`),
    '',
    `top ${top} functions by self time:`,
    ...summary.functions
      .slice(0, top)
      .map((f) => `  ${pct(f.share)}  ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where ? `(${f.where})` : ''}`),
  ];
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  console.log(formatSummary(summarise(profile), Number(process.argv[3] ?? 25)));
}
