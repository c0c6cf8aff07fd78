/**
 * Shared constants and encodings for the RFC 9497 OPRF, suite ristretto255-SHA512,
 * mode VOPRF (0x01). Used by both the libsodium server (`oprf-server.ts`) and the
 * client engines (`oprf-client.ts`, `oprf-client-sodium.ts`) so that they can only disagree on
 * group arithmetic, never on framing.
 *
 * Only the VOPRF mode is implemented: the base OPRF mode (0x00) lets a DP evaluate a client under
 * a key of its choosing, unseen (R9, R26); VOPRF costs the server one proof per batch.
 *
 * expand_message_xmd (RFC 9380 §5.3.1) is NOT reimplemented here: @noble/curves
 * exposes it from `abstract/hash-to-curve.js`, and both sides call this module's
 * wrappers around it.
 */

import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { type CHash, randomBytes } from '@noble/hashes/utils.js';
import { OprfError } from './oprf-errors.js';
import { cryptoProvider } from './provider.js';

/**
 * SHA-512 through the crypto provider (node:crypto in Node, src/crypto/provider.ts), shaped as the
 * hash @noble/curves' expand_message_xmd takes: it calls the function and reads the lengths only.
 * A contact sync hashes every element several times (HashToGroup, the composites, Finalize).
 */
// Every provider returns a fresh digest over an ArrayBuffer of its own.
const sha512: CHash = Object.assign(
  (msg: Uint8Array) => cryptoProvider().sha512(msg) as Uint8Array<ArrayBuffer>,
  {
    outputLen: nobleSha512.outputLen,
    blockLen: nobleSha512.blockLen,
    canXOF: false,
    create: nobleSha512.create,
  },
);

/**
 * A source of random bytes: returns exactly `n` fresh bytes. Injectable so that test vectors reproduce.
 *
 * @example
 * const rng: RandomSource = (n) => crypto.getRandomValues(new Uint8Array(n));
 */
export type RandomSource = (n: number) => Uint8Array;

/** RFC 9497 §3.1: mode identifier for the verifiable OPRF protocol. */
export const MODE_VOPRF = 0x01;

/** RFC 9497 §4.1: ciphersuite identifier. */
export const SUITE_IDENTIFIER = 'ristretto255-SHA512';

/** RFC 9497 §4.1: Ne, length of a serialized ristretto255 element. */
export const ELEMENT_LENGTH = 32;

/** RFC 9497 §4.1: Ns, length of a serialized scalar. */
export const SCALAR_LENGTH = 32;

/** RFC 9497 §2.2.1: a proof is SerializeScalar(c) || SerializeScalar(s). */
export const PROOF_LENGTH = 64;

/** RFC 9497 §4.1: Nh, length of SHA-512 output, i.e. of the OPRF output. */
export const OUTPUT_LENGTH = 64;

/** RFC 9497 §4.1: HashToGroup / HashToScalar expand to 64 uniform bytes. */
export const UNIFORM_LENGTH = 64;

/** Largest input length encodable by I2OSP(len(input), 2) (RFC 9497 §3.3.1 Finalize). */
export const MAX_INPUT_LENGTH = 0xffff;

/** Default cap on the number of elements a server evaluates in one call. */
export const DEFAULT_MAX_BATCH_SIZE = 1024;

/** Order of the ristretto255 group, L = 2^252 + 27742317777372353535851937790883648493 (RFC 9496 §4). */
export const GROUP_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

const encoder = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * I2OSP from RFC 8017 §4.1: big-endian encoding of a non-negative integer.
 *
 * @param value - integer in [0, 256^length)
 * @param length - output length in bytes (1 or 2 here)
 * @returns the encoding
 * @throws TypeError if the value does not fit
 */
export function i2osp(value: number, length: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 256 ** length) {
    throw new TypeError(`i2osp: ${value} does not fit in ${length} bytes`);
  }
  const out = new Uint8Array(length);
  for (let i = length - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  return out;
}

