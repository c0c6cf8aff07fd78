// The sodium-native functions the project uses (the package ships no types of its own): detached
// signatures and their checks, and the log receipt's sealed box (src/crypto/provider-native.ts).
declare module 'sodium-native' {
  interface SodiumNative {
    /** libsodium crypto_sign_verify_detached: true when `signature` is valid for `message`. */
    crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
    /** libsodium crypto_sign_seed_keypair: the RFC 8032 key pair of a 32-byte seed; `sk` is seed || pk. */
    crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
    /** libsodium crypto_sign_detached: the 64-byte RFC 8032 signature of `message` by `sk`. */
    crypto_sign_detached(signature: Uint8Array, message: Uint8Array, sk: Uint8Array): void;
    crypto_sign_ed25519_pk_to_curve25519(x25519Pk: Uint8Array, ed25519Pk: Uint8Array): void;
    crypto_sign_ed25519_sk_to_curve25519(x25519Sk: Uint8Array, ed25519Sk: Uint8Array): void;
    /** libsodium crypto_box_seal: `c` is `m.length + crypto_box_SEALBYTES`; throws if `pk` is of small order. */
    crypto_box_seal(c: Uint8Array, m: Uint8Array, pk: Uint8Array): void;
    /** libsodium crypto_box_seal_open: false when `c` does not open under (`pk`, `sk`). */
    crypto_box_seal_open(m: Uint8Array, c: Uint8Array, pk: Uint8Array, sk: Uint8Array): boolean;
    readonly crypto_sign_PUBLICKEYBYTES: number;
    readonly crypto_sign_SECRETKEYBYTES: number;
    readonly crypto_sign_BYTES: number;
    readonly crypto_box_SEALBYTES: number;
    readonly crypto_box_PUBLICKEYBYTES: number;
    readonly crypto_box_SECRETKEYBYTES: number;
  }
  const sodium: SodiumNative;
  export default sodium;
}
