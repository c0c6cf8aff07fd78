import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * The `mimi-discovery` package's exports, as an importer resolves them (Node's self-reference by
 * package name, over dist/ which the test set-up builds): the root is the SDK alone, the same as
 * `@mimi-discovery/client`, and the server is under `mimi-discovery/server`.
 */
const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

async function exportsOf(specifier: string): Promise<string[]> {
  const code = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: root });
  return JSON.parse(stdout) as string[];
}

describe('the package exports', () => {
  it('exports the SDK at the root, and nothing of the server', async () => {
    const sdk = await exportsOf('mimi-discovery');
    expect(sdk).toEqual(
      expect.arrayContaining(['HolderClient', 'MspAgent', 'Registry', 'verifyVerboseAnswer']),
    );
    expect(await exportsOf('mimi-discovery/client')).toEqual(sdk);
    for (const server of ['buildApp', 'createContext', 'SqliteStore', 'PostgresStore', 'DiscoveryProvider']) {
      expect(sdk).not.toContain(server);
    }
  });

  it('exports the server under mimi-discovery/server', async () => {
    expect(await exportsOf('mimi-discovery/server')).toEqual(
      expect.arrayContaining([
        'buildApp',
        'createContext',
        'SqliteStore',
        'DiscoveryProvider',
        'nativeCrypto',
      ]),
    );
  });
});
