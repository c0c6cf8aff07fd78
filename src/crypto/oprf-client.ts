/**
 * RFC 9497 OPRF client, suite ristretto255-SHA512, mode VOPRF (0x01), on
 * @noble/curves (pure JS, so it runs in browsers and needs no async init).
 *
 * Flow: `blind` -> send blindedElement -> server BlindEvaluate (elements and proof) ->
 * `finalize`, which verifies the proof against the server's public key first.
 */

import { pippenger } from '@noble/curves/abstract/curve.js';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { MimiError } from '../protocol/errors.js';
import { OprfError } from './oprf-errors.js';
import { type BlindResult, blindBatchWith, type FinalizeGroup, finalizeBatchWith } from './oprf-finalize.js';
import type { ProofGroup } from './oprf-proof.js';
import {
  checkElementFraming,
  checkInput,
  decodeScalar,
  hashToGroupUniform,
  type RandomSource,
  randomScalar,
  SCALAR_LENGTH,
} from './oprf-suite.js';

export type { BlindResult } from './oprf-finalize.js';

const Point = ristretto255.Point;
type RistrettoPoint = InstanceType<typeof Point>;

function deriveToCurve(uniform: Uint8Array): RistrettoPoint {
  const derive = ristretto255_hasher.deriveToCurve;
  // A fault of the installation (an older @noble/curves), not of any input.
  if (derive === undefined)
    throw new MimiError('internal', '@noble/curves ristretto255_hasher lacks deriveToCurve');
  return derive(uniform);
}

/**
 * RFC 9497 §4.1 HashToGroup: expand_message_xmd then the RFC 9496 §4.3.4 one-way map.
 * RFC 9497 §3.3.1: an input that maps to the identity raises InvalidInputError.
 */
function hashToGroup(input: Uint8Array): RistrettoPoint {
  const point = deriveToCurve(hashToGroupUniform(input));
  if (point.is0()) throw new OprfError('oprf-invalid-input', 'input hashes to the identity element');
  return point;
}

/**
 * RFC 9497 §2.1 DeserializeElement: RFC 9496 §4.3.1 decoding (rejects non-canonical
 * and off-curve encodings) plus rejection of the identity element.
 */
function deserializeElement(bytes: unknown, index?: number): RistrettoPoint {
  checkElementFraming(bytes, index);
  let point: RistrettoPoint;
  try {
    point = Point.fromBytes(bytes);
  } catch {
    throw new OprfError('oprf-invalid-element', 'not a valid ristretto255 encoding', index);
  }
  if (point.is0()) throw new OprfError('oprf-identity-element', 'identity element rejected', index);
  return point;
}

/**
 * RFC 9497 §3.3.1 Blind: r = RandomScalar(), blindedElement = r * HashToGroup(input).
 *
 * @param input - PRF input, at most 65535 bytes
 * @param rng - random source for r (inject a vector's Blind to reproduce it)
 * @returns the secret blind and the element to send
 * @throws TypeError on misuse; OprfError 'oprf-invalid-input' for an oversize input or one hashing to the identity
 */
export function blind(input: Uint8Array, rng?: RandomSource): BlindResult {
  checkInput(input);
  const inputElement = hashToGroup(input);
  const r = randomScalar(rng);
  const blindedElement = inputElement.multiply(decodeScalar(r, 'blind')).toBytes();
  return { blind: r, blindedElement };
}

/**
 * {@link blind} over several inputs, in order, drawing each blind from `rng`.
 *
 * @param inputs - PRF inputs
 * @param rng - random source
 * @returns one BlindResult per input
 * @throws as {@link blind}; OprfError errors carry the input's `index`
 */
export function blindBatch(inputs: readonly Uint8Array[], rng?: RandomSource): BlindResult[] {
  return blindBatchWith(blind, inputs, rng);
}

/** Finalize's group arithmetic on @noble/curves: scalars as bigints, elements as points. */
const nobleGroup: FinalizeGroup<bigint, RistrettoPoint> = {
  scalar: (_bytes, value) => value,
  element: deserializeElement,
  mul: (a, b) => Point.Fn.mul(a, b),
  invert: (a) => Point.Fn.inv(a),
  unblind: (inverse, element) => element.multiply(inverse).toBytes(),
};

function scalarOf(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = SCALAR_LENGTH - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/**
 * RFC 9497 §2.2 proof arithmetic on @noble/curves. Every scalar here is public (proof scalars,
 * composite weights), so the variable-time multiplyUnsafe is fine, and it takes a zero scalar.
 */
const nobleProofGroup: ProofGroup<bigint, RistrettoPoint> = {
  scalar: scalarOf,
  reduce: (uniform) =>
    Point.Fn.create(scalarOf(uniform.subarray(0, 32)) + (scalarOf(uniform.subarray(32)) << 256n)),
  scalarBytes: (s) => Point.Fn.toBytes(s),
  mul: (a, b) => Point.Fn.mul(a, b),
  sub: (a, b) => Point.Fn.sub(a, b),
  base: (s) => Point.BASE.multiplyUnsafe(s),
  mult: (s, e) => e.multiplyUnsafe(s),
  add: (a, b) => a.add(b),
  bytes: (e) => e.toBytes(),
  // Pippenger: about four times faster than one multiplication per element for a batch of 128.
  msm: (s, e) => pippenger(Point, e, s),
};

/**
 * RFC 9497 §3.3.2 Finalize for one input: {@link finalizeBatch} of one.
 *
 * @param input - the same PRF input given to {@link blind}
 * @param blinded - what {@link blind} returned for it
 * @param evaluatedElement - the server's response, untrusted
 * @param proof - the server's proof, untrusted
 * @param publicKey - pkS, the key the evaluation must be under
 * @returns the 64-byte PRF output
 * @throws as {@link finalizeBatch}
 */
export function finalize(
  input: Uint8Array,
  blinded: BlindResult,
  evaluatedElement: Uint8Array,
  proof: Uint8Array,
  publicKey: Uint8Array,
): Uint8Array {
  return finalizeBatch([input], [blinded], [evaluatedElement], proof, publicKey)[0]!;
}

/**
 * RFC 9497 §3.3.2 Finalize over a batch: verifies the batch's proof against pkS, then unblinds
 * each evaluated element and hashes it with its input. The server's response must contain
 * exactly one element per input, in order.
 *
 * @param inputs - PRF inputs, as given to {@link blindBatch}
 * @param blinded - the results of {@link blindBatch}, same length as `inputs`
 * @param evaluatedElements - the server's response, untrusted
 * @param proof - the server's proof for the batch, untrusted
 * @param publicKey - pkS, the key the evaluation must be under
 * @returns one 64-byte output per input
 * @throws OprfError 'oprf-invalid-element' if the response has the wrong number of
 *   elements or any element is invalid, 'oprf-identity-element' for an identity,
 *   'oprf-proof-invalid' if the proof is malformed or does not verify; TypeError on misuse
 */
export function finalizeBatch(
  inputs: readonly Uint8Array[],
  blinded: readonly BlindResult[],
  evaluatedElements: readonly Uint8Array[],
  proof: Uint8Array,
  publicKey: Uint8Array,
): Uint8Array[] {
  return finalizeBatchWith(nobleGroup, nobleProofGroup, inputs, blinded, evaluatedElements, proof, publicKey);
}
