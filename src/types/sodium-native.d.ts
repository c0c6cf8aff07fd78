// The one sodium-native function the project uses (the package ships no types of its own).
declare module 'sodium-native' {
  interface SodiumNative {
    /** libsodium crypto_sign_verify_detached: true when `signature` is valid for `message`. */
    crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  }
  const sodium: SodiumNative;
  export default sodium;
}
