// What the Redis storage tests rely on in test/support/redis.ts: servers of their own,
// data that survives a restart and a crash only with appendonly, and nothing left behind.
import { existsSync } from 'node:fs';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from './support/redis.ts';

const started: RunningRedis[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((redis) => redis.dispose()));
});

async function start(appendonly: boolean): Promise<RunningRedis> {
  const redis = await startRedis({ appendonly });
  started.push(redis);
  return redis;
}

async function command<T>(redis: RunningRedis, use: (client: ReturnType<typeof createClient>) => Promise<T>): Promise<T> {
  const client = await createClient({ url: redis.url }).connect();
  try {
    return await use(client);
  } finally {
    client.destroy();
  }
}

describe('redis-server for tests', () => {
  it('gives each server its own port and directory, removed by dispose()', async () => {
    const [a, b] = await Promise.all([start(false), start(false)]);
    expect(a!.port).not.toBe(b!.port);
    expect(a!.dir).not.toBe(b!.dir);
    await command(a!, (client) => client.set('k', 'a'));
    expect(await command(b!, (client) => client.get('k'))).toBeNull();
    await a!.dispose();
    expect(existsSync(a!.dir)).toBe(false);
  });

  it('keeps appendonly data through restart() and through kill() then restart()', async () => {
    const redis = await start(true);
    await command(redis, (client) => client.set('k', 'before stop'));
    await redis.restart();
    expect(await command(redis, (client) => client.get('k'))).toBe('before stop');
    await command(redis, (client) => client.set('k', 'before crash'));
    await redis.kill();
    await redis.restart();
    expect(await command(redis, (client) => client.get('k'))).toBe('before crash');
    await redis.flushAll();
    expect(await redis.keyCount()).toBe(0);
  });

  it('starts empty again without appendonly', async () => {
    const redis = await start(false);
    await command(redis, (client) => client.set('k', 'v'));
    await redis.restart();
    expect(await command(redis, (client) => client.get('k'))).toBeNull();
  });
});
