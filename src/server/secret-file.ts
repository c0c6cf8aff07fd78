import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { MimiError } from '../protocol/errors.js';
import type { LoadedConfig } from './config.js';

/**
 * Reads a secret of 32 random bytes (base64url) from `path`, creating it on first use. Creation
 * is atomic (written aside, then linked into place), so nodes starting together never read a
 * half-written file and the first to create it wins. Errors name the `setting`.
 */
export function readOrCreateSecretFile(path: string, setting: string): Buffer {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    try {
      writeFileSync(aside, randomBytes(32).toString('base64url'), { mode: 0o600 });
      linkSync(aside, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      try {
        unlinkSync(aside);
      } catch {
        // already gone
      }
    }
    const secret = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url');
    if (secret.length !== 32)
      throw new MimiError('config-invalid', 'it must hold 32 random bytes, base64url');
    return secret;
  } catch (err) {
    const message = `${setting}: ${path}: ${(err as Error).message}`;
    throw new MimiError('config-invalid', message, { setting }, { cause: err });
  }
}

/**
 * The default place of a node secret: beside the DP key (its records key, with keys per usage)
 * and named after it, so DPs sharing a key folder each have their own.
 */
export function besideDpKey(loaded: LoadedConfig, suffix: string): string {
  const { dp } = loaded.config;
  return loaded.path(dp.keyFiles?.records ?? dp.keyFile!).replace(/(\.jwk)?$/, `.${suffix}`);
}
