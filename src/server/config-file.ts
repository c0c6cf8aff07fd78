import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Static, TSchema } from '@sinclair/typebox';
import { MimiError } from '../protocol/errors.js';
import { decodeRecord } from '../protocol/records.js';

/**
 * Reading a JSON config file, one way for the node (config.ts), the relay and the token issuer:
 * an unreadable file or a setting that fails its schema is `config-invalid`, naming the file.
 */
export function readConfigJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MimiError('config-invalid', `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

export function decodeConfig<S extends TSchema>(
  schema: S,
  raw: unknown,
  file: string,
  what: string,
): Static<S> {
  try {
    return decodeRecord(schema, raw, what);
  } catch (err) {
    throw new MimiError('config-invalid', `${file}: ${(err as Error).message}`);
  }
}

/**
 * Paths in a config are relative to its file's folder; absolute paths, URLs and SQLite's special
 * names (`:memory:`, `:temp:`) stay as written.
 */
export function pathsRelativeTo(baseDir: string): (p: string) => string {
  return (p) => (isAbsolute(p) || p.startsWith(':') || /^https?:\/\//.test(p) ? p : resolve(baseDir, p));
}

export function folderOf(file: string): string {
  return dirname(resolve(file));
}
