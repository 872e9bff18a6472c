// edgechat as people install it: the tarball `npm pack` makes, installed into a small
// project of its own (examples/embed) from the npm cache, that mounts the server into its
// own Hono app and chats through the client; and the repository started for production,
// without a devDependency, under `npm start`, which passes SIGTERM on to the server.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from './support/client.ts';
import { freePort, launch, type Launched } from './support/server.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** npm scripts and the servers below run on the Node that runs the tests (22.18 or later). */
const PATH = `${dirname(process.execPath)}:${process.env.PATH}`;
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env: { ...process.env, PATH }, encoding: 'utf8' });

describe('the package', { timeout: 240_000 }, () => {
  let project: string;
  let files: string[];

  beforeAll(() => {
    const packed = mkdtempSync(join(tmpdir(), 'edgechat-pack-'));
    const [report] = JSON.parse(npm(['pack', '--json', '--pack-destination', packed], root));
    files = report.files.map((file: { path: string }) => file.path);
    project = mkdtempSync(join(tmpdir(), 'edgechat-example-'));
    cpSync(join(root, 'examples/embed'), project, { recursive: true });
    // The example as a user has it, with edgechat from the tarball; every other package
    // from the npm cache that `npm ci` filled, so that this works offline.
    const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    const tarball = join(packed, report.filename);
    manifest.dependencies.edgechat = `file:${tarball}`;
    writeFileSync(join(project, 'package.json'), JSON.stringify(manifest, null, 2));
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lockFor(manifest, tarball, report), null, 2));
    npm(['ci', '--offline'], project);
  });

  it('holds the library, the runtime entries, the client and their types, and nothing of the repository around them', () => {
    for (const file of [
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/runtime/node/server.js',
      'dist/static/client.d.ts',
      'static/client.js',
      'static/index.html',
      'src/runtime/workers/worker.ts',
    ]) {
      expect(files).toContain(file);
    }
    expect(files.filter((file) => /^(test|bench|examples|scripts|data)\//.test(file))).toEqual([]);
  });

  it('type-checks an app against the client and the protocol types', () => {
    expect(() => execFileSync(join(project, 'node_modules/.bin/tsc'), ['-p', project], { encoding: 'utf8' })).not.toThrow();
  });

  describe('mounted into an app of its own', () => {
    let server: Launched;
    beforeAll(async () => {
      const env = { STORAGE: 'memory', PING_INTERVAL_MS: '300' };
      server = await launch(() => [process.execPath, join(project, 'server.js')], { name: 'embed', env });
    });
    afterAll(() => server?.stop());

    it("serves the app's routes, the chat page and the rooms side by side", async () => {
      expect(await (await fetch(`${server.baseUrl}/hello`)).text()).toBe('hello from the app around the chat');
      expect(await (await fetch(`${server.baseUrl}/`)).text()).toContain('<title>');
      const watcher = await TestClient.join(`ws://127.0.0.1:${server.port}/ws/lobby?name=watcher`);
      // Not execFileSync: the watcher answers the server's pings (every 300 ms here) meanwhile.
      const { stdout } = await promisify(execFile)(process.execPath, [
        join(project, 'chat.js'),
        server.baseUrl,
        'lobby',
        'from the example',
      ]);
      const stored = JSON.parse(stdout);
      expect(stored).toMatchObject({ type: 'message', room: 'lobby', text: 'from the example', from: { name: 'script' } });
      expect(await watcher.next('message')).toEqual(stored);
      await watcher.close();
    });

    it('drops a member that stops answering protocol pings, and announces its leave', async () => {
      const silent = await TestClient.join(`ws://127.0.0.1:${server.port}/ws/quiet`, { autoPong: false });
      const watcher = await TestClient.join(`ws://127.0.0.1:${server.port}/ws/quiet`);
      expect(await watcher.next('presence', 5_000)).toMatchObject({ event: 'leave', member: silent.welcome.you });
      expect((await silent.closed).code).toBe(1006);
      expect(watcher.socket.readyState).toBe(watcher.socket.OPEN);
      await watcher.close();
    });

    it('closes its members with 1001 on SIGTERM', async () => {
      const member = await TestClient.join(`ws://127.0.0.1:${server.port}/ws/lobby`);
      await server.stop('SIGTERM');
      expect((await member.closed).code).toBe(1001);
    });
  });

  it('runs its Node entry from the installed package (npx edgechat), with the chat page', async () => {
    const server = await launch(() => [join(project, 'node_modules/.bin/edgechat')], { name: 'bin', env: { STORAGE: 'memory', PATH } });
    try {
      expect(await (await fetch(`${server.baseUrl}/`)).text()).toContain('<title>');
      const client = await TestClient.join(`ws://127.0.0.1:${server.port}/ws/lobby`);
      await client.close();
    } finally {
      await server.stop();
    }
  });
});

/**
 * A lockfile for the example, made from the repository's: the same versions, which `npm ci`
 * installed here, so that their tarballs are in the npm cache (an install without a
 * lockfile would ask the registry which versions there are).
 */
function lockFor(
  manifest: { name: string; dependencies: Record<string, string>; devDependencies: Record<string, string> },
  tarball: string,
  packed: { version: string; integrity: string },
) {
  const ours = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages as Record<string, LockEntry>;
  const packages: Record<string, LockEntry> = {
    '': { name: manifest.name, dependencies: manifest.dependencies, devDependencies: manifest.devDependencies },
    'node_modules/edgechat': {
      version: packed.version,
      resolved: `file:${tarball}`,
      integrity: packed.integrity,
      dependencies: ours['']!.dependencies,
      bin: ours['']!.bin,
    },
  };
  const wanted = [...Object.keys(ours['']!.dependencies!), ...Object.keys(manifest.devDependencies)];
  for (let name = wanted.pop(); name !== undefined; name = wanted.pop()) {
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    const entry = ours[key];
    if (!entry) throw new Error(`${name} is not in the repository's lockfile`);
    packages[key] = { ...entry, dev: manifest.devDependencies[name] !== undefined ? true : undefined };
    wanted.push(...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}));
  }
  return { name: manifest.name, lockfileVersion: 3, requires: true, packages };
}

interface LockEntry {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean | undefined;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

describe('a production start of the repository', { timeout: 240_000 }, () => {
  it('needs no devDependency, and npm start passes SIGTERM on: members get 1001 and the server ends', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'edgechat-production-'));
    const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
    for (const file of tracked.split('\n').filter((file) => file && !file.startsWith('bench/profiles/'))) {
      cpSync(join(root, file), join(copy, file), { recursive: true });
    }
    npm(['ci', '--omit=dev', '--offline'], copy);
    expect(() => readFileSync(join(copy, 'node_modules/typescript/package.json'))).toThrow();
    const port = await freePort();
    const npmStart = spawn('npm', ['start'], {
      cwd: copy,
      env: { ...process.env, PATH, PORT: String(port), HOST: '127.0.0.1', STORAGE: 'memory' },
    });
    let output = '';
    npmStart.stdout.on('data', (data) => (output += data));
    npmStart.stderr.on('data', (data) => (output += data));
    const exited = new Promise<number | null>((resolve) => npmStart.on('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('"listening"')) {
        if (Date.now() > deadline) throw new Error(`npm start did not come up: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const member = await TestClient.join(`ws://127.0.0.1:${port}/ws/lobby`);
      npmStart.kill('SIGTERM'); // to npm, not to the server: npm must pass it on
      expect((await member.closed).code).toBe(1001);
      expect(await exited).toBe(0);
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      npmStart.kill('SIGKILL');
    }
  });
});
