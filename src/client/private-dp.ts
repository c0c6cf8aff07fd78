/**
 * A DP's private lookup endpoints as the client calls them (docs/spec/private-lookup.md): the
 * served epochs, one charged evaluation request, and buckets one by one or in batches. Answers
 * are schema-checked or size-bounded; a refusal keeps its wire code.
 */
import { PROOF_LENGTH } from '../crypto/oprf-suite.js';
import { fromB64u, toB64u } from '../protocol/encoding.js';
import { fromProblemBody, MimiError } from '../protocol/errors.js';
import { EpochsAnswer, EvaluateAnswer } from '../protocol/private.js';
import { call, type HttpOptions } from './http.js';

/** The DP's served epochs (GET /v1/private/epochs), schema-checked. */
export function fetchEpochs(dp: HttpOptions): Promise<EpochsAnswer> {
  return call(dp, 'GET', '/v1/private/epochs', EpochsAnswer);
}

/**
 * One charged evaluation request (POST /v1/private/evaluate); the evaluated elements and the
 * batch's proof, decoded. `auth`: a bearer token or a Privacy Pass Authorization value.
 */
export async function evaluateElements(
  dp: HttpOptions,
  epoch: number,
  blinded: readonly Uint8Array[],
  auth: string | { authorization: string } | undefined,
): Promise<{ evaluated: Uint8Array[]; proof: Uint8Array }> {
  const answer = await call(
    dp,
    'POST',
    '/v1/private/evaluate',
    EvaluateAnswer,
    { v: 1, epoch, elements: blinded.map((b) => toB64u(b)) },
    auth,
  );
  if (answer.epoch !== epoch) throw new MimiError('record-invalid', 'evaluated under another epoch');
  let proof: Uint8Array;
  try {
    proof = fromB64u(answer.proof, 'proof', PROOF_LENGTH);
  } catch {
    throw new MimiError('oprf-proof-invalid', `the proof is not ${PROOF_LENGTH} bytes of base64url`);
  }
  return { evaluated: answer.evaluated.map((e, i) => fromB64u(e, `evaluated[${i}]`)), proof };
}

/** One bucket (GET /v1/private/buckets/<epoch>/<bucket>), which HTTP caches can serve. */
export function fetchBucket(dp: HttpOptions, epoch: number, bucket: number): Promise<Uint8Array> {
  return fetchBinary(dp, `/v1/private/buckets/${epoch}/${bucket}`);
}

/** Buckets of one epoch in one batch (POST /v1/private/buckets), to be split with splitBuckets. */
export function fetchBuckets(dp: HttpOptions, epoch: number, buckets: number[]): Promise<Uint8Array> {
  // A batch holds up to maxBucketBatch buckets, so it may be that many answers long.
  return fetchBinary(dp, '/v1/private/buckets', { v: 1, epoch, buckets }, buckets.length);
}

async function fetchBinary(dp: HttpOptions, path: string, json?: unknown, buckets = 1): Promise<Uint8Array> {
  const { baseUrl, timeoutMs, maxAnswerBytes } = dp;
  let res: Response;
  try {
    res = await (dp.fetch ?? fetch)(new URL(path, baseUrl), {
      signal: AbortSignal.timeout(timeoutMs ?? 10_000),
      ...(json === undefined
        ? {}
        : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
    });
  } catch (err) {
    // A transport's own refusal (Oblivious HTTP: a key, a tampered answer) keeps its code.
    if (err instanceof MimiError) throw err;
    throw new MimiError('unreachable', `${baseUrl} did not answer: ${(err as Error).message}`);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > (maxAnswerBytes ?? 8 * 1024 * 1024) * buckets)
    throw new MimiError('body-too-large', 'bucket too large');
  if (!res.ok) {
    throw (
      fromProblemBody(body, res.status) ??
      new MimiError('malformed-json', `${baseUrl} answered HTTP ${res.status}`)
    );
  }
  return body;
}
