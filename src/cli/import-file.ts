import { appendFileSync, createReadStream, existsSync, statSync, truncateSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { BatchItemResult, MspAgent } from '../client/msp-agent.js';
import { MimiError } from '../protocol/errors.js';
import { decodeRecord, MappingSubmission } from '../protocol/records.js';
import { readJson, writeJson } from './args.js';
import { shown } from './devnet-holder.js';
import { CliError, CliErrorCode } from './io.js';

/**
 * Bulk onboarding (issue 6): an MSP loads a file of signed submissions (NDJSON, one submission
 * per line, the JSON POST /v1/mappings takes) into its DP in batches. Every line ends accepted,
 * already accepted (a resubmission), or rejected with its code; a reject never stops the run.
 * Resumable: after each acknowledged batch a progress file next to the input records how far
 * the DP acknowledged, and a rerun continues from there (the batch in flight at an interruption
 * is sent again, which is harmless: resubmission is idempotent).
 */

/** Exit code when every line was processed but some were rejected (0: none rejected). */
export const exitWithRejects = 3;

/** One rejected line, as the rejects file holds it. */
export interface ImportReject {
  line: number;
  code: string;
  detail: string;
}

/** The progress file: what the DP acknowledged so far, counts included, for a rerun to continue. */
interface Progress {
  v: 1;
  input: { path: string; size: number; mtimeMs: number };
  dp: string;
  as: string;
  /** Every line up to this one is done (acknowledged by the DP, or rejected here). */
  line: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Length of the rejects file when this was written: a rerun cuts what a lost batch appended. */
  rejectsBytes: number;
  done: boolean;
}

export interface ImportSummary {
  file: string;
  dp: string;
  as: string;
  /** Non-blank lines processed, over every run of this import. */
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** The line this run started after (0 on a fresh import). */
  resumedAfterLine: number;
  /** Lines this run sent and the DP acknowledged, and at what rate. */
  sent: number;
  seconds: number;
  perSecond: number;
  progressFile: string;
  rejectsFile: string;
  /** The rejects of this run (the first 100). */
  rejects: ImportReject[];
}

export interface ImportOptions {
  file: string;
  agent: MspAgent;
  dp: string;
  as: string;
  batchSize: number;
  /** Ignore (and replace) an earlier progress file. */
  restart?: boolean;
  /** Called after each acknowledged batch. */
  onProgress?: (p: { lines: number; bytes: number; totalBytes: number; summary: Progress }) => void;
  /** Waits between retries (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
}

/** Codes after which the same request may succeed later: the DP or its store is busy or down. */
function retryable(err: MimiError): boolean {
  return err.code === 'rate-limited' || err.status >= 500;
}

const maxAttempts = 6;

interface Pending {
  line: number;
  sub: MappingSubmission;
}

/** Parses one line into a submission, or the reject it is (never throws for bad input). */
function parseLine(text: string, line: number): Pending | ImportReject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, code: 'malformed-json', detail: 'the line is not valid JSON' };
  }
  try {
    return { line, sub: decodeRecord(MappingSubmission, value, 'submission') };
  } catch (err) {
    if (err instanceof MimiError) return { line, code: err.code, detail: err.message };
    throw err;
  }
}

