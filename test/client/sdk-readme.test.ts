import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpProcesses } from '../support/dp-processes.js';

/**
 * The README's SDK example, as an app developer runs it: `npm pack` of packages/client, the
 * tarball installed into an empty app from the npm registry, and the example (the code block
 * after the `sdk-example` marker in README.md, unchanged) run there with Node against a real node.
 * A change of the SDK's API edits the README only; this test reads whatever the example says.
 */
const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
// npm passes its own settings to scripts through npm_* variables (`npm test`); the commands below
// must act as a fresh shell would, on their own folders.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
);

/** The code block that follows the `<!-- sdk-example` marker in README.md. */
function readmeExample(readme: string): string {
  const marker = readme.indexOf('<!-- sdk-example');
  if (marker < 0) throw new Error('README.md has no sdk-example marker');
  const block = /```(?:ts|js)\n([\s\S]*?)\n```/.exec(readme.slice(marker));
  if (block === null) throw new Error('no code block after the sdk-example marker');
  return block[1]!;
}

describe('the README SDK example, from the packed @mimi-discovery/client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-sdk-app-'));
  let net: DpProcesses;

  beforeAll(async () => {
    const [, packed] = await Promise.all([
      DpProcesses.start(1).then((n) => {
        net = n;
      }),
      run('npm', ['pack', '--workspace', 'packages/client', '--pack-destination', dir, '--json'], {
        cwd: root,
        env,
        maxBuffer: 16 * 1024 * 1024,
      }),
    ]);
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', join(dir, filename)], { cwd: dir, env });
  }, 600_000);

  afterAll(async () => {
    await net?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs without a native module or the server', () => {
    const modules = join(dir, 'node_modules');
    for (const server of ['mimi-discovery', 'sodium-native', 'better-sqlite3', 'fastify', 'pg', 'ioredis']) {
      expect({ server, installed: existsSync(join(modules, server)) }).toEqual({ server, installed: false });
    }
  });

  it('verifies the answer to its lookup', async () => {
    const { layout } = net;
    const msp1 = layout.msps.find((m) => m.id === 'msp1')!;
    // What the example leaves to the app: where things are, and the user typing the code.
    const prelude = [
      `const dpUrl = ${JSON.stringify(layout.endpoint)};`,
      `const registryFile = ${JSON.stringify(join(layout.dir, 'registry.json'))};`,
      `const pinnedRegistryKey = ${JSON.stringify(layout.registryKey)};`,
      `const mspKeyFile = ${JSON.stringify(msp1.keyFile)};`,
      `const askTheUserForTheCode = async () => {
        const { readFileSync, existsSync } = await import('node:fs');
        const outbox = ${JSON.stringify(layout.outboxFile)};
        for (let i = 0; i < 200; i++) {
          const last = existsSync(outbox) ? readFileSync(outbox, 'utf8').trim().split('\\n').at(-1) : '';
          if (last) return JSON.parse(last).code;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error('no one-time code in the outbox');
      };`,
    ].join('\n');
    const example = readmeExample(readFileSync(join(root, 'README.md'), 'utf8'));
    writeFileSync(join(dir, 'example.mjs'), `${prelude}\n${example}\n`);
    const { stdout } = await run(process.execPath, ['example.mjs'], { cwd: dir, env });
    // The example prints the lookup's status and the SSIs of the mappings the SDK verified.
    expect(stdout.trim()).toMatch(/^one\b/);
    expect(stdout).toContain('mimi://chat.example/u/bob');
  });
});
