/**
 * RFC 9497 OPRF client operations (suite ristretto255-SHA512, mode VOPRF) behind one interface,
 * with two engines: @noble/curves (pure JS, runs anywhere, no async set-up) and libsodium (wasm,
 * about four times faster here; PrivateLookupClient's default). Both share Blind and Finalize
 * (src/crypto/oprf-finalize.ts), are pinned by the RFC 9497 Appendix A vectors and cross-checked
 * in test/private/oprf-client-engines.test.ts.
 */

import sodium from 'libsodium-wrappers-sumo';
import {
  type BlindResult,
  blindBatch as nobleBlindBatch,
  finalizeBatch as nobleFinalizeBatch,
} from './oprf-client.js';
import { OprfError } from './oprf-errors.js';
import { blindBatchWith, type FinalizeGroup, finalizeBatchWith } from './oprf-finalize.js';
import { sodiumProofGroup } from './oprf-server.js';
import { checkInput, hashToGroupUniform, type RandomSource, randomScalar } from './oprf-suite.js';

/**
 * The OPRF client's blind and finalize (RFC 9497 VOPRF, ristretto255-SHA512).
 *
 * @example
 * const client = new PrivateLookupClient({ dp, registry, oprf: nobleOprfClient });
 */
export interface OprfClientEngine {
  readonly name: string;
  /** RFC 9497 §3.3.1 Blind over a batch. */
  blindBatch(inputs: readonly Uint8Array[], rng?: RandomSource): BlindResult[];
  /**
   * RFC 9497 §3.3.2 Finalize over a batch: verifies the batch's proof against `publicKey`
   * ('oprf-proof-invalid'), rejects invalid and identity elements (§2.1).
   */
  finalizeBatch(
    inputs: readonly Uint8Array[],
    blinded: readonly BlindResult[],
    evaluatedElements: readonly Uint8Array[],
    proof: Uint8Array,
    publicKey: Uint8Array,
  ): Uint8Array[];
}

/**
 * The pure-JS engine on @noble/curves (src/crypto/oprf-client.ts).
 *
 * @example
 * const client = new PrivateLookupClient({ dp, registry, oprf: nobleOprfClient });
 */
export const nobleOprfClient: OprfClientEngine = Object.freeze({
  name: 'noble',
  blindBatch: nobleBlindBatch,
  finalizeBatch: nobleFinalizeBatch,
});

/**
 * The libsodium engine: the shared Blind and Finalize (src/crypto/oprf-finalize.ts) over
 * libsodium's ristretto255 arithmetic, scalars and elements as their 32-byte encodings.
 *
 * @example
 * const oprf = await createSodiumOprfClient();
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

  const group: FinalizeGroup<Uint8Array, Uint8Array> = {
    scalar: (bytes) => bytes,
    element(bytes, index) {
      // RFC 9497 §2.1 DeserializeElement: canonical, on the curve (the identity is refused by framing).
      if (!sodium.crypto_core_ristretto255_is_valid_point(bytes)) {
        throw new OprfError('oprf-invalid-element', 'not a valid ristretto255 encoding', index);
      }
      return bytes;
    },
    mul: (a, b) => sodium.crypto_core_ristretto255_scalar_mul(a, b),
    invert: (a) => sodium.crypto_core_ristretto255_scalar_invert(a),
    unblind: (inverse, element) => sodium.crypto_scalarmult_ristretto255(inverse, element),
  };

  return Object.freeze({
    name: 'libsodium',
    blindBatch: (inputs: readonly Uint8Array[], rng?: RandomSource) => blindBatchWith(blindOne, inputs, rng),
    finalizeBatch: (
      inputs: readonly Uint8Array[],
      blinded: readonly BlindResult[],
      evaluatedElements: readonly Uint8Array[],
      proof: Uint8Array,
      publicKey: Uint8Array,
    ) => finalizeBatchWith(group, sodiumProofGroup, inputs, blinded, evaluatedElements, proof, publicKey),
  });
}
