import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The SDK package (packages/client, `@mimi-discovery/client`) is compiled from the import closure
 * of src/client/index.ts (and its verify worker's entry): it must stay light. This walks that
 * closure as tsc does and pins what may be in it: no server-side folder, no npm package that
 * packages/client/package.json does not declare (and none declared that the closure does not
 * use), no native module anywhere in the tree those packages install, and no use of Node.js
 * itself (a built-in module, the Buffer global) but in the files listed with why.
 */
const root = resolve(import.meta.dirname, '../..');
const entries = ['src/client/index.ts', 'src/client/verify-worker.ts'];
const serverSide = ['src/server', 'src/store', 'src/dp', 'src/federation', 'src/verifier', 'src/cli'];
const pkg = JSON.parse(readFileSync(join(root, 'packages/client/package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};

/** Every source file reachable from the entries, and every bare specifier with a file that imports it. */
function closure(): { files: string[]; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = entries.map((e) => join(root, e));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    // Static imports, re-exports, `import type`, import() and require() of a literal, and the
    // createRequire(import.meta.url)('name') that loads a CommonJS package (src/crypto/jcs.ts).
    const text = readFileSync(file, 'utf8');
    const specs = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
    for (const m of text.matchAll(/createRequire\([^)]*\)\(\s*['"]([^'"]+)['"]/g)) specs.push(m[1]!);
    for (const spec of specs) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        if (!existsSync(target)) throw new Error(`${relative(root, file)} imports ${spec}: no such file`);
        queue.push(target);
      } else {
        packages.set(spec, relative(root, file));
      }
    }
  }
  return { files: [...files].map((f) => relative(root, f)).sort(), packages };
}

const packageName = (spec: string) =>
  spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);

