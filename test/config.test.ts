import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, readConfig } from '../src/core/config.ts';
import { npmScript } from './support/server.ts';

describe('readConfig', () => {
  it('uses the documented defaults', () => {
    expect(readConfig({})).toEqual({
      port: 8787,
      host: '0.0.0.0',
      allowedOrigins: [],
      historyLimit: 100,
      historyRetention: 10_000,
      storage: 'sqlite',
      dataDir: 'data',
      redisUrl: 'redis://127.0.0.1:6379',
      redisPrefix: 'edgechat:',
      presenceTtlMs: 15000,
      redisRoomTtlMs: 30 * 24 * 3_600_000,
      authSecret: undefined,
      authPublicKey: undefined,
      authJwksUrl: undefined,
      authIssuer: undefined,
      authAudience: undefined,
      publicRooms: [],
      maxText: 2000,
      maxFrameBytes: 16384,
      maxRoomMembers: 1000,
      rateBurst: 20,
      ratePerSecond: 5,
      roomIdleTtlMs: 300_000,
      pingIntervalMs: 30_000,
      handshakeTimeoutMs: 10_000,
      trustProxy: false,
      clientRate: { burst: 30, perSecond: 10 },
      httpRate: { burst: 60, perSecond: 20 },
      maxConnectionsPerClient: 100,
      maxConnections: 10_000,
    });
  });

  it('reads every variable', () => {
    const config = readConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000',
      HISTORY_LIMIT: '10',
      HISTORY_RETENTION: '10',
      STORAGE: 'memory',
      DATA_DIR: '/var/lib/edgechat',
      RATE_LIMIT_PER_SEC: '0',
      CLIENT_RATE_BURST: '0',
      HTTP_RATE_PER_SEC: '0',
    });
    expect(config).toMatchObject({
      port: 0,
      host: '127.0.0.1',
      allowedOrigins: ['https://a.example', 'http://localhost:3000'],
      historyLimit: 10,
      historyRetention: 10,
      storage: 'memory',
      dataDir: '/var/lib/edgechat',
      ratePerSecond: 0,
      clientRate: undefined,
      httpRate: undefined,
    });
  });

  it('never repeats a secret in an error', () => {
    expect(() => readConfig({ AUTH_SECRET: 'hunter2', AUTH_PUBLIC_KEY: 'k' })).toThrow(/^invalid AUTH_SECRET=\(hidden\)/);
    expect(() => readConfig({ REDIS_URL: 'http://user:hunter2@cache' })).toThrow(/^invalid REDIS_URL=\(hidden\)/);
  });

  it('names the variable in a one-line error', () => {
    const cases: [Record<string, string>, string][] = [
      [{ PORT: '70000' }, 'PORT'],
      [{ MAX_TEXT: 'lots' }, 'MAX_TEXT'],
      [{ HISTORY_LIMIT: '-1' }, 'HISTORY_LIMIT'],
      [{ ALLOWED_ORIGINS: 'https://ok.example,*.example' }, 'ALLOWED_ORIGINS'],
      [{ ALLOWED_ORIGINS: 'https://a.example/path' }, 'ALLOWED_ORIGINS'],
      [{ HISTORY_RETENTION: '99' }, 'HISTORY_RETENTION'],
      [{ HISTORY_LIMIT: '20000' }, 'HISTORY_RETENTION'],
      [{ STORAGE: 'disk' }, 'STORAGE'],
      [{ STORAGE: 'redis', REDIS_URL: 'http://cache:6379' }, 'REDIS_URL'],
      [{ REDIS_PREFIX: 'chat {a}' }, 'REDIS_PREFIX'],
      [{ PRESENCE_TTL_MS: '10' }, 'PRESENCE_TTL_MS'],
      [{ PRESENCE_TTL_MS: '20000', REDIS_ROOM_TTL_MS: '10000' }, 'REDIS_ROOM_TTL_MS'],
      [{ AUTH_SECRET: 's', AUTH_JWKS_URL: 'https://keys.example/jwks.json' }, 'AUTH_SECRET'],
      [{ PUBLIC_ROOMS: 'lobby,Bad Room' }, 'PUBLIC_ROOMS'],
      [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY'],
    ];
    for (const [env, variable] of cases) {
      expect(() => readConfig(env)).toThrow(new RegExp(`^invalid ${variable}=`));
      try {
        readConfig(env);
      } catch (error) {
        expect((error as Error).message).not.toContain('\n');
      }
    }
  });

  it('says retention below HISTORY_LIMIT would break resume promises', () => {
    expect(() => readConfig({ HISTORY_LIMIT: '50', HISTORY_RETENTION: '49' })).toThrow(
      /^invalid HISTORY_RETENTION="49": must be at least HISTORY_LIMIT/,
    );
  });
});

describe('Deno', () => {
  it('is allowed to read every variable edgechat reads, the two that ws reads, and nothing else', () => {
    const { scripts } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const allowed = /--allow-env=(\S+)/.exec(scripts['start:deno'])![1]!.split(',');
    // ws looks these up when it loads, to skip its optional native helpers.
    const wsVariables = ['WS_NO_BUFFER_UTIL', 'WS_NO_UTF_8_VALIDATE'];
    expect(allowed.sort()).toEqual([...CONFIG_VARIABLES, ...wsVariables].sort());
  });
});

const starts: [string, string[]][] = [
  ['Node', [process.execPath, 'src/runtime/node/server.ts']],
  ['Deno', npmScript('start:deno')],
  ['Bun', npmScript('start:bun')],
];

describe.each(starts)('start-up on %s', (_runtime, command) => {
  /** Starts the server with `env` and resolves with its exit code and what it wrote to stderr. */
  async function failedStart(env: Record<string, string>) {
    const child = spawn(command[0]!, command.slice(1), {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    return { code, lines: stderr.trim().split('\n') };
  }

  it('stops with one line naming an invalid variable', async () => {
    expect(await failedStart({ MAX_ROOM_MEMBERS: 'many' })).toEqual({
      code: 1,
      lines: [expect.stringMatching(/^edgechat: invalid MAX_ROOM_MEMBERS="many": /)],
    });
    expect(await failedStart({ HISTORY_LIMIT: '100', HISTORY_RETENTION: '50' })).toEqual({
      code: 1,
      lines: [expect.stringMatching(/^edgechat: invalid HISTORY_RETENTION="50": must be at least HISTORY_LIMIT/)],
    });
  });

  it('stops with one line when DATA_DIR cannot hold the database', async () => {
    const notADirectory = join(mkdtempSync(join(tmpdir(), 'edgechat-config-')), 'file');
    writeFileSync(notADirectory, 'not a directory');
    expect(await failedStart({ DATA_DIR: notADirectory })).toEqual({
      code: 1,
      lines: [expect.stringMatching(/^edgechat: cannot open storage in DATA_DIR=.*file: /)],
    });
  });
});
