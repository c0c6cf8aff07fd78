import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The newest modification time under `dir` (files, and folders: a deleted file changes its folder's), in ms. */
function newest(dir: string): number {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Vitest global setup: builds dist/ as `npm run build` does (tools/build.mjs: tsc, then the
 * bundled command line in dist/bin/), so the tests that run the CLI as a child process start what
 * users run rather than compiling TypeScript in every child. Skipped
 * when dist was built after the last change to src and the compiler settings: a run of a few
 * test files then starts in a second instead of waiting for tsc.
 */
export default function setup(): void {
  const root = resolve(import.meta.dirname, '../..');
  const stamp = join(root, 'dist', '.built');
  const inputs = Math.max(
    newest(join(root, 'src')),
    ...['tsconfig.json', 'tsconfig.build.json', 'package.json', 'tools/build.mjs'].map(
      (f) => statSync(join(root, f)).mtimeMs,
    ),
  );
  let built = 0;
  try {
    built = statSync(stamp).mtimeMs;
  } catch {
    // never built here
  }
  if (built > inputs) return;
  execFileSync(process.execPath, [join(root, 'tools/build.mjs')], { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
