import {
  CliErrorCode,
  type ErrorCode,
  MimiError,
  problemDocument,
  problemTypeBase,
} from '../protocol/errors.js';

/**
 * Output and errors for every command. Text goes to stdout for people; with --json a command
 * prints exactly one JSON document on stdout instead. Errors print `error [<code>]: <message>` on
 * stderr (or a problem document on stdout with --json); this file is the CLI's one translation of
 * an error into its message and exit code, and only main.ts hands that code to the process.
 */
export { CliErrorCode };

/** A command line that cannot run as given, or a step of it that failed; `hint` says what to do next. */
export class CliError extends MimiError {
  declare readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, hint?: string, options?: ErrorOptions) {
    super(code, message, hint === undefined ? undefined : { hint }, options);
  }

  /** One line telling a person what to do next. */
  get hint(): string | undefined {
    return this.extra?.hint as string | undefined;
  }
}

/** What a command hands back: its JSON document, its text for people, and its exit code. */
export interface CommandResult {
  doc: unknown;
  text: string;
  exitCode?: number;
}

/** Progress for people while a long command runs (silent with --json). */
export interface Io {
  readonly json: boolean;
  say(text?: string): void;
}

export function ioOf(opts: { json?: boolean }): Io {
  const json = opts.json === true;
  return {
    json,
    say(text = '') {
      if (!json) process.stdout.write(`${text}\n`);
    },
  };
}

export function emit(json: boolean, result: CommandResult): void {
  if (json) process.stdout.write(`${JSON.stringify(result.doc, null, 2)}\n`);
  else if (result.text.length > 0) process.stdout.write(`${result.text}\n`);
  if (result.exitCode !== undefined && result.exitCode !== 0) process.exitCode = result.exitCode;
}

/** Next steps for the errors a newcomer meets most; keyed by code. */
const hints: Partial<Record<ErrorCode, string>> = {
  unreachable: 'is the node running? Start a local one with: mimi-discovery devnet --dir .devnet',
  'rate-limited':
    'the devnet allows 5 challenges per identifier per hour; try another number or a fresh devnet',
  'invalid-phone': 'write phone numbers in international form, e.g. "+1 415 555 0101"',
  'default-tag-taken': 'give another --tag, or replace the Default mapping with --supersedes <id>',
  'holder-key-unknown': 'this holder has published nothing on this DP yet (holder publish or holder opt-out)',
  'registry-signature-invalid': 'check --registry-key: it must be the key that signed this registry',
  'attestation-expired':
    'prove possession again (holder prove --csi <csi>): the monitor needs a current proof',
};

export interface RenderedError {
  code: string;
  message: string;
  hint: string | undefined;
  exitCode: number;
  problem: Record<string, unknown>;
}

export function renderError(err: unknown): RenderedError {
  if (err instanceof MimiError) {
    const hint = typeof err.extra?.hint === 'string' ? err.extra.hint : hints[err.code as ErrorCode];
    return {
      code: err.code,
      message: err.message,
      hint,
      exitCode: err.code === CliErrorCode.Usage ? 2 : 1,
      problem: { ...problemDocument(err), ...(hint === undefined ? {} : { hint }) },
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    code: 'internal',
    message,
    hint: undefined,
    exitCode: 1,
    problem: { type: `${problemTypeBase}internal`, title: 'internal', detail: message, code: 'internal' },
  };
}

export function printError(err: unknown, json: boolean): number {
  const r = renderError(err);
  if (json) {
    process.stdout.write(`${JSON.stringify(r.problem, null, 2)}\n`);
  } else {
    process.stderr.write(`error [${r.code}]: ${r.message}\n`);
    if (r.hint !== undefined) process.stderr.write(`hint: ${r.hint}\n`);
  }
  return r.exitCode;
}

/** Aligned `label  value` lines. */
export function table(rows: readonly (readonly [string, string])[], indent = '  '): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join('\n');
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
