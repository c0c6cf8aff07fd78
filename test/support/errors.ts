import { MimiError } from '../../src/protocol/errors.js';

/**
 * What `fn` throws, as tests assert it: a MimiError's code, `TypeError` for API misuse, `other`
 * for anything else, `none` if it returns. Tests assert codes, never messages.
 */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof MimiError) return err.code;
    return err instanceof TypeError ? 'TypeError' : 'other';
  }
  return 'none';
}