/** RFC 9497 §3.1: contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier. */
export const CONTEXT_STRING: Uint8Array = concat(
  encoder.encode('OPRFV1-'),
  i2osp(MODE_VOPRF, 1),
  encoder.encode('-'),
  encoder.encode(SUITE_IDENTIFIER),
);

/** RFC 9497 §4.1: DST for HashToGroup, "HashToGroup-" || contextString. */
export const HASH_TO_GROUP_DST: Uint8Array = concat(encoder.encode('HashToGroup-'), CONTEXT_STRING);

/** RFC 9497 §4.1: default DST for HashToScalar, "HashToScalar-" || contextString. */
export const HASH_TO_SCALAR_DST: Uint8Array = concat(encoder.encode('HashToScalar-'), CONTEXT_STRING);

/** RFC 9497 §3.2.1: DST for DeriveKeyPair's HashToScalar, "DeriveKeyPair" || contextString. */
export const DERIVE_KEY_PAIR_DST: Uint8Array = concat(encoder.encode('DeriveKeyPair'), CONTEXT_STRING);

const FINALIZE_LABEL = encoder.encode('Finalize');
/** RFC 9497 §2.2.1 ComputeComposites: seedDST = "Seed-" || contextString. */
const SEED_DST = concat(encoder.encode('Seed-'), CONTEXT_STRING);
const COMPOSITE_LABEL = encoder.encode('Composite');
const CHALLENGE_LABEL = encoder.encode('Challenge');

/** I2OSP(len(x), 2) || x for each part, in order. */
function framed(parts: readonly Uint8Array[], label: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  for (const p of parts) out.push(i2osp(p.length, 2), p);
  out.push(label);
  return concat(...out);
}

/**
 * RFC 9497 §2.2.1 ComputeComposites: seed = Hash(I2OSP(len(Bm), 2) || Bm || I2OSP(len(seedDST), 2)
 * || seedDST), Bm the serialized public key.
 *
 * @param publicKey - SerializeElement(B)
 * @returns the 64-byte seed
 */
export function compositeSeed(publicKey: Uint8Array): Uint8Array {
  return sha512(concat(i2osp(publicKey.length, 2), publicKey, i2osp(SEED_DST.length, 2), SEED_DST));
}

/**
 * RFC 9497 §2.2.1 ComputeComposites: the uniform bytes of d_i = HashToScalar(I2OSP(len(seed), 2) ||
 * seed || I2OSP(i, 2) || I2OSP(len(Ci), 2) || Ci || I2OSP(len(Di), 2) || Di || "Composite").
 *
 * @param seed - from {@link compositeSeed}
 * @param i - batch position, below 2^16
 * @param c - SerializeElement(C[i]), the blinded element
 * @param d - SerializeElement(D[i]), the evaluated element
 * @returns 64 uniform bytes, to be reduced modulo L
 */
export function compositeUniform(seed: Uint8Array, i: number, c: Uint8Array, d: Uint8Array): Uint8Array {
  return hashToScalarUniform(
    concat(i2osp(seed.length, 2), seed, i2osp(i, 2), framed([c, d], COMPOSITE_LABEL)),
  );
}

/**
 * RFC 9497 §2.2.1 GenerateProof / VerifyProof: the uniform bytes of the challenge
 * c = HashToScalar(framed(Bm, M, Z, t2, t3) || "Challenge").
 *
 * @param parts - SerializeElement of B, M, Z, t2, t3, in that order
 * @returns 64 uniform bytes, to be reduced modulo L
 */
export function challengeUniform(parts: readonly Uint8Array[]): Uint8Array {
  return hashToScalarUniform(framed(parts, CHALLENGE_LABEL));
}

/**
 * Asserts that a caller-supplied value is a Uint8Array (API misuse otherwise).
 *
 * @param value - value to check
 * @param name - argument name for the message
 * @throws TypeError if `value` is not a Uint8Array
 */
export function assertBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}

