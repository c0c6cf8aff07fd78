import { installedCryptoProvider, useCryptoProvider } from './provider-current.js';

export { useCryptoProvider };

/**
 * The primitives the SDK's code needs, behind one small interface so that where it runs decides
 * how they are computed: the server installs its native implementation
 * (src/crypto/provider-native.ts: libsodium's binding, node:crypto and node:zlib), the SDK in Node
 * uses node:crypto's hashes and AES-GCM and node:zlib's deflate beside libsodium compiled to
 * WebAssembly (src/crypto/provider-node.ts), and elsewhere the portable one
 * (src/crypto/provider-wasm.ts: libsodium compiled to WebAssembly, @noble/hashes, @noble/ciphers,
 * fflate, WebCrypto's random source), which runs in a browser too. None needs a native module of
 * the SDK's. Every method is synchronous, as its callers are. All give the same results bit for
 * bit but for deflate's bytes, which every one inflates alike; test/crypto/provider.test.ts,
 * signatures.test.ts and seal-to-holder.test.ts run against each.
 *
 * Ed25519 keys are bytes held by a SigningKey (src/crypto/keys.ts), never a node:crypto
 * KeyObject, so the same key signs through either implementation.
 *
 * @example
 * const tag = cryptoProvider().sha256(new TextEncoder().encode('hello'));
 */
export interface CryptoProvider {
  /** For diagnostics and test names: `native`, `wasm`. */
  readonly name: string;
  /**
   * libsodium's crypto_sign_verify_detached: besides S >= L (RFC 8032 §5.1.7) it refuses
   * small-order and non-canonical public keys and small-order R points, and checks the
   * cofactorless equation, so every implementation accepts exactly the same signatures.
   * False for any bad input, never throws.
   */
  verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /**
   * The RFC 8032 key pair of a 32-byte seed, in libsodium's form (crypto_sign_seed_keypair): the
   * 32-byte public key and the 64-byte secret key seed || public key.
   */
  ed25519KeyPair(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  /** RFC 8032 Ed25519 signature (64 bytes, deterministic) by the 64-byte secret key of ed25519KeyPair. */
  signEd25519(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** SHA-256 over the parts in order; strings as UTF-8. */
  sha256(...parts: (Uint8Array | string)[]): Uint8Array;
  /** SHA-512 over the parts in order; strings as UTF-8 (the OPRF's hash, RFC 9497 ristretto255-SHA512). */
  sha512(...parts: (Uint8Array | string)[]): Uint8Array;
  /** HMAC-SHA-256 (RFC 2104) over the parts in order; strings as UTF-8. */
  hmacSha256(key: Uint8Array, ...parts: (Uint8Array | string)[]): Uint8Array;
  /** `length` bytes from a cryptographically secure source. */
  randomBytes(length: number): Uint8Array;
  /**
   * libsodium's sealed box (crypto_box_seal) to the X25519 form of an Ed25519 public key
   * (crypto_sign_ed25519_pk_to_curve25519); `message.length + sealBytes` bytes.
   * @throws {TypeError} when the key has no usable X25519 form (small order, not canonical).
   */
  sealToEd25519(edPublicKey: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * Opens such a box with the X25519 forms of the Ed25519 key pair given as its 32-byte seed and
   * public key; undefined when it does not open or the key has no X25519 form.
   */
  openWithEd25519(seed: Uint8Array, edPublicKey: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /**
   * AES-GCM (NIST SP 800-38D) with a 12-byte nonce and a 16-byte tag, AES-128 or AES-256 by the
   * key's length (16 or 32 bytes). The plaintext may be given as pieces, encrypted one after the
   * other and never joined (an OHTTP response is MiBs); the result's pieces, concatenated, are the
   * ciphertext followed by the tag (its last {@link gcmTagBytes} bytes).
   * @throws {TypeError} for a key or nonce of another length.
   */
  aesGcmSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array | readonly Uint8Array[],
    aad?: Uint8Array,
  ): Uint8Array[];
  /**
   * Opens what {@link aesGcmSeal} made, given as ciphertext || tag; undefined when the tag does not
   * check (tampered, truncated, another key, nonce or aad).
   * @throws {TypeError} for a key or nonce of another length.
   */
  aesGcmOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad?: Uint8Array,
  ): Uint8Array | undefined;
  /**
   * Raw DEFLATE (RFC 1951, no zlib or gzip frame) at `level` (0-9) of bytes or of a string as
   * UTF-8, with a preset dictionary when given. Implementations may differ in the bytes they emit;
   * every one inflates what any other deflated.
   */
  deflateRaw(
    data: Uint8Array | string,
    opts: { level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9; dictionary?: Uint8Array },
  ): Uint8Array;
  /**
   * Inflates raw DEFLATE, with the preset dictionary it was made with; undefined when it is not a
   * whole valid stream or inflates to more than `maxOutputLength` bytes (a deflate bomb stops there).
   */
  inflateRaw(
    data: Uint8Array,
    opts: { maxOutputLength: number; dictionary?: Uint8Array },
  ): Uint8Array | undefined;
}

/** Bytes crypto_box_seal adds: the ephemeral X25519 key and the Poly1305 tag. */
export const sealBytes = 48;

/** Bytes of an AES-GCM tag ({@link CryptoProvider.aesGcmSeal}). */
export const gcmTagBytes = 16;

// The default loads here, once, when the first module that hashes or signs is imported and no
// implementation is installed: libsodium's WebAssembly module loads asynchronously and every call
// is synchronous. A process that installs another first (the CLI: src/cli/commands.ts, through
// provider-current.ts) loads no WebAssembly at all.
if (installedCryptoProvider() === undefined) {
  const inNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  useCryptoProvider(
    inNode
      ? (await import('./provider-node.js')).nodeCrypto
      : (await import('./provider-wasm.js')).wasmCrypto,
  );
}

/**
 * The implementation in use: node:crypto's hashes with libsodium's WebAssembly build in Node, the
 * portable one elsewhere, unless the process installed another (useCryptoProvider).
 *
 * @example
 * const nonce = cryptoProvider().randomBytes(16);
 */
export function cryptoProvider(): CryptoProvider {
  // Set above, or installed before this module loaded.
  return installedCryptoProvider()!;
}
