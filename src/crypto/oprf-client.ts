/**
 * RFC 9497 OPRF client, suite ristretto255-SHA512, mode OPRF (0x00), on
 * @noble/curves (pure JS, so it runs in browsers and needs no async init).
 *
 * Flow: `blind` -> send blindedElement -> server BlindEvaluate -> `finalize`.
 */

import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { OprfError } from './oprf-errors.js';
import { type BlindResult, blindBatchWith, type FinalizeGroup, finalizeBatchWith } from './oprf-finalize.js';
import {
  checkElementFraming,
  checkInput,
  decodeScalar,
  finalizeHash,
  hashToGroupUniform,
  type RandomSource,
  randomScalar,
} from './oprf-suite.js';

export type { BlindResult } from './oprf-finalize.js';

const Point = ristretto255.Point;
type RistrettoPoint = InstanceType<typeof Point>;

function deriveToCurve(uniform: Uint8Array): RistrettoPoint {
  const derive = ristretto255_hasher.deriveToCurve;
  if (derive === undefined) throw new Error('@noble/curves ristretto255_hasher lacks deriveToCurve');
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

/**
 * RFC 9497 §3.3.1 Finalize: unblinds the server's evaluated element and hashes
 * I2OSP(len(input), 2) || input || I2OSP(32, 2) || unblindedElement || "Finalize" with SHA-512.
 *
 * @param input - the same PRF input given to {@link blind}
 * @param blindScalar - the `blind` returned by {@link blind}
 * @param evaluatedElement - the server's response, untrusted
 * @returns the 64-byte PRF output
 * @throws OprfError 'oprf-invalid-element' / 'oprf-identity-element' for a bad evaluated element
 *   (RFC 9497 §2.1 DeserializeElement); TypeError on misuse
 */
export function finalize(
  input: Uint8Array,
  blindScalar: Uint8Array,
  evaluatedElement: Uint8Array,
): Uint8Array {
  checkInput(input);
  const r = decodeScalar(blindScalar, 'blind');
  // RFC 9497 §3.3.1 Finalize: N = G.ScalarInverse(blind) * evaluatedElement.
  const unblinded = nobleGroup.unblind(Point.Fn.inv(r), deserializeElement(evaluatedElement));
  return finalizeHash(input, unblinded);
}

/**
 * {@link finalize} over a batch. The server's response must contain exactly one
 * element per input, in order.
 *
 * @param inputs - PRF inputs, as given to {@link blindBatch}
 * @param blinds - the blinds from {@link blindBatch}, same length as `inputs`
 * @param evaluatedElements - the server's response, untrusted
 * @returns one 64-byte output per input
 * @throws OprfError 'oprf-invalid-element' if the response has the wrong number of
 *   elements or any element is invalid, 'oprf-identity-element' for an identity; TypeError on misuse
 */
export function finalizeBatch(
  inputs: readonly Uint8Array[],
  blinds: readonly Uint8Array[],
  evaluatedElements: readonly Uint8Array[],
): Uint8Array[] {
  return finalizeBatchWith(nobleGroup, inputs, blinds, evaluatedElements);
}
