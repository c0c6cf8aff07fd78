import type { Static, TSchema } from '@sinclair/typebox';
import type { SigningKey } from '../crypto/keys.js';
import { type AnyErrorCode, fromProblem, MimiError, PeerErrorCode } from '../protocol/errors.js';
import { decodeRecord } from '../protocol/records.js';
import { signPeerRequest } from './http-signature.js';

export const PeerStatus = {
  Ok: 'ok',
  Timeout: 'timeout',
  Error: 'error',
  RateLimited: 'rate-limited',
  /** Skipped: its circuit breaker is open. */
  Unavailable: 'unavailable',
} as const;
export type PeerStatus = (typeof PeerStatus)[keyof typeof PeerStatus];

/** A DP-to-DP call that failed: the peer's own code, or why its answer never came or was refused. */
export class PeerCallError extends MimiError {
  constructor(
    /** What the fan-out reports for this peer. */
    readonly outcome: PeerStatus,
    code: AnyErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, undefined, options);
  }
}

/** Reads at most `limit` bytes of a body; a larger answer is cut off and refused. */
async function readCapped(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await res.body?.cancel();
    throw new PeerCallError(
      PeerStatus.Error,
      'body-too-large',
      `answer of ${declared} bytes is over the ${limit}-byte limit`,
    );
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new PeerCallError(PeerStatus.Error, 'body-too-large', `answer is over the ${limit}-byte limit`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * One signed DP-to-DP call (RFC 9421). Every way it can go wrong becomes a PeerCallError with
 * the status the fan-out reports: a peer's answer is never trusted, only checked.
 */
export async function callPeer<S extends TSchema>(
  endpoint: string,
  path: string,
  body: unknown,
  schema: S,
  opts: {
    self: { id: string; key: SigningKey };
    timeoutMs: number;
    maxAnswerBytes: number;
    /** The node's clock (seconds): the signature's `created`, checked by the peer on its own. */
    now: () => number;
  },
): Promise<Static<S>> {
  const url = new URL(path, endpoint).toString();
  const signed = await signPeerRequest({ method: 'POST', url, body: JSON.stringify(body) }, opts.self, {
    created: new Date(opts.now() * 1000),
  });
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: signed.headers,
      body: signed.body,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    const e = err as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      throw new PeerCallError(
        PeerStatus.Timeout,
        PeerErrorCode.Timeout,
        `no answer within ${opts.timeoutMs} ms`,
      );
    }
    throw new PeerCallError(PeerStatus.Error, 'unreachable', e.message);
  }
  let text: string;
  try {
    text = await readCapped(res, opts.maxAnswerBytes);
  } catch (err) {
    if (err instanceof PeerCallError) throw err;
    const e = err as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      throw new PeerCallError(
        PeerStatus.Timeout,
        PeerErrorCode.Timeout,
        `answer not complete within ${opts.timeoutMs} ms`,
      );
    }
    throw new PeerCallError(PeerStatus.Error, 'unreachable', e.message);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PeerCallError(
      PeerStatus.Error,
      'malformed-json',
      `HTTP ${res.status} with a body that is not JSON`,
    );
  }
  if (!res.ok) {
    const problem = fromProblem(json, res.status);
    const status = res.status === 429 ? PeerStatus.RateLimited : PeerStatus.Error;
    throw new PeerCallError(status, problem.code, problem.message, { cause: problem });
  }
  try {
    return decodeRecord(schema, json, 'peer answer');
  } catch (err) {
    const code = err instanceof MimiError ? err.code : 'record-invalid';
    throw new PeerCallError(PeerStatus.Error, code, (err as Error).message, { cause: err });
  }
}