/**
 * Validates a PRF input: bytes, at most 65535 long so that I2OSP(len(input), 2)
 * in RFC 9497 §3.3.1 Finalize is defined.
 *
 * @param input - PRF input
 * @throws TypeError if not bytes; OprfError 'oprf-invalid-input' if too long
 */
export function checkInput(input: unknown): asserts input is Uint8Array {
  assertBytes(input, 'input');
  if (input.length > MAX_INPUT_LENGTH) {
    throw new OprfError('oprf-invalid-input', `input longer than ${MAX_INPUT_LENGTH} bytes`);
  }
}

/**
 * Checks the framing of a serialized element (RFC 9497 §2.1 DeserializeElement):
 * exactly Ne bytes and not the identity's encoding (32 zero bytes, the only
 * encoding of the identity in ristretto255, RFC 9496 §4.3.2). Curve membership
 * and canonicity are checked afterwards by each side's group library.
 *
 * @param bytes - candidate element
 * @param index - batch position, for the error
 * @throws TypeError if not bytes; OprfError 'oprf-invalid-element' or 'oprf-identity-element'
 */
export function checkElementFraming(bytes: unknown, index?: number): asserts bytes is Uint8Array {
  assertBytes(bytes, index === undefined ? 'element' : `element[${index}]`);
  if (bytes.length !== ELEMENT_LENGTH) {
    throw new OprfError(
      'oprf-invalid-element',
      `element must be ${ELEMENT_LENGTH} bytes, got ${bytes.length}`,
      index,
    );
  }
  let acc = 0;
  for (const b of bytes) acc |= b;
  if (acc === 0) throw new OprfError('oprf-identity-element', 'identity element rejected', index);
}

/**
 * Reads a little-endian 32-byte scalar and checks 0 < s < L (RFC 9497 §2.1
 * DeserializeScalar; zero scalars are useless as keys or blinds).
 *
 * @param bytes - candidate scalar
 * @param name - argument name for messages
 * @returns the scalar as a bigint
 * @throws TypeError on wrong type/length; OprfError 'oprf-invalid-scalar' if zero or non-canonical
 */
export function decodeScalar(bytes: unknown, name: string): bigint {
  assertBytes(bytes, name);
  if (bytes.length !== SCALAR_LENGTH) throw new TypeError(`${name} must be ${SCALAR_LENGTH} bytes`);
  let s = 0n;
  for (let i = SCALAR_LENGTH - 1; i >= 0; i--) s = (s << 8n) | BigInt(bytes[i]!);
  if (s === 0n || s >= GROUP_ORDER) {
    throw new OprfError('oprf-invalid-scalar', `${name} is zero or not reduced modulo the group order`);
  }
  return s;
}

/**
 * expand_message_xmd(msg, DST, 64) with SHA-512 (RFC 9380 §5.3.1), via @noble/curves.
 *
 * @param msg - message
 * @param dst - domain separation tag
 * @returns 64 uniform bytes
 */
export function expandMessageXmd(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  return expand_message_xmd(msg, dst, UNIFORM_LENGTH, sha512);
}

/**
 * First half of HashToGroup (RFC 9497 §4.1): the 64-byte uniform string that the
 * ristretto255 one-way map (RFC 9496 §4.3.4) turns into an element. libsodium's
 * `crypto_core_ristretto255_from_hash` and noble's `deriveToCurve` both take it.
 *
 * @param input - PRF input
 * @returns 64 uniform bytes
 */
export function hashToGroupUniform(input: Uint8Array): Uint8Array {
  return expandMessageXmd(input, HASH_TO_GROUP_DST);
}

/**
 * First half of HashToScalar (RFC 9497 §4.1): 64 uniform bytes, to be reduced
 * modulo L by the caller's group library.
 *
 * @param msg - message
 * @param dst - domain separation tag (default "HashToScalar-" || contextString)
 * @returns 64 uniform bytes
 */
