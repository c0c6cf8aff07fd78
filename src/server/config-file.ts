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

/**
 * A setting that fails its check: config-invalid, its name in `extra.setting` as the operator
 * writes it (`store.url`, `residency.regions[0].id`), as config-env-missing names its own.
 */
export function invalidSetting(setting: string | undefined, message: string, cause?: unknown): MimiError {
  return new MimiError(
    'config-invalid',
    message,
    setting === undefined || setting === '' ? undefined : { setting },
    cause === undefined ? undefined : { cause },
  );
}

/** A JSON pointer into the config (`/residency/regions/0/id`) as a setting's name. */
function settingAt(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .filter((p) => p !== '')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((name, p) => (/^\d+$/.test(p) ? `${name}[${p}]` : name === '' ? p : `${name}.${p}`), '');
}

/** The config's `schema` at `pointer` decoded, or config-invalid naming the setting that fails. */
export function decodeSetting<S extends TSchema>(
  schema: S,
  value: unknown,
  pointer: string,
  where: string,
): Static<S> {
  try {
    return decodeRecord(schema, value, `config${pointer}`);
  } catch (err) {
    const inner = err instanceof MimiError && typeof err.extra?.pointer === 'string' ? err.extra.pointer : '';
    throw invalidSetting(settingAt(pointer + inner), `${where}: ${(err as Error).message}`, err);
  }
}

/** A whole config file (`file`) against its schema: config-invalid naming the file and the setting. */
export function decodeConfig<S extends TSchema>(schema: S, raw: unknown, file: string): Static<S> {
  return decodeSetting(schema, raw, '', file);
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
