/**
 * RFC 9497 OPRF server, suite ristretto255-SHA512, mode VOPRF (0x01), on
 * libsodium (libsodium-wrappers-sumo), which is roughly an order of magnitude
 * faster than pure-JS group arithmetic. Every BlindEvaluate answers with one DLEQ proof for the
 * batch (RFC 9497 §2.2, §3.3.2; src/crypto/oprf-proof.ts).
 *
 * libsodium must be initialised first: `await ready()` before calling the
 * synchronous key functions, or use the async {@link createOprfServer}.
 */

import sodium from 'libsodium-wrappers-sumo';
import { OprfError } from './oprf-errors.js';
import { type Encoded, generateProof, type ProofGroup } from './oprf-proof.js';
import {
  checkElementFraming,
  checkInput,
  DEFAULT_MAX_BATCH_SIZE,
  DERIVE_KEY_PAIR_DST,
  decodeScalar,
  deriveKeyPairInput,
  finalizeHash,
  hashToGroupUniform,
  hashToScalarUniform,
  type RandomSource,
  randomScalar,
  withCounter,
} from './oprf-suite.js';

/** A server key pair: skS (32-byte scalar, little-endian) and pkS = skS * G (32-byte element). */
export interface OprfKeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Options for {@link createOprfServer}. */
export interface OprfServerOptions {
  /** Largest batch accepted by `blindEvaluate` (default {@link DEFAULT_MAX_BATCH_SIZE}). */
  maxBatchSize?: number;
}

/** What BlindEvaluate answers: the evaluated elements, in order, and one proof for all of them. */
export interface BlindEvaluation {
  evaluated: Uint8Array[];
  /** RFC 9497 §2.2.1: SerializeScalar(c) || SerializeScalar(s), 64 bytes. */
  proof: Uint8Array;
}

/** A VOPRF server bound to one secret key. */
export interface OprfServer {
  /** pkS = skS * G: what the proofs are verified against (RFC 9497 §3.3.2). */
  readonly publicKey: Uint8Array;
  /** Effective batch limit. */
  readonly maxBatchSize: number;
  /**
   * RFC 9497 §3.3.2 BlindEvaluate over a batch: each element is deserialized
   * (RFC 9497 §2.1; identity and invalid encodings rejected) and multiplied by skS, and one
   * GenerateProof covers the whole batch (ComputeComposites).
   * The whole batch is validated before any evaluation; one bad element fails the call.
   *
   * @param blindedElements - untrusted 32-byte elements from the client, at least one
   * @param rng - source of the proof's random scalar (inject a vector's ProofRandomScalar)
   * @returns one evaluated element per input, in order, and the batch's proof
   * @throws OprfError 'oprf-batch-too-large', 'oprf-invalid-element' or 'oprf-identity-element'
   *   (with `index`); TypeError if the argument is not a non-empty array of Uint8Array
   */
  blindEvaluate(blindedElements: readonly Uint8Array[], rng?: RandomSource): BlindEvaluation;
  /**
   * RFC 9497 §3.3.1 Evaluate: the unblinded PRF output for an input the server
   * knows, equal to what a client gets from Blind/BlindEvaluate/Finalize.
   *
   * @param input - PRF input, at most 65535 bytes
   * @returns 64-byte PRF output
   * @throws OprfError 'oprf-invalid-input'; TypeError if not bytes
   */
  evaluate(input: Uint8Array): Uint8Array;
}

let sodiumReady = false;

/** libsodium's identity result: its scalar multiplications refuse to return it, the group does. */
const IDENTITY = new Uint8Array(32);

function orIdentity(run: () => Uint8Array): Uint8Array {
  try {
    return run();
  } catch {
    // Only for an identity result (inputs are validated, or our own): e.g. a zero proof scalar.
    return IDENTITY;
  }
}

/**
 * RFC 9497 §2.2 proof arithmetic on libsodium: scalars and elements as their 32-byte encodings.
 * Shared with the libsodium client engine (src/crypto/oprf-client-sodium.ts).
 */
export const sodiumProofGroup: ProofGroup<Uint8Array, Uint8Array> = {
  scalar: (bytes) => bytes,
  reduce: (uniform) => sodium.crypto_core_ristretto255_scalar_reduce(uniform),
  scalarBytes: (s) => s,
  mul: (a, b) => sodium.crypto_core_ristretto255_scalar_mul(a, b),
  sub: (a, b) => sodium.crypto_core_ristretto255_scalar_sub(a, b),
  base: (s) => orIdentity(() => sodium.crypto_scalarmult_ristretto255_base(s)),
  mult: (s, e) => orIdentity(() => sodium.crypto_scalarmult_ristretto255(s, e)),
  add: (a, b) => sodium.crypto_core_ristretto255_add(a, b),
  bytes: (e) => e,
};

/**
 * Waits for libsodium's WebAssembly module. Idempotent.
 *
 * @returns a promise resolved once the synchronous functions may be used
 */
export async function ready(): Promise<void> {
  await sodium.ready;
  sodiumReady = true;
}

function assertReady(): void {
  if (!sodiumReady) throw new TypeError('libsodium not initialised: await ready() first');
}

