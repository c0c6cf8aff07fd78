/**
 * RFC 9497 OPRF client operations (suite ristretto255-SHA512, mode OPRF) behind one interface,
 * with two engines: @noble/curves (pure JS, runs anywhere; the default) and libsodium (wasm, about
 * four times faster here, for Node clients that sync large contact lists). Both are pinned by the
 * RFC 9497 Appendix A vectors and cross-checked in test/private/oprf-client-engines.test.ts.
 */

import sodium from 'libsodium-wrappers-sumo';
import {
  type BlindResult,
  blindBatch as nobleBlindBatch,
  finalizeBatch as nobleFinalizeBatch,
} from './oprf-client.js';
import { OprfError } from './oprf-errors.js';
import {
  checkElementFraming,
  checkInput,
  decodeScalar,
  finalizeHash,
  hashToGroupUniform,
  type RandomSource,
  randomScalar,
} from './oprf-suite.js';

export interface OprfClientEngine {
  readonly name: string;
  /** RFC 9497 §3.3.1 Blind over a batch. */
  blindBatch(inputs: readonly Uint8Array[], rng?: RandomSource): BlindResult[];
  /** RFC 9497 §3.3.1 Finalize over a batch; rejects invalid and identity elements (§2.1). */
  finalizeBatch(
    inputs: readonly Uint8Array[],
    blinds: readonly Uint8Array[],
    evaluatedElements: readonly Uint8Array[],
  ): Uint8Array[];
}

/** The pure-JS engine on @noble/curves (src/crypto/oprf-client.ts). */
export const nobleOprfClient: OprfClientEngine = Object.freeze({
  name: 'noble',
  blindBatch: nobleBlindBatch,
  finalizeBatch: nobleFinalizeBatch,
});

/**
 * The libsodium engine. Finalize inverts every blind with one field inversion (Montgomery's
 * batch trick) and one scalar multiplication per element.
 */
export async function createSodiumOprfClient(): Promise<OprfClientEngine> {
  await sodium.ready;

  function blindOne(input: Uint8Array, rng?: RandomSource): BlindResult {
    checkInput(input);
    const element = sodium.crypto_core_ristretto255_from_hash(hashToGroupUniform(input));
    // RFC 9497 §3.3.1: an input hashing to the identity is an InvalidInputError.
    if (sodium.is_zero(element))
      throw new OprfError('oprf-invalid-input', 'input hashes to the identity element');
    const blind = randomScalar(rng);
    return { blind, blindedElement: sodium.crypto_scalarmult_ristretto255(blind, element) };
  }

  return Object.freeze({
    name: 'libsodium',
    blindBatch(inputs: readonly Uint8Array[], rng?: RandomSource): BlindResult[] {
      if (!Array.isArray(inputs)) throw new TypeError('inputs must be an array');
      return inputs.map((input, index) => {
        try {
          return blindOne(input, rng);
        } catch (err) {
          if (err instanceof OprfError) throw new OprfError(err.code, err.message, index);
          throw err;
        }
      });
    },
    finalizeBatch(
      inputs: readonly Uint8Array[],
      blinds: readonly Uint8Array[],
      evaluatedElements: readonly Uint8Array[],
    ): Uint8Array[] {
      if (!Array.isArray(inputs) || !Array.isArray(blinds))
        throw new TypeError('inputs and blinds must be arrays');
      if (inputs.length !== blinds.length) throw new TypeError('inputs and blinds differ in length');
      if (!Array.isArray(evaluatedElements)) throw new TypeError('evaluatedElements must be an array');
      if (evaluatedElements.length !== inputs.length) {
        throw new OprfError(
          'oprf-invalid-element',
          `expected ${inputs.length} evaluated elements, got ${evaluatedElements.length}`,
        );
      }
      inputs.forEach((input, i) => {
        checkInput(input);
        decodeScalar(blinds[i], `blinds[${i}]`);
      });
      // RFC 9497 §2.1 DeserializeElement on the whole response before any multiplication.
      evaluatedElements.forEach((e, i) => {
        checkElementFraming(e, i);
        if (!sodium.crypto_core_ristretto255_is_valid_point(e)) {
          throw new OprfError('oprf-invalid-element', 'not a valid ristretto255 encoding', i);
        }
      });
      if (inputs.length === 0) return [];
      // Batch inversion: prefix products, one inversion, then walk back.
      const prefix: Uint8Array[] = [];
      let acc = blinds[0]!;
      prefix.push(acc);
      for (let i = 1; i < blinds.length; i++) {
        acc = sodium.crypto_core_ristretto255_scalar_mul(acc, blinds[i]!);
        prefix.push(acc);
      }
      let inv = sodium.crypto_core_ristretto255_scalar_invert(acc);
      const inverses = new Array<Uint8Array>(blinds.length);
      for (let i = blinds.length - 1; i > 0; i--) {
        inverses[i] = sodium.crypto_core_ristretto255_scalar_mul(inv, prefix[i - 1]!);
        inv = sodium.crypto_core_ristretto255_scalar_mul(inv, blinds[i]!);
      }
      inverses[0] = inv;
      // RFC 9497 §3.3.1 Finalize: N = blind^-1 * evaluatedElement, hashed with the input.
      return inputs.map((input, i) =>
        finalizeHash(input, sodium.crypto_scalarmult_ristretto255(inverses[i]!, evaluatedElements[i]!)),
      );
    },
  });
}
