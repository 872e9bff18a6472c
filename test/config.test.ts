import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../src/core/config.ts';

describe('readConfig', () => {
  it('uses the documented defaults', () => {
    expect(readConfig({})).toEqual({
      port: 8787,
      host: '0.0.0.0',
      allowedOrigins: [],
      historyLimit: 100,
      maxText: 2000,
      maxFrameBytes: 16384,
      maxRoomMembers: 1000,
      rateBurst: 20,
      ratePerSecond: 5,
      roomIdleTtlMs: 300_000,
      pingIntervalMs: 30_000,
    });
  });

  it('reads every variable', () => {
    const config = readConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000',
      HISTORY_LIMIT: '10',
      RATE_LIMIT_PER_SEC: '0',
    });
    expect(config).toMatchObject({
      port: 0,
      host: '127.0.0.1',
      allowedOrigins: ['https://a.example', 'http://localhost:3000'],
      historyLimit: 10,
      ratePerSecond: 0,
    });
  });

  it('names the variable in a one-line error', () => {
    const cases: [Record<string, string>, string][] = [
      [{ PORT: '70000' }, 'PORT'],
      [{ MAX_TEXT: 'lots' }, 'MAX_TEXT'],
      [{ HISTORY_LIMIT: '-1' }, 'HISTORY_LIMIT'],
      [{ ALLOWED_ORIGINS: 'https://ok.example,*.example' }, 'ALLOWED_ORIGINS'],
      [{ ALLOWED_ORIGINS: 'https://a.example/path' }, 'ALLOWED_ORIGINS'],
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
});

describe('start-up with invalid configuration', () => {
  it('stops the Node server with one line naming the variable', async () => {
    const child = spawn(process.execPath, ['dist/node.js'], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, MAX_ROOM_MEMBERS: 'many', PORT: '0', HOST: '127.0.0.1' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^edgechat: invalid MAX_ROOM_MEMBERS="many": /)]);
  });
});