export function hashToScalarUniform(msg: Uint8Array, dst: Uint8Array = HASH_TO_SCALAR_DST): Uint8Array {
  return expandMessageXmd(msg, dst);
}

/**
 * RFC 9497 §3.2.1 DeriveKeyPair: deriveInput = seed || I2OSP(len(info), 2) || info.
 * The caller appends I2OSP(counter, 1) per attempt.
 *
 * @param seed - Ns = 32 bytes of seed
 * @param info - key info, at most 65535 bytes
 * @returns deriveInput
 * @throws TypeError on a wrong-sized seed or oversize info
 */
export function deriveKeyPairInput(seed: Uint8Array, info: Uint8Array): Uint8Array {
  assertBytes(seed, 'seed');
  assertBytes(info, 'info');
  if (seed.length !== SCALAR_LENGTH) throw new TypeError(`seed must be ${SCALAR_LENGTH} bytes`);
  if (info.length > MAX_INPUT_LENGTH) throw new TypeError(`info longer than ${MAX_INPUT_LENGTH} bytes`);
  return concat(seed, i2osp(info.length, 2), info);
}

/**
 * Appends the one-byte DeriveKeyPair counter (RFC 9497 §3.2.1).
 *
 * @param deriveInput - output of {@link deriveKeyPairInput}
 * @param counter - attempt number, 0..255
 * @returns deriveInput || I2OSP(counter, 1)
 */
export function withCounter(deriveInput: Uint8Array, counter: number): Uint8Array {
  return concat(deriveInput, i2osp(counter, 1));
}

/**
 * RFC 9497 §3.3.1 Finalize / Evaluate hash:
 * SHA-512(I2OSP(len(input), 2) || input || I2OSP(len(element), 2) || element || "Finalize").
 *
 * @param input - PRF input (already length-checked)
 * @param unblindedElement - serialized skS * HashToGroup(input)
 * @returns the 64-byte PRF output
 */
export function finalizeHash(input: Uint8Array, unblindedElement: Uint8Array): Uint8Array {
  return sha512(
    concat(
      i2osp(input.length, 2),
      input,
      i2osp(unblindedElement.length, 2),
      unblindedElement,
      FINALIZE_LABEL,
    ),
  );
}

/** Default random source: the platform CSPRNG (Web Crypto getRandomValues). */
export const defaultRandomSource: RandomSource = (n) => randomBytes(n);

const MAX_SCALAR_ATTEMPTS = 128;

/**
 * RFC 9497 §2.1 RandomScalar, by rejection sampling: draw Ns bytes, clear the
 * three top bits (no canonical scalar has them set, since L < 2^253), accept if
 * 0 < s < L. Because canonical scalars pass through unchanged, a source that
 * returns a test vector's Blind yields exactly that Blind.
 *
 * @param rng - random source (default: CSPRNG)
 * @returns a canonical non-zero scalar, 32 bytes little-endian
 * @throws TypeError if the source returns the wrong length or keeps returning invalid scalars
 */
export function randomScalar(rng: RandomSource = defaultRandomSource): Uint8Array {
  if (typeof rng !== 'function') throw new TypeError('rng must be a function');
  for (let attempt = 0; attempt < MAX_SCALAR_ATTEMPTS; attempt++) {
    const raw = rng(SCALAR_LENGTH);
    if (!(raw instanceof Uint8Array) || raw.length !== SCALAR_LENGTH) {
      throw new TypeError(`rng must return a Uint8Array of ${SCALAR_LENGTH} bytes`);
    }
    const candidate = Uint8Array.from(raw);
    candidate[SCALAR_LENGTH - 1] = candidate[SCALAR_LENGTH - 1]! & 0x1f;
    let s = 0n;
    for (let i = SCALAR_LENGTH - 1; i >= 0; i--) s = (s << 8n) | BigInt(candidate[i]!);
    if (s !== 0n && s < GROUP_ORDER) return candidate;
  }
  throw new TypeError(`rng produced no valid scalar in ${MAX_SCALAR_ATTEMPTS} attempts`);
}