export async function importFile(opts: ImportOptions): Promise<ImportSummary> {
  const file = resolve(opts.file);
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(file);
  } catch {
    throw new CliError(CliErrorCode.FileNotFound, `--file: no such file ${opts.file}`);
  }
  if (!stat.isFile()) throw new CliError(CliErrorCode.InvalidArgument, `--file: ${opts.file} is not a file`);
  const progressFile = `${file}.progress.json`;
  const rejectsFile = `${file}.rejects.ndjson`;
  const input = { path: file, size: stat.size, mtimeMs: stat.mtimeMs };
  const fresh: Progress = {
    v: 1,
    input,
    dp: opts.dp,
    as: opts.as,
    line: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    rejectsBytes: 0,
    done: false,
  };
  const progress = opts.restart || !existsSync(progressFile) ? fresh : earlier(progressFile, fresh);
  // A batch appended after the last progress write was not acknowledged: it is sent again.
  if (existsSync(rejectsFile)) truncateSync(rejectsFile, progress.rejectsBytes);
  else appendFileSync(rejectsFile, '');
  writeJson(progressFile, progress);

  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const resumedAfterLine = progress.line;
  const runRejects: ImportReject[] = [];
  const started = Date.now();
  let sent = 0;
  let bytes = 0;
  let batch: Pending[] = [];
  let localRejects: ImportReject[] = [];

  /** Sends `items`, splitting when the DP finds the request too large; retries what may pass later. */
  const send = async (items: Pending[]): Promise<Map<number, BatchItemResult>> => {
    const out = new Map<number, BatchItemResult>();
    let todo = items;
    for (let attempt = 1; todo.length > 0; attempt++) {
      let results: BatchItemResult[];
      try {
        results = await opts.agent.submitBatch(todo.map((p) => p.sub));
      } catch (err) {
        if (!(err instanceof MimiError)) throw err;
        if (err.code === 'batch-too-large' || err.code === 'body-too-large') {
          if (todo.length === 1) {
            out.set(todo[0]!.line, { status: 'rejected', error: err });
            return out;
          }
          const half = Math.ceil(todo.length / 2);
          for (const part of [todo.slice(0, half), todo.slice(half)]) {
            for (const [line, r] of await send(part)) out.set(line, r);
          }
          return out;
        }
        if (!retryable(err) || attempt >= maxAttempts) throw err;
        await sleep(backoff(err, attempt));
        continue;
      }
      const again: Pending[] = [];
      let wait = 0;
      results.forEach((r, i) => {
        const p = todo[i]!;
        if (r.status === 'rejected' && retryable(r.error) && attempt < maxAttempts) {
          again.push(p);
          wait = Math.max(wait, backoff(r.error, attempt));
        } else out.set(p.line, r);
      });
      todo = again;
      if (todo.length > 0) await sleep(wait);
    }
    return out;
  };

  /** Sends the batch, records its outcome, then (atomically) how far the import got. */
  const flush = async (uptoLine: number): Promise<void> => {
    const results = batch.length === 0 ? new Map<number, BatchItemResult>() : await send(batch);
    const rejects = [...localRejects];
    for (const [line, r] of results) {
      if (r.status === 'rejected') rejects.push({ line, code: r.error.code, detail: r.error.message });
      else if (r.status === 'duplicate') progress.duplicates++;
      else progress.accepted++;
    }
    sent += results.size;
    rejects.sort((a, b) => a.line - b.line);
    if (rejects.length > 0) {
      appendFileSync(rejectsFile, rejects.map((r) => `${JSON.stringify(r)}\n`).join(''));
      for (const r of rejects) if (runRejects.length < 100) runRejects.push(r);
    }
    progress.rejected += rejects.length;
    progress.rejectsBytes = statSync(rejectsFile).size;
    progress.line = uptoLine;
    writeJson(progressFile, progress);
    batch = [];
    localRejects = [];
    opts.onProgress?.({ lines: uptoLine, bytes, totalBytes: stat.size, summary: progress });
  };

  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  let lineNo = 0;
  for await (const text of lines) {
    lineNo++;
    bytes += Buffer.byteLength(text) + 1;
    if (lineNo <= progress.line || text.trim().length === 0) continue;
    const parsed = parseLine(text, lineNo);
    if ('sub' in parsed) batch.push(parsed);
    else localRejects.push(parsed);
    if (batch.length + localRejects.length >= opts.batchSize) await flush(lineNo);
  }
  await flush(Math.max(lineNo, progress.line));
  progress.done = true;
  writeJson(progressFile, progress);

  const seconds = (Date.now() - started) / 1000;
  return {
    file,
    dp: opts.dp,
    as: opts.as,
    lines: progress.accepted + progress.duplicates + progress.rejected,
    accepted: progress.accepted,
    duplicates: progress.duplicates,
    rejected: progress.rejected,
    resumedAfterLine,
    sent,
    seconds,
    perSecond: seconds > 0 ? Math.round(sent / seconds) : 0,
    progressFile,
    rejectsFile,
    rejects: runRejects,
  };
}

function backoff(err: MimiError, attempt: number): number {
  const after = err.extra?.retryAfter;
  if (typeof after === 'number' && after > 0) return Math.min(after * 1000, 30_000);
  return Math.min(250 * 2 ** attempt, 10_000);
}

/** The progress of an earlier run, when it belongs to this same input, DP and MSP. */
function earlier(progressFile: string, fresh: Progress): Progress {
  const p = readJson(progressFile, 'progress file') as Partial<Progress> | null;
  const hint = `to start over (every line sent again; accepted ones come back as duplicates), pass --restart`;
  if (
    p?.v !== 1 ||
    typeof p.line !== 'number' ||
    typeof p.rejectsBytes !== 'number' ||
    typeof p.accepted !== 'number' ||
    typeof p.duplicates !== 'number' ||
    typeof p.rejected !== 'number'
  ) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${shown(progressFile)} is not an import progress file`,
      hint,
    );
  }
  if (p.input?.size !== fresh.input.size || p.input.mtimeMs !== fresh.input.mtimeMs) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${shown(fresh.input.path)} changed since ${shown(progressFile)} was written`,
      hint,
    );
  }
  if (p.dp !== fresh.dp || p.as !== fresh.as) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${shown(progressFile)} records an import into ${p.dp} as ${p.as}, not ${fresh.dp} as ${fresh.as}`,
      hint,
    );
  }
  return { ...(p as Progress), done: false };
}

// ---- progress on stderr ---------------------------------------------------------------------

/**
 * A one-line bar on a terminal, plain lines every few seconds otherwise. Hand-written: it is one
 * `\r` redraw of a line, not worth a dependency.
 */
export function progressReporter(json: boolean): {
  update: (p: { lines: number; bytes: number; totalBytes: number; summary: Progress }) => void;
  end: () => void;
} {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let last = 0;
  let drawn = false;
  let finished = false;
  const describe = (p: { bytes: number; totalBytes: number; summary: Progress }) => {
    const s = p.summary;
    const pct = p.totalBytes === 0 ? 100 : Math.min(100, Math.floor((100 * p.bytes) / p.totalBytes));
    return {
      pct,
      text: `line ${s.line}: ${s.accepted} accepted, ${s.duplicates} already, ${s.rejected} rejected`,
    };
  };
  return {
    update(p) {
      const now = Date.now();
      if (tty) {
        if (now - last < 100 && p.bytes < p.totalBytes) return;
        const { pct, text } = describe(p);
        const width = 30;
        const fill = Math.round((width * pct) / 100);
        process.stderr.write(
          `\r[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${String(pct).padStart(3)}%  ${text}\x1b[K`,
        );
        drawn = true;
      } else if (!json && !finished && (now - last >= 5000 || p.bytes >= p.totalBytes)) {
        finished = p.bytes >= p.totalBytes;
        const { pct, text } = describe(p);
        process.stderr.write(`import: ${pct}%  ${text}  (${Math.round((now - started) / 1000)} s)\n`);
      } else return;
      last = now;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}
