#!/usr/bin/env node
/**
 * The build, as `npm run build` runs it: tsc compiles src/ to dist/ (the SDK and server exports,
 * with their types), then the command line is bundled into dist/bin/ (issue 17, point 8:
 * `--help` and `verify` start in under 0.25 s). Also run by the tests and benches that start the
 * built CLI (test/support/build-cli.ts, bench/lib/server.ts), so that they run what users run.
 *
 * Why a bundle: tsc's dist/ has one file per module, and Node's loader pays for each. `verify`
 * loaded 378 files (219 of them TypeBox's, 96 libphonenumber's) and spent most of its 0.23 s
 * resolving and compiling them. One bundle, split at the CLI's dynamic imports so that each
 * command still loads only its own code, starts `verify` in about 0.14 s.
 *
 * Bundled: the pure-JavaScript packages the SDK and the light commands use (the SDK package's
 * dependencies, and commander). Left to node_modules: everything else, so native bindings
 * (better-sqlite3, sodium-native) and the server's packages load from where npm put them, and a
 * new server dependency stays outside by default. libsodium's WebAssembly build stays outside
 * too: two megabytes that only the SDK's portable provider loads, and no command does.
 *
 * The verify worker is an entry of its own, beside the chunks, where src/client/private-verify.ts
 * looks for it (next to the module that starts it). The metafile (dist/bin/meta.json) names the
 * sources in every output file: test/cli/start.test.ts reads it to check what a command loads.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { build as bundle } from 'esbuild';

const root = resolve(import.meta.dirname, '..');

/** Compiles, then bundles. */
async function build() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

  const json = (file) => JSON.parse(readFileSync(join(root, file), 'utf8'));
  const bundled = new Set([...Object.keys(json('packages/client/package.json').dependencies), 'commander']);
  bundled.delete('libsodium-wrappers-sumo');
  const out = join(root, 'dist/bin');
  rmSync(out, { recursive: true, force: true });
  const result = await bundle({
    absWorkingDir: root,
    entryPoints: { 'mimi-discovery': 'src/cli/main.ts', 'verify-worker': 'src/client/verify-worker.ts' },
    outdir: out,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: Object.keys(json('package.json').dependencies).filter((p) => !bundled.has(p)),
    chunkNames: 'chunk-[hash]',
    // Bundled CommonJS packages (commander, libphonenumber-js) call require() for Node's
    // modules; an ES module has no require of its own.
    banner: {
      js: "import { createRequire as __cliRequire } from 'node:module';\nconst require = __cliRequire(import.meta.url);",
    },
    metafile: true,
    logLevel: 'warning',
  });
  writeFileSync(join(out, 'meta.json'), JSON.stringify(result.metafile));
}

await build();
