import type { Static, TSchema } from '@sinclair/typebox';
import { utf8 } from '../protocol/encoding.js';
import { fromProblem, MimiError } from '../protocol/errors.js';
import { decodeRecord } from '../protocol/records.js';

/**
 * The part of fetch the SDK uses; an Oblivious HTTP transport is one (src/client/ohttp-transport.ts).
 *
 * @example
 * const dp = { baseUrl: 'https://dp1.example', id: 'dp1', fetch: ((url, init) => fetch(url, init)) satisfies FetchLike };
 */
export type FetchLike = (
  url: URL,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<Response>;

/**
 * How the SDK reaches a DP (or a verifier): its base URL and transport limits.
 *
 * @example
 * const dp: HttpOptions = { baseUrl: 'https://dp1.example', timeoutMs: 5000 };
 */
export interface HttpOptions {
  /** The DP's base URL, e.g. https://dp.example.net */
  baseUrl: string;
  timeoutMs?: number;
  /** Largest answer accepted, in bytes; a larger one is refused unread. */
  maxAnswerBytes?: number;
  /** How requests are sent (default: fetch). */
  fetch?: FetchLike;
}

/**
 * JSON over HTTP to a DP. Error answers become MimiErrors with the DP's code; success answers
 * are checked against `schema` before anyone sees them.
 */
export async function call<S extends TSchema>(
  opts: HttpOptions,
  method: 'GET' | 'POST',
  path: string,
  schema: S,
  body?: unknown,
  /** A bearer token, or a whole Authorization header value (a PrivateToken, RFC 9577). */
  token?: string | { authorization: string },
): Promise<Static<S>> {
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(new URL(path, opts.baseUrl), {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === undefined
          ? {}
          : { authorization: typeof token === 'string' ? `Bearer ${token}` : token.authorization }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
  } catch (err) {
    // A transport's own refusal (Oblivious HTTP: a key, a tampered answer) keeps its code.
    if (err instanceof MimiError) throw err;
    throw new MimiError('unreachable', `${opts.baseUrl} did not answer: ${(err as Error).message}`);
  }
  const limit = opts.maxAnswerBytes ?? 8 * 1024 * 1024;
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await res.body?.cancel();
    throw new MimiError('body-too-large', `the answer from ${opts.baseUrl} is larger than ${limit} bytes`);
  }
  const text = await res.text();
  if (utf8(text).length > limit) throw new MimiError('body-too-large', 'the answer is too large');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MimiError(
      'malformed-json',
      `${opts.baseUrl} answered something that is not JSON (HTTP ${res.status})`,
    );
  }
  if (!res.ok) throw fromProblem(json, res.status);
  return decodeRecord(schema, json, `answer to ${method} ${path}`);
}