/**
 * RFC 9497 §3.2.1 DeriveKeyPair: skS = HashToScalar(deriveInput || I2OSP(counter, 1),
 * DST = "DeriveKeyPair" || contextString) for the first counter giving skS != 0.
 * Requires {@link ready}.
 *
 * @param seed - 32 bytes of high-entropy seed
 * @param info - public key info (e.g. a key identifier), at most 65535 bytes
 * @returns the derived key pair
 * @throws TypeError on misuse; OprfError 'oprf-invalid-scalar' (DeriveKeyPairError) if all 256 counters give 0
 */
export function deriveKeyPair(seed: Uint8Array, info: Uint8Array): OprfKeyPair {
  assertReady();
  const deriveInput = deriveKeyPairInput(seed, info);
  for (let counter = 0; counter <= 255; counter++) {
    const uniform = hashToScalarUniform(withCounter(deriveInput, counter), DERIVE_KEY_PAIR_DST);
    const secretKey = sodium.crypto_core_ristretto255_scalar_reduce(uniform);
    if (!sodium.is_zero(secretKey)) {
      return { secretKey, publicKey: sodium.crypto_scalarmult_ristretto255_base(secretKey) };
    }
  }
  throw new OprfError('oprf-invalid-scalar', 'DeriveKeyPairError: no non-zero scalar for 256 counters');
}

/**
 * RFC 9497 §3.2 GenerateKeyPair: skS = RandomScalar(), pkS = skS * G. Requires {@link ready}.
 *
 * @param rng - random source (default: CSPRNG)
 * @returns a fresh key pair
 * @throws TypeError on a broken random source or if libsodium is not ready
 */
export function generateKeyPair(rng?: RandomSource): OprfKeyPair {
  assertReady();
  const secretKey = randomScalar(rng);
  return { secretKey, publicKey: sodium.crypto_scalarmult_ristretto255_base(secretKey) };
}

/**
 * Creates an OPRF server for a secret key (waits for libsodium itself).
 *
 * @param skS - 32-byte secret scalar, canonical and non-zero (as from {@link deriveKeyPair})
 * @param options - batch limit
 * @returns the server; it keeps a private copy of the key
 * @throws TypeError on a wrong-typed/sized key or bad options; OprfError 'oprf-invalid-scalar'
 *   for a zero or non-reduced key (RFC 9497 §2.1 DeserializeScalar)
 */
export async function createOprfServer(
  skS: Uint8Array,
  options: OprfServerOptions = {},
): Promise<OprfServer> {
  await ready();
  decodeScalar(skS, 'skS');
  const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  if (!Number.isSafeInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new TypeError('maxBatchSize must be a positive integer');
  }
  const secretKey = Uint8Array.from(skS);
  const publicKey = sodium.crypto_scalarmult_ristretto255_base(secretKey);

  /** RFC 9497 §2.1 DeserializeElement on libsodium; identity is checked by framing since is_valid_point accepts it. */
  function checkElement(bytes: unknown, index: number): void {
    checkElementFraming(bytes, index);
    if (!sodium.crypto_core_ristretto255_is_valid_point(bytes)) {
      throw new OprfError('oprf-invalid-element', 'not a valid ristretto255 encoding', index);
    }
  }

  function multiply(element: Uint8Array, index?: number): Uint8Array {
    try {
      return sodium.crypto_scalarmult_ristretto255(secretKey, element);
    } catch {
      // Unreachable for a validated non-identity element and non-zero key (prime-order group).
      throw new OprfError('oprf-invalid-element', 'scalar multiplication rejected the element', index);
    }
  }

  return Object.freeze({
    publicKey: Uint8Array.from(publicKey),
    maxBatchSize,
    blindEvaluate(blindedElements: readonly Uint8Array[], rng?: RandomSource): BlindEvaluation {
      if (!Array.isArray(blindedElements)) throw new TypeError('blindedElements must be an array');
      if (blindedElements.length === 0) throw new TypeError('blindedElements must not be empty');
      if (blindedElements.length > maxBatchSize) {
        throw new OprfError(
          'oprf-batch-too-large',
          `batch of ${blindedElements.length} exceeds the limit of ${maxBatchSize}`,
        );
      }
      // Validate everything first so a bad element costs no scalar multiplications.
      blindedElements.forEach(checkElement);
      // RFC 9497 §3.3.2 BlindEvaluate: evaluatedElement = skS * blindedElement, then one proof.
      const evaluated = blindedElements.map((element, index) => multiply(element, index));
      const enc = (bytes: Uint8Array): Encoded<Uint8Array> => ({ e: bytes, bytes });
      const proof = generateProof(
        sodiumProofGroup,
        secretKey,
        publicKey,
        blindedElements.map(enc),
        evaluated.map(enc),
        rng,
      );
      return { evaluated, proof };
    },
    evaluate(input: Uint8Array): Uint8Array {
      checkInput(input);
      // RFC 9497 §3.3.1 Evaluate: HashToGroup, rejecting the identity (InvalidInputError).
      const inputElement = sodium.crypto_core_ristretto255_from_hash(hashToGroupUniform(input));
      if (sodium.is_zero(inputElement)) {
        throw new OprfError('oprf-invalid-input', 'input hashes to the identity element');
      }
      return finalizeHash(input, multiply(inputElement));
    },
  });
}
