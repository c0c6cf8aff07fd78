import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { acceptedRow, devnetSigners, signedSubmission } from '../../bench/lib/fixtures.js';
import { writeDevnet } from '../../src/cli/devnet-files.js';

/**
 * Start-up loads what the command needs and nothing else: `--help` only commander and the
 * command definitions, `verify` no server, store or network client, and no libsodium
 * WebAssembly build (the CLI installs the native provider first: src/cli/commands.ts). Checked by
 * what node loads of the bundled command line users run (dist/bin/, tools/build.mjs: a module
 * hook logs every URL, and the bundle's metafile names the sources in each file), not by a clock.
 */
const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'dist/bin');
const main = join(bin, 'mimi-discovery.js');

describe('CLI start-up loads only what the command needs', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-cli-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const meta = JSON.parse(readFileSync(join(bin, 'meta.json'), 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, unknown> }>;
  };
  const packageOf = (path: string) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];

  /**
   * What `node dist/bin/mimi-discovery.js <args>` loads: the src/ modules in the bundle's files it
   * loaded (as `cli/verify.js`, the module's path in dist/), and the packages, bundled or not.
   */
  function loaded(
    args: string[],
  ): Promise<{ code: number; stdout: string; dist: string[]; packages: string[] }> {
    const log = join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      "import { appendFileSync } from 'node:fs';\n" +
        'export async function load(url, context, next) {\n' +
        "  appendFileSync(process.env.MIMI_TEST_LOADED_LOG, url + '\\n');\n" +
        '  return next(url, context);\n' +
        '}\n',
    );
    const register = `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
    return new Promise((done) => {
      execFile(
        process.execPath,
        ['--import', `data:text/javascript,${encodeURIComponent(register)}`, main, ...args],
        { cwd: root, env: { ...process.env, MIMI_TEST_LOADED_LOG: log } },
        (err, stdout) => {
          const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
          const binUrl = pathToFileURL(bin).href;
          const inputs = urls
            .filter((u) => u.startsWith(`${binUrl}/`))
            .flatMap((u) =>
              Object.keys(meta.outputs[`dist/bin/${u.slice(binUrl.length + 1)}`]?.inputs ?? {}),
            );
          const dist = inputs
            .filter((f) => f.startsWith('src/'))
            .map((f) => f.slice(4).replace(/\.ts$/, '.js'));
          const packages = [...new Set([...urls, ...inputs].map(packageOf).filter((p) => p !== undefined))];
          done({ code: err === null ? 0 : Number(err.code), stdout, dist, packages });
        },
      );
    });
  }

  it('--help loads commander and the command definitions only', async () => {
    const run = await loaded(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('verify');
    expect(run.packages).toEqual(['commander']);
    expect(run.dist.sort()).toEqual(['cli/commands.js', 'cli/io.js', 'cli/main.js', 'protocol/errors.js']);
  });

  it('verify loads no server, store or network client, and no WebAssembly', async () => {
    const net = join(dir, 'net');
    writeDevnet(net, { port: 1 });
    // A fully signed mapping, so that every signature check runs (the bench's, bench/cli-start.ts).
    const signers = devnetSigners(net);
    const now = Math.floor(Date.now() / 1000);
    const file = join(dir, 'mapping.json');
    writeFileSync(file, acceptedRow(signers, signedSubmission(signers, 0, now), now).json);
    const run = await loaded(['verify', file, '--devnet', net]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ok {2}mapping /);
    expect(run.dist).toContain('cli/verify.js');
    expect(run.dist.filter((f) => /^(server|store|client|dp|federation|tlog)\//.test(f))).toEqual([]);
    for (const p of ['fastify', 'pg', 'ioredis', 'better-sqlite3', 'pino', 'undici'])
      expect(run.packages).not.toContain(p);
    // libsodium's native binding checks the signatures; its WebAssembly build is never loaded,
    // nor what only making a devnet needs (OHTTP keys, Privacy Pass token keys).
    expect(run.packages).toContain('sodium-native');
    expect(run.dist).not.toContain('crypto/provider-wasm.js');
    for (const p of ['libsodium-wrappers-sumo', 'libsodium-sumo', '@hpke/core', '@cloudflare/privacypass-ts'])
      expect(run.packages).not.toContain(p);
  });

  it('lookup without --private loads neither the OPRF client (WebAssembly) nor Privacy Pass, OHTTP', async () => {
    // The devnet lists its DP at port 1: the lookup loads what it needs, then fails to connect.
    const net = join(dir, 'net-lookup');
    writeDevnet(net, { port: 1 });
    const run = await loaded(['lookup', '--devnet', net, '--as', 'msp1', '+12125550100', '--json']);
    expect(run.code).toBe(1);
    expect((JSON.parse(run.stdout) as { code: string }).code).toBe('unreachable');
    expect(run.dist).toContain('cli/lookup.js');
    expect(run.dist).not.toContain('cli/lookup-private.js');
    expect(run.packages).toContain('sodium-native');
    for (const p of ['libsodium-wrappers-sumo', 'libsodium-sumo', '@hpke/core', '@cloudflare/privacypass-ts'])
      expect(run.packages).not.toContain(p);
  });
});
