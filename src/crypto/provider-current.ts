import type { CryptoProvider } from './provider.js';

/**
 * Which implementation of src/crypto/provider.ts is installed. Its own file so that a process can
 * install one (the CLI installs the native one) before anything imports provider.ts, which loads
 * the default, libsodium's WebAssembly build, when it finds none installed.
 */
let current: CryptoProvider | undefined;

/** The installed implementation, if any. */
export function installedCryptoProvider(): CryptoProvider | undefined {
  return current;
}

/**
 * Installs the implementation every later call uses (the server installs the native one at start).
 *
 * @example
 * ```ts
 * import { nativeCrypto } from './provider-native.js';
 * useCryptoProvider(nativeCrypto);
 * ```
 */
export function useCryptoProvider(provider: CryptoProvider): void {
  current = provider;
}
