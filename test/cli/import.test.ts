import { existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportSummary } from '../../src/cli/import.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';
import { kill9 } from '../support/node-process.js';
import { runCli, runJson, spawnCli } from './run-cli.js';

/**
 * Bulk onboarding from the command line (issue 6): `holder export` writes signed submissions,
 * `import` loads them in batches as a child process against a running DP, reports rejects with
 * their line and code without stopping, and resumes after kill -9 with every good line accepted
 * exactly once.
 */
/**
 * Resolves once the import's progress file records `line` or more, read again at each change in
 * its folder (the file is renamed into place); or once the import has ended, which the caller sees.
 */
function progressPast(progressFile: string, line: number, run: ReturnType<typeof spawnCli>): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dirname(progressFile));
    const done = () => {
      watcher.close();
      resolve();
    };
    const check = () => {
      try {
        if ((JSON.parse(readFileSync(progressFile, 'utf8')) as { line: number }).line >= line) done();
      } catch {
        // not written yet, or being renamed into place
      }
    };
    watcher.on('change', check);
    void run.exited.then(done);
    check();
  });
}

describe('import: bulk onboarding as a child process', { timeout: 120_000 }, () => {
  let net: RunningDevnet;
  let work: string;

  beforeAll(async () => {
    net = await startDevnet();
    work = mkdtempSync(join(tmpdir(), 'mimi-import-'));
  });
  afterAll(async () => {
    await net?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const dir = () => net.layout.dir;
  const mappings = async () => (await net.ctx.store.stats()).mappings;
  const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
  /** `import --devnet <dir> --as <msp> --file <file> ...extra`. */
  const importArgs = (msp: string, file: string, ...extra: string[]) => [
    'import',
    '--devnet',
    dir(),
    '--as',
    msp,
    '--file',
    file,
    ...extra,
  ];

  async function exportFile(name: string, msp: string, count: number, first: string): Promise<string> {
    const file = join(work, name);
    // One possession proof per holder: 400 take well over runCli's default 30 s on a loaded machine.
    const r = await runJson<{ count: number; first: string }>(
      [
        'holder',
        'export',
        '--devnet',
        dir(),
        '--msp',
        msp,
        '--count',
        String(count),
        '--first',
        first,
        '--out',
        file,
      ],
      { timeoutMs: 90_000 },
    );
    expect(r.code).toBe(0);
    expect(r.doc.count).toBe(count);
    return file;
  }

  it('a file with bad lines in the middle: the others accepted, each reject reported with line and code', async () => {
    const file = await exportFile('mixed.ndjson', 'msp2', 30, '+1 415 201 0000');
    const good = lines(file);
    const tampered = JSON.parse(good[24]!);
    tampered.body.tag = 'business'; // the holder signed "Default" (R6)
    const content = [
      ...good.slice(0, 10),
      '{"body": {"v": 1, "csi": ', // line 11: not JSON
      ...good.slice(10, 20),
      '',
      '{"hello": "world"}', // line 23: JSON, not a submission
      ...good.slice(20, 24),
      JSON.stringify(tampered), // line 28
      ...good.slice(25),
    ];
    writeFileSync(file, `${content.join('\n')}\n`);
    const before = await mappings();

    const run = await runJson<ImportSummary>(importArgs('msp2', file, '--batch-size', '7'));
    // Every line processed, some rejected: exit 3 (0 only when nothing was rejected).
    expect(run.code).toBe(3);
    expect(run.doc).toMatchObject({
      lines: 32,
      accepted: 29,
      duplicates: 0,
      rejected: 3,
      resumedAfterLine: 0,
    });
    const expected = [
      { line: 11, code: 'malformed-json' },
      { line: 23, code: 'record-invalid' },
      { line: 28, code: 'holder-signature-invalid' },
    ];
    expect(run.doc.rejects.map((r) => ({ line: r.line, code: r.code }))).toEqual(expected);
    expect(lines(`${file}.rejects.ndjson`).map((l) => JSON.parse(l))).toEqual(
      run.doc.rejects.map((r) => ({ line: r.line, code: r.code, detail: r.detail })),
    );
    expect(await mappings()).toBe(before + 29);
    const served = await net.msp('msp3').lookup([JSON.parse(good[0]!).body.csi, tampered.body.csi]);
    expect(served.map((r) => r.status)).toEqual(['one', 'none']);

    // Text mode: the summary names the rejects; a finished import sends nothing again.
    const again = await runCli(importArgs('msp2', file));
    expect(again.code).toBe(3);
    expect(again.stdout).toMatch(/29 line|32 lines/);
    expect(again.stdout).toContain('0 sent');
    expect(again.stderr).toMatch(/import: 100% {2}line 33: 29 accepted, 0 already, 3 rejected/);

    // --restart sends everything again: resubmission is idempotent, nothing is stored twice.
    const restarted = await runJson<ImportSummary>(importArgs('msp2', file, '--restart'));
    expect(restarted.doc).toMatchObject({ accepted: 0, duplicates: 29, rejected: 3 });
    expect(lines(`${file}.rejects.ndjson`)).toHaveLength(3);
    expect(await mappings()).toBe(before + 29);
  });

  it('resumes after kill -9 mid-import: every good line accepted exactly once, counts right', async () => {
    const total = 400;
    const file = await exportFile('big.ndjson', 'msp1', total, '+1 415 202 0000');
    const before = await mappings();
    const progressFile = `${file}.progress.json`;
    const first = spawnCli(importArgs('msp1', file, '--batch-size', '5'));
    await progressPast(progressFile, 40, first);
    await kill9(first.child);
    const atKill = JSON.parse(readFileSync(progressFile, 'utf8')) as { line: number; done: boolean };
    expect(atKill.done).toBe(false);
    expect(atKill.line).toBeGreaterThan(0);
    expect(atKill.line).toBeLessThan(total);

    const second = await runJson<ImportSummary>(importArgs('msp1', file));
    expect(second.code).toBe(0);
    expect(second.doc.resumedAfterLine).toBe(atKill.line);
    expect(second.doc).toMatchObject({ lines: total, rejected: 0 });
    expect(second.doc.accepted + second.doc.duplicates).toBe(total);
    // Only the batch in flight at the kill can come back as already accepted.
    expect(second.doc.duplicates).toBeLessThanOrEqual(5);
    expect(second.doc.sent).toBe(total - atKill.line);
    expect(await mappings()).toBe(before + total);
    expect(readFileSync(`${file}.rejects.ndjson`, 'utf8')).toBe('');
    const csis = [0, 199, 399].map((i) => JSON.parse(lines(file)[i]!).body.csi);
    expect((await net.msp('msp3').lookup(csis)).map((r) => r.status)).toEqual(['one', 'one', 'one']);
  });

  it('validates its arguments with typed errors', async () => {
    const file = join(work, 'small.ndjson');
    writeFileSync(file, 'not json\n');
    const where = await runCli(['import', '--as', 'msp1', '--file', file]);
    expect(where.code).toBe(2);
    expect(where.stderr).toContain('error [usage]');
    const size = await runJson(importArgs('msp1', file, '--batch-size', '0'));
    expect([size.code, size.doc.code]).toEqual([1, 'invalid-argument']);
    const missing = await runJson(importArgs('msp1', join(work, 'nope')));
    expect([missing.code, missing.doc.code]).toEqual([1, 'file-not-found']);
    // The one line is rejected (exit 3); a progress file of an import as msp1 is not taken for msp2.
    expect((await runJson(importArgs('msp1', file))).code).toBe(3);
    const other = await runJson(importArgs('msp2', file));
    expect([other.code, other.doc.code]).toEqual([1, 'invalid-argument']);
    expect(existsSync(`${file}.progress.json`)).toBe(true);
  });
});
