/**
 * Forked by bench/lib/prepare.ts: signs one slice of the fixtures and writes it to a file, one
 * JSON per line: accepted mapping rows (`preload`, which the parent inserts; row i has log index i) or signed
 * submissions (`submissions`, for the acceptance run). Only the parent writes to SQLite.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { acceptedRow, devnetSigners, signedSubmission } from './fixtures.js';

export interface PrepareJob {
  kind: 'preload' | 'submissions';
  dir: string;
  /** The JSONL output file. */
  path: string;
  from: number;
  to: number;
  now: number;
}

async function run(job: PrepareJob): Promise<void> {
  const signers = devnetSigners(job.dir);
  const out = openSync(job.path, 'w');
  try {
    let lines: string[] = [];
    for (let i = job.from; i < job.to; i++) {
      const sub = signedSubmission(signers, i, job.now);
      lines.push(JSON.stringify(job.kind === 'submissions' ? sub : acceptedRow(signers, sub, job.now, i)));
      if (lines.length === 1000 || i === job.to - 1) {
        writeSync(out, `${lines.join('\n')}\n`);
        lines = [];
        process.send?.({ progress: i + 1 - job.from });
      }
    }
  } finally {
    closeSync(out);
  }
}

// The job comes in argv: an IPC message could arrive before this module (loaded through tsx) listens.
const job = JSON.parse(process.argv[2] ?? '{}') as PrepareJob;
run(job).then(
  () => process.send?.({ ok: true }, () => process.exit(0)),
  (err: Error) => process.send?.({ ok: false, error: err.stack ?? err.message }, () => process.exit(1)),
);
