/**
 * RFC 9497 §3.3.1 Blind and §3.3.2 Finalize (VOPRF) over batches, shared by both client engines
 * (`oprf-client.ts` on @noble/curves, `oprf-client-sodium.ts` on libsodium). Each engine supplies
 * only its group arithmetic; the argument checks, the order of validation, the proof check, the
 * error codes and indexes, the batch inversion of the blinds and the final hash live here once, so
 * the engines can only disagree on arithmetic (and the RFC 9497 Appendix A.1.2 vectors pin that).
 */

import { OprfError } from './oprf-errors.js';
import { type ProofGroup, verifyProof } from './oprf-proof.js';
import {
  checkElementFraming,
  checkInput,
  decodeScalar,
  finalizeHash,
  type RandomSource,
} from './oprf-suite.js';

/**
 * Client state for one input: keep `blind` secret until Finalize.
 *
 * @example
 * const { blinded, blind } = oprf.blind(input);
 */
export interface BlindResult {
  /** The blinding scalar r, 32 bytes little-endian; secret, needed by Finalize. */
  blind: Uint8Array;
  /** SerializeElement(r * HashToGroup(input)), 32 bytes; sent to the server. */
  blindedElement: Uint8Array;
}

/**
 * {@link BlindResult}s for a batch, in order, from an engine's one-input Blind. An OprfError from
 * input i is re-thrown with index i.
 *
 * @throws TypeError if `inputs` is not an array; as `blindOne` otherwise
 */
export function blindBatchWith(
  blindOne: (input: Uint8Array, rng?: RandomSource) => BlindResult,
  inputs: readonly Uint8Array[],
  rng?: RandomSource,
): BlindResult[] {
  if (!Array.isArray(inputs)) throw new TypeError('inputs must be an array');
  return inputs.map((input, index) => {
    try {
      return blindOne(input, rng);
    } catch (err) {
      if (err instanceof OprfError) throw new OprfError(err.code, err.message, index);
      throw err;
    }
  });
}

/** The group arithmetic Finalize needs, in an engine's own representations (S scalars, E elements). */
export interface FinalizeGroup<S extends {}, E> {
  /** The blind `bytes` as a scalar; `value` is the same scalar already checked 0 < r < L. */
  scalar(bytes: Uint8Array, value: bigint): S;
  /**
   * RFC 9497 §2.1 DeserializeElement of 32 bytes that are not the identity's encoding (checked
   * before): curve membership and canonical encoding; throws OprfError 'oprf-invalid-element'
   * (or 'oprf-identity-element') with `index`.
   */
  element(bytes: Uint8Array, index?: number): E;
  /** a * b modulo the group order. */
  mul(a: S, b: S): S;
  /** a^-1 modulo the group order (a is never zero). */
  invert(a: S): S;
  /** SerializeElement(inverse * element). */
  unblind(inverse: S, element: E): Uint8Array;
}

/**
 * RFC 9497 §3.3.2 Finalize over a batch (VOPRF): VerifyProof(G, pkS, blindedElements,
 * evaluatedElements, proof) first, then N = blind^-1 * evaluatedElement and
 * SHA-512(I2OSP(len(input), 2) || input || I2OSP(32, 2) || N || "Finalize"). The whole response is
 * validated (RFC 9497 §2.1) before any multiplication; nothing is unblinded unless the proof holds.
 * Every blind is inverted with one inversion (Montgomery's batch trick).
 *
 * @param group - Finalize arithmetic
 * @param proofs - proof arithmetic, same representations
 * @param inputs - PRF inputs, as given to Blind
 * @param blinded - the results of Blind, same length as `inputs`
 * @param evaluatedElements - the server's response, untrusted: one element per input, in order
 * @param proof - the server's proof for the batch, untrusted
 * @param publicKey - pkS, the key the evaluation must be under
 * @returns one 64-byte output per input
 * @throws OprfError 'oprf-invalid-element' for a response of the wrong length or an invalid
 *   element (or key), 'oprf-identity-element' for an identity (with the element's index),
 *   'oprf-proof-invalid' for a malformed or failing proof, 'oprf-invalid-scalar' for a bad blind,
 *   'oprf-invalid-input' for an oversize input; TypeError on misuse
 */
export function finalizeBatchWith<S extends {}, E>(
  group: FinalizeGroup<S, E>,
  proofs: ProofGroup<S, E>,
  inputs: readonly Uint8Array[],
  blinded: readonly BlindResult[],
  evaluatedElements: readonly Uint8Array[],
  proof: Uint8Array,
  publicKey: Uint8Array,
): Uint8Array[] {
  if (!Array.isArray(inputs) || !Array.isArray(blinded))
    throw new TypeError('inputs and blinded must be arrays');
  if (inputs.length !== blinded.length) throw new TypeError('inputs and blinded differ in length');
  if (!Array.isArray(evaluatedElements)) throw new TypeError('evaluatedElements must be an array');
  if (evaluatedElements.length !== inputs.length) {
    throw new OprfError(
      'oprf-invalid-element',
      `expected ${inputs.length} evaluated elements, got ${evaluatedElements.length}`,
    );
  }
  const scalars = inputs.map((input, i) => {
    checkInput(input);
    const b = blinded[i]!;
    if (typeof b !== 'object' || b === null) throw new TypeError(`blinded[${i}] must be a BlindResult`);
    return group.scalar(b.blind, decodeScalar(b.blind, `blinded[${i}].blind`));
  });
  const elements = evaluatedElements.map((e, i) => {
    checkElementFraming(e, i);
    return { e: group.element(e, i), bytes: e };
  });
  if (scalars.length === 0) return [];
  checkElementFraming(publicKey);
  const key = { e: group.element(publicKey), bytes: publicKey };
  const sent = blinded.map((b, i) => {
    checkElementFraming(b.blindedElement, i);
    return { e: group.element(b.blindedElement, i), bytes: b.blindedElement };
  });
  // RFC 9497 §3.3.2 Finalize: VerifyProof before anything is unblinded.
  verifyProof(proofs, key, sent, elements, proof);
  const prefix = new Array<S>(scalars.length);
  let acc = scalars[0]!;
  prefix[0] = acc;
  for (let i = 1; i < scalars.length; i++) {
    acc = group.mul(acc, scalars[i]!);
    prefix[i] = acc;
  }
  let inv = group.invert(acc);
  const inverses = new Array<S>(scalars.length);
  for (let i = scalars.length - 1; i > 0; i--) {
    inverses[i] = group.mul(inv, prefix[i - 1]!);
    inv = group.mul(inv, scalars[i]!);
  }
  inverses[0] = inv;
  return inputs.map((input, i) => finalizeHash(input, group.unblind(inverses[i]!, elements[i]!.e)));
}