/** The directory npm installed `name` in, as Node would find it from `from`. */
function packageDir(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} is not installed (from ${from})`);
  }
}

// Packages whose job is to build or load a compiled addon.
const addonLoaders = [
  'node-gyp-build',
  'node-gyp',
  'prebuild-install',
  'bindings',
  'require-addon',
  'node-addon-api',
];

/** Why the package in `dir` is a native module, or undefined when it is not. */
function nativeReason(dir: string): string | undefined {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    gypfile?: boolean;
    scripts?: Record<string, string>;
    dependencies?: Record<string, string>;
  };
  if (manifest.gypfile === true || existsSync(join(dir, 'binding.gyp'))) return 'binding.gyp';
  if (existsSync(join(dir, 'prebuilds'))) return 'prebuilt addons';
  for (const s of ['preinstall', 'install', 'postinstall']) {
    if (manifest.scripts?.[s] !== undefined) return `${s} script`;
  }
  const loader = addonLoaders.find((l) => manifest.dependencies?.[l] !== undefined);
  if (loader !== undefined) return `depends on ${loader}`;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const entry of readdirSync(d)) {
      if (entry === 'node_modules') continue;
      const p = join(d, entry);
      if (entry.endsWith('.node')) return `compiled addon ${relative(dir, p)}`;
      if (statSync(p).isDirectory()) stack.push(p);
    }
  }
  return undefined;
}

/**
 * What in the closure reaches Node.js itself: an import of a built-in module (`node:*` or its bare
 * name), or the `Buffer` global, read off the syntax tree (so a comment or a string does not
 * count). Each such file is listed in `nodeOnly` with why; a browser build leaves those out or
 * gives them another implementation. The crypto provider's files are the one place crypto may be
 * Node's: src/crypto/provider-native.ts, which the server installs and the SDK never imports.
 */
function nodeUses(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const uses = new Set<string>();
  for (const spec of ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName)) {
    if (isBuiltin(spec)) uses.add(spec.startsWith('node:') ? spec : `node:${spec}`);
  }
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && node.text === 'Buffer') uses.add('Buffer');
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...uses].sort();
}

/**
 * The files of the closure that still reach Node, with what they use and why. Crypto and
 * compression are not among the reasons but for the Node provider: everything else of theirs (the
 * private entry's AES-GCM, HKDF and preset-dictionary deflate, OHTTP's response AEAD) goes through
 * the crypto provider (src/crypto/provider.ts) or a library that runs in both.
 */
const nodeOnly: Record<string, { uses: string[]; why: string }> = {
  'src/crypto/provider-node-hashes.ts': {
    uses: ['node:crypto'],
    why: "the provider the SDK picks in Node (provider-node.ts): node:crypto's hashes and randomness, a provider file",
  },
  'src/crypto/provider-node-ciphers.ts': {
    uses: ['node:crypto', 'node:zlib'],
    why: "the provider the SDK picks in Node (provider-node.ts): node:crypto's AES-GCM, node:zlib's deflate, a provider file",
  },
  'src/client/dns-lookup.ts': {
    uses: ['Buffer', 'node:dgram', 'node:dns', 'node:net'],
    why: 'lookupNativeDns speaks DNS over UDP and TCP, which a browser cannot',
  },
  'src/client/private-lookup.ts': {
    uses: ['node:os', 'node:timers/promises'],
    why: 'default verify parallelism (availableParallelism) and yielding to the event loop (setImmediate)',
  },
  'src/client/private-verify.ts': {
    uses: ['node:timers/promises', 'node:worker_threads'],
    why: 'verifyThreads: verification in worker threads',
  },
  'src/client/verify-worker.ts': { uses: ['node:worker_threads'], why: 'the worker thread itself' },
  'src/registry/source.ts': {
    uses: ['Buffer', 'node:fs/promises'],
    why: 'RegistrySource reads a registry from a file too',
  },
};
const providerFiles = [
  'src/crypto/provider.ts',
  'src/crypto/provider-current.ts',
  'src/crypto/provider-wasm.ts',
  'src/crypto/provider-args.ts',
];

describe('the SDK package is light (packages/client)', () => {
  const { files, packages } = closure();

  it('reaches no server-side folder', () => {
    const server = files.filter((f) => serverSide.some((s) => f.startsWith(`${s}/`)));
    expect(server).toEqual([]);
    expect(files.every((f) => /^src\/(client|protocol|crypto|registry|tlog)\//.test(f))).toBe(true);
  });

  it('reaches Node.js (node:* or Buffer) only in the files that say why, never in the portable provider', () => {
    const found = Object.fromEntries(
      files.map((f) => [f, nodeUses(f)] as const).filter(([, uses]) => uses.length > 0),
    );
    expect(found).toEqual(Object.fromEntries(Object.entries(nodeOnly).map(([f, { uses }]) => [f, uses])));
    for (const f of providerFiles) {
      expect(files).toContain(f);
      expect(nodeUses(f)).toEqual([]);
    }
    // The check is not vacuous: it sees the native provider's Buffer (and the Node provider's
    // node:crypto above), and that provider stays out of the SDK.
    expect(nodeUses('src/crypto/provider-native.ts')).toEqual(['Buffer']);
    expect(files).not.toContain('src/crypto/provider-native.ts');
  });

  it('declares exactly the npm packages it imports', () => {
    const used = new Set([...packages.keys()].filter((s) => !isBuiltin(s)).map(packageName));
    expect([...used].sort()).toEqual(Object.keys(pkg.dependencies).sort());
  });

  it('declares each at the range the server package uses', () => {
    const server = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const [name, range] of Object.entries(pkg.dependencies)) {
      expect({ name, range: server.dependencies[name] }).toEqual({ name, range });
    }
  });

  it('installs no native module, directly or through what its dependencies pull', () => {
    const seen = new Map<string, string | undefined>();
    const queue = Object.keys(pkg.dependencies).map((name) => ({
      name,
      from: join(root, 'packages/client'),
    }));
    while (queue.length > 0) {
      const { name, from } = queue.pop()!;
      const dir = packageDir(name, from);
      if (seen.has(dir)) continue;
      seen.set(dir, nativeReason(dir));
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      for (const dep of Object.keys(manifest.dependencies ?? {})) queue.push({ name: dep, from: dir });
    }
    const native = [...seen]
      .filter(([, why]) => why !== undefined)
      .map(([d, why]) => `${relative(root, d)}: ${why}`);
    expect(native).toEqual([]);
    // The walk is not vacuous: the same check finds the server's native modules.
    expect(nativeReason(packageDir('sodium-native', root))).toBeDefined();
    expect(nativeReason(packageDir('better-sqlite3', root))).toBeDefined();
  });
});
