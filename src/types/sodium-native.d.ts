// The sodium-native functions the project uses (the package ships no types of its own); the
// conversions and scalarmult only pin the log receipt's seal in its test.
declare module 'sodium-native' {
  interface SodiumNative {
    /** libsodium crypto_sign_verify_detached: true when `signature` is valid for `message`. */
    crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
    crypto_sign_ed25519_pk_to_curve25519(x25519Pk: Uint8Array, ed25519Pk: Uint8Array): void;
    crypto_sign_ed25519_sk_to_curve25519(x25519Sk: Uint8Array, ed25519Sk: Uint8Array): void;
    crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  }
  const sodium: SodiumNative;
  export default sodium;
}
