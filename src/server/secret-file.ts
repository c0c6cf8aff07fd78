import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';

/**
 * Reads a secret of 32 random bytes (base64url) from `path`, creating it on first use. Creation
 * is atomic (write aside, then link into place), so nodes starting together never read a
 * half-written file, and the first one to create it wins.
 */
export function readOrCreateSecretFile(path: string): Buffer {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
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
  if (secret.length < 32) throw new Error('it must hold 32 random bytes, base64url');
  return secret;
}
