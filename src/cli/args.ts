import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyPair } from '../crypto/keys.js';
import { keyPairFromJwk } from '../crypto/keys.js';
import { fromB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { CliError, CliErrorCode } from './io.js';

/** Argument checks shared by the commands: each failure is a typed error naming the option. */

/** R8: any spelling of a phone number or email address, to its canonical CSI. */
export function csiArg(input: string, what = 'CSI'): string {
  try {
    return parseCsi(input).uri;
  } catch (err) {
    if (err instanceof MimiError) throw new MimiError(err.code, `${what} "${input}": ${err.message}`);
    throw err;
  }
}

const participantId = /^[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?$/;

export function idArg(input: string, option: string): string {
  if (!participantId.test(input)) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${option} "${input}" is not a participant id (lower-case letters, digits, "." and "-", 1 to 64)`,
    );
  }
  return input;
}

/** A mapping id: SHA-256, base64url, 43 characters. */
export function mappingIdArg(input: string, option: string): string {
  if (!/^[A-Za-z0-9_-]{43}$/.test(input)) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${option} "${input}" is not a mapping id (43 base64url characters)`,
    );
  }
  return input;
}

export function intArg(input: string, option: string, min: number, max: number): number {
  if (!/^-?[0-9]+$/.test(input.trim())) {
    throw new CliError(CliErrorCode.InvalidArgument, `${option} must be a whole number, got "${input}"`);
  }
  const n = Number(input);
  if (n < min || n > max) {
    throw new CliError(CliErrorCode.InvalidArgument, `${option} must be between ${min} and ${max}, got ${n}`);
  }
  return n;
}

/** "a,b, c" to ["a", "b", "c"]; empty items are an error. */
export function listArg(input: string, option: string): string[] {
  const items = input.split(',').map((s) => s.trim());
  if (items.some((s) => s.length === 0)) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${option} is a comma-separated list without empty items`,
    );
  }
  return items;
}

/** An Ed25519 public key, base64url of 32 bytes. */
export function publicKeyArg(input: string, option: string): string {
  try {
    fromB64u(input, option, 32);
  } catch {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${option} is not an Ed25519 public key (43 base64url characters)`,
    );
  }
  return input;
}

/**
 * A public key given inline, or read from a JWK file (private or public). Used where a person
 * may have either at hand: `--registry-key`, `--public-key`/`--key-file`.
 */
export function publicKeyOrFileArg(input: string, option: string): string {
  if (/^[A-Za-z0-9_-]{43}$/.test(input) && !existsSync(input)) return publicKeyArg(input, option);
  if (!existsSync(input)) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${option} "${input}" is neither an Ed25519 public key (43 base64url characters) nor a JWK file`,
    );
  }
  const jwk = readJson(input, option) as { kty?: unknown; crv?: unknown; x?: unknown } | null;
  if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new CliError(CliErrorCode.InvalidArgument, `${option}: ${input} is not an Ed25519 JWK`);
  }
  return publicKeyArg(jwk.x, `${option} (${input})`);
}

export function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(CliErrorCode.FileNotFound, `${what}: no such file ${file}`);
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${what}: cannot read ${file}: ${(err as Error).message}`,
    );
  }
}

export function readJson(file: string, what: string): unknown {
  const text = readText(file, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new MimiError('malformed-json', `${what}: ${file} is not valid JSON`);
  }
}

export function readKeyFile(file: string, what: string): KeyPair {
  return keyPairFromJwk(readJson(file, what), `${what} (${file})`);
}

/** Writes JSON, creating folders; `exclusive` refuses to replace a file that exists. */
export function writeJson(
  file: string,
  value: unknown,
  opts: { mode?: number; exclusive?: boolean; what?: string } = {},
): void {
  mkdirSync(dirname(file), { recursive: true });
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (opts.exclusive) {
    try {
      writeFileSync(file, text, { mode: opts.mode ?? 0o644, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new CliError(
          CliErrorCode.FileExists,
          `${opts.what ?? 'output'}: ${file} exists already`,
          'choose another file, or pass --force to replace it',
        );
      }
      throw err;
    }
    return;
  }
  // Write then rename, so a reader never sees half a file and a key never lands world-readable.
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: opts.mode ?? 0o644 });
  if (opts.mode !== undefined) chmodSync(tmp, opts.mode);
  renameSync(tmp, file);
}

/** An http(s) URL argument, without a trailing slash. */
export function urlArg(input: string, option: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CliError(CliErrorCode.InvalidArgument, `${option} "${input}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(CliErrorCode.InvalidArgument, `${option} must be an http(s) URL`);
  }
  return input.replace(/\/$/, '');
}
