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
 * use), and no native module anywhere in the tree those packages install.
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

describe('the SDK package is light (packages/client)', () => {
  const { files, packages } = closure();

  it('reaches no server-side folder', () => {
    const server = files.filter((f) => serverSide.some((s) => f.startsWith(`${s}/`)));
    expect(server).toEqual([]);
    expect(files.every((f) => /^src\/(client|protocol|crypto|registry|tlog)\//.test(f))).toBe(true);
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
