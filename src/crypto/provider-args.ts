/**
 * The argument checks every crypto provider (src/crypto/provider.ts) makes alike, so that misuse is
 * the same TypeError whichever implementation runs.
 */

/** AES-GCM: a 16- or 32-byte key (AES-128, AES-256) and a 12-byte nonce. */
export function checkGcmArgs(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 16 && key.length !== 32) throw new TypeError('an AES-GCM key is 16 or 32 bytes');
  if (nonce.length !== 12) throw new TypeError('an AES-GCM nonce is 12 bytes');
}

/** The pieces of a plaintext given whole or in pieces. */
export const piecesOf = (p: Uint8Array | readonly Uint8Array[]): readonly Uint8Array[] =>
  p instanceof Uint8Array ? [p] : p;
