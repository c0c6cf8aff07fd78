import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { cryptoProvider } from '../../src/crypto/provider.js';
import { nativeCrypto } from '../../src/crypto/provider-native.js';
import { nodeCrypto } from '../../src/crypto/provider-node.js';
import { wasmCrypto } from '../../src/crypto/provider-wasm.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('crypto providers', () => {
  it("the SDK in Node uses node:crypto's hashes with libsodium's WebAssembly build", async () => {
    // A fresh copy of the module, as the SDK loads it, not the provider a server test installed.
    vi.resetModules();
    const fresh = await import('../../src/crypto/provider.js');
    expect(fresh.cryptoProvider).not.toBe(cryptoProvider);
    expect(fresh.cryptoProvider().name).toBe('node');
    expect(nodeCrypto.verifyEd25519).toBe(wasmCrypto.verifyEd25519);
    expect(nodeCrypto.sealToEd25519).toBe(wasmCrypto.sealToEd25519);
    expect(nodeCrypto.openWithEd25519).toBe(wasmCrypto.openWithEd25519);
  });

  it('keeps the implementation a process installed before the SDK loaded, instead of the default', async () => {
    // As the CLI does (src/cli/commands.ts): install through provider-current.ts, then import.
    vi.resetModules();
    const current = await import('../../src/crypto/provider-current.js');
    expect(current.installedCryptoProvider()).toBeUndefined();
    current.useCryptoProvider(nativeCrypto);
    const fresh = await import('../../src/crypto/provider.js');
    expect(fresh.cryptoProvider()).toBe(nativeCrypto);
    // One installed state: provider.ts's useCryptoProvider is provider-current.ts's.
    fresh.useCryptoProvider(wasmCrypto);
    expect(current.installedCryptoProvider()).toBe(wasmCrypto);
  });

  // FIPS 180-2 "abc" and the two-block message, split into parts and mixed with strings.
  const abc = '616263';
  const two = 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq';
  describe.each([nativeCrypto, nodeCrypto, wasmCrypto])('$name provider', (p) => {
    it('hashes its parts in order, strings as UTF-8 (SHA-256, SHA-512: FIPS 180-2 vectors)', () => {
      expect(hex(p.sha256(Buffer.from(abc, 'hex')))).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
      expect(hex(p.sha512('a', Buffer.from('bc')))).toBe(
        'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
      );
      expect(hex(p.sha256(two.slice(0, 20), Buffer.from(two.slice(20))))).toBe(
        createHash('sha256').update(two).digest('hex'),
      );
      expect(hex(p.sha512(two, '', two))).toBe(
        createHash('sha512')
          .update(two + two)
          .digest('hex'),
      );
      expect(hex(p.sha512())).toBe(createHash('sha512').digest('hex'));
    });
    it('HMAC-SHA-256 over its parts (RFC 4231 test case 2)', () => {
      expect(hex(p.hmacSha256(Buffer.from('Jefe'), 'what do ya want ', Buffer.from('for nothing?')))).toBe(
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      );
      const key = Buffer.alloc(100, 7);
      expect(hex(p.hmacSha256(key, 'x'))).toBe(createHmac('sha256', key).update('x').digest('hex'));
    });
    it('gives as many random bytes as asked, fresh each time', () => {
      const a = p.randomBytes(70_000);
      expect(a).toHaveLength(70_000);
      expect(hex(p.randomBytes(32))).not.toBe(hex(p.randomBytes(32)));
    });
  });
});
