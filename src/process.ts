// What the runtimes with a process share (Node, and Deno and Bun through node:process):
// configuration from the environment and process metrics. Not in the core, which also
// runs on Workers, where neither exists.
import process from 'node:process';
import { ConfigError, readConfig, type Config } from './core/config.ts';

/** The configuration from the environment; on a bad value, one line on stderr and exit 1. */
export function loadConfig(): Config {
  try {
    return readConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`edgechat: ${error.message}`);
    process.exit(1);
  }
}

/** Memory and CPU of this process, appended to /metrics. */
export function processMetrics(): string {
  const { rss, heapUsed } = process.memoryUsage();
  const { user, system } = process.cpuUsage();
  return [
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${rss}`,
    '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${(user + system) / 1e6}`,
    '# TYPE nodejs_heap_used_bytes gauge',
    `nodejs_heap_used_bytes ${heapUsed}`,
    '',
  ].join('\n');
}

interface Pingable {
  ping(): void;
  terminate(): void;
}

/**
 * Protocol pings: every interval each socket is pinged, and one that has not answered the
 * previous ping is terminated (its close then announces the leave). Call `answered` from
 * the runtime's pong event.
 */
export function startHeartbeat<S extends Pingable>(sockets: () => Iterable<S>, intervalMs: number) {
  const awaitingPong = new WeakSet<S>();
  const timer = setInterval(() => {
    for (const ws of sockets()) {
      if (awaitingPong.has(ws)) {
        ws.terminate();
      } else {
        awaitingPong.add(ws);
        ws.ping();
      }
    }
  }, intervalMs);
  return {
    answered: (ws: S) => void awaitingPong.delete(ws),
    stop: () => clearInterval(timer),
  };
}
