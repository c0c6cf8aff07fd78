import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hkdfSha256 } from '../../src/crypto/hkdf.js';
import { cryptoProvider, useCryptoProvider } from '../../src/crypto/provider.js';
import { nativeCrypto } from '../../src/crypto/provider-native.js';
import { nodeCrypto } from '../../src/crypto/provider-node.js';
import { wasmCrypto } from '../../src/crypto/provider-wasm.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const joined = (pieces: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(pieces));
const providers = [nativeCrypto, nodeCrypto, wasmCrypto];

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

// The GCM specification's test cases 4 (AES-128) and 16 (AES-256): 60 bytes of plaintext, 20 of aad.
const gcmCase = {
  nonce: 'cafebabefacedbaddecaf888',
  plain:
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
  aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
  keys: [
    {
      key: 'feffe9928665731c6d6a8f9467308308',
      sealed:
        '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091' +
        '5bc94fbc3221a5db94fae95ae7121a47',
    },
    {
      key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
      sealed:
        '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
        '76fc6ece0f4e1768cddf8853bb2d551b',
    },
  ],
};

describe.each(providers)('$name provider: AES-GCM', (p) => {
  const nonce = unhex(gcmCase.nonce);
  const plain = unhex(gcmCase.plain);
  const aad = unhex(gcmCase.aad);

  it('seals and opens the GCM specification test cases 4 and 16, whole or in pieces', () => {
    for (const { key, sealed } of gcmCase.keys) {
      const k = unhex(key);
      const pieces = p.aesGcmSeal(k, nonce, plain, aad);
      expect(hex(joined(pieces))).toBe(sealed);
      expect(pieces.at(-1)).toHaveLength(16);
      expect(
        hex(
          joined(
            p.aesGcmSeal(k, nonce, [plain.subarray(0, 7), plain.subarray(7, 7), plain.subarray(7)], aad),
          ),
        ),
      ).toBe(sealed);
      expect(hex(p.aesGcmOpen(k, nonce, unhex(sealed), aad)!)).toBe(gcmCase.plain);
    }
    // Nothing to encrypt: the tag alone.
    const k = unhex(gcmCase.keys[0]!.key);
    const empty = joined(p.aesGcmSeal(k, nonce, []));
    expect(empty).toHaveLength(16);
    expect(p.aesGcmOpen(k, nonce, empty)).toEqual(new Uint8Array(0));
  });

  it('opens nothing tampered, truncated, or under another key, nonce or aad: undefined', () => {
    const { key, sealed } = gcmCase.keys[1]!;
    const k = unhex(key);
    const good = unhex(sealed);
    expect(p.aesGcmOpen(k, nonce, good, aad)).toBeDefined();
    const flip = (i: number) => {
      const b = Uint8Array.from(good);
      b[i]! ^= 0x01;
      return b;
    };
    expect(p.aesGcmOpen(k, nonce, flip(0), aad)).toBeUndefined(); // ciphertext
    expect(p.aesGcmOpen(k, nonce, flip(good.length - 1), aad)).toBeUndefined(); // tag
    expect(p.aesGcmOpen(k, nonce, good.subarray(0, good.length - 1), aad)).toBeUndefined();
    expect(p.aesGcmOpen(k, nonce, good.subarray(1), aad)).toBeUndefined();
    expect(p.aesGcmOpen(k, nonce, good.subarray(0, 15), aad)).toBeUndefined(); // shorter than a tag
    expect(p.aesGcmOpen(k, nonce, new Uint8Array(0), aad)).toBeUndefined();
    expect(p.aesGcmOpen(unhex(gcmCase.keys[1]!.key.replace(/^f/, 'e')), nonce, good, aad)).toBeUndefined();
    expect(p.aesGcmOpen(k, unhex(gcmCase.nonce.replace(/^c/, 'd')), good, aad)).toBeUndefined();
    expect(p.aesGcmOpen(k, nonce, good, aad.subarray(1))).toBeUndefined();
    expect(p.aesGcmOpen(k, nonce, good)).toBeUndefined();
    // Under the 16-byte key of test case 4, the sealed bytes of case 16 do not open either.
    expect(p.aesGcmOpen(unhex(gcmCase.keys[0]!.key), nonce, good, aad)).toBeUndefined();
  });

  it('takes misuse (a key of another length, a nonce other than 12 bytes) as a TypeError', () => {
    const k = unhex(gcmCase.keys[0]!.key);
    for (const bad of [new Uint8Array(24), new Uint8Array(0), new Uint8Array(31)]) {
      expect(() => p.aesGcmSeal(bad, nonce, plain)).toThrow(TypeError);
      expect(() => p.aesGcmOpen(bad, nonce, plain)).toThrow(TypeError);
    }
    for (const bad of [new Uint8Array(8), new Uint8Array(16)]) {
      expect(() => p.aesGcmSeal(k, bad, plain)).toThrow(TypeError);
      expect(() => p.aesGcmOpen(k, bad, plain)).toThrow(TypeError);
    }
  });

  it('opens what every other provider sealed, and they open what it sealed', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 40 }),
        (key, n, message, ad) => {
          for (const q of providers) {
            const sealed = joined(p.aesGcmSeal(key, n, message, ad));
            expect(hex(joined(q.aesGcmSeal(key, n, message, ad)))).toBe(hex(sealed));
            expect(q.aesGcmOpen(key, n, sealed, ad)).toEqual(message);
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe.each(providers)('$name provider: raw deflate', (p) => {
  const dictionary = new TextEncoder().encode('"method":"sms-otp","level":"otp","issuer":"verifier1"');
  const text = new TextEncoder().encode(
    `{"m":[${Array.from({ length: 20 }, (_, i) => `{"method":"sms-otp","level":"otp","issuer":"verifier${i}"}`).join(',')}]}`,
  );

  it('inflates what every provider deflated, with and without a preset dictionary, at any level', () => {
    for (const q of providers) {
      for (const level of [0, 1, 6, 9] as const) {
        expect(p.inflateRaw(q.deflateRaw(text, { level }), { maxOutputLength: 1 << 20 })).toEqual(text);
        const packed = q.deflateRaw(text, { level, dictionary });
        expect(p.inflateRaw(packed, { maxOutputLength: 1 << 20, dictionary })).toEqual(text);
      }
      // A string is deflated as its UTF-8.
      const accented = 'naïve café, 東京';
      expect(
        p.inflateRaw(q.deflateRaw(accented, { level: 9, dictionary }), { maxOutputLength: 100, dictionary }),
      ).toEqual(new TextEncoder().encode(accented));
      expect(p.inflateRaw(q.deflateRaw(new Uint8Array(0), { level: 9 }), { maxOutputLength: 10 })).toEqual(
        new Uint8Array(0),
      );
    }
    // The dictionary is used: the text compresses better with it.
    expect(p.deflateRaw(text, { level: 9, dictionary }).length).toBeLessThan(
      p.deflateRaw(text, { level: 9 }).length,
    );
  });

  it('inflates random data that every provider deflated, in one slice or many', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.boolean(), (data, withDictionary) => {
        const opts = withDictionary ? { dictionary } : {};
        for (const q of providers) {
          const packed = q.deflateRaw(data, { level: 6, ...opts });
          expect(p.inflateRaw(packed, { maxOutputLength: 1 << 20, ...opts })).toEqual(data);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('gives undefined for a truncated or malformed stream, and past maxOutputLength (a deflate bomb)', () => {
    const packed = p.deflateRaw(text, { level: 9 });
    expect(p.inflateRaw(packed.subarray(0, packed.length - 2), { maxOutputLength: 1 << 20 })).toBeUndefined();
    expect(p.inflateRaw(new Uint8Array(0), { maxOutputLength: 1 << 20 })).toBeUndefined();
    // Block type 3 is reserved (RFC 1951 §3.2.3).
    expect(p.inflateRaw(Uint8Array.of(0x07, 0, 0, 0), { maxOutputLength: 1 << 20 })).toBeUndefined();
    expect(p.inflateRaw(packed, { maxOutputLength: text.length - 1 })).toBeUndefined();
    expect(p.inflateRaw(packed, { maxOutputLength: text.length })).toEqual(text);
    // 16 MiB of zeros deflate to about 16 KiB: refused at a 1 MiB bound.
    const bomb = nodeCrypto.deflateRaw(new Uint8Array(16 << 20), { level: 9 });
    expect(bomb.length).toBeLessThan(20_000);
    expect(p.inflateRaw(bomb, { maxOutputLength: 1 << 20 })).toBeUndefined();
  });

  it('never throws on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (data, withDictionary) => {
        const got = p.inflateRaw(data, {
          maxOutputLength: 1 << 16,
          ...(withDictionary ? { dictionary } : {}),
        });
        expect(got === undefined || got instanceof Uint8Array).toBe(true);
      }),
    );
  });
});

// RFC 5869 Appendix A test cases 1 and 3 (no salt, no info), through each provider's HMAC.
describe.each(providers)('$name provider: HKDF-SHA256 (src/crypto/hkdf.ts)', (p) => {
  const before = cryptoProvider();
  beforeAll(() => useCryptoProvider(p));
  afterAll(() => useCryptoProvider(before));
  const ikm = new Uint8Array(22).fill(0x0b);

  it('gives the RFC 5869 output keys', () => {
    expect(hex(hkdfSha256(ikm, unhex('000102030405060708090a0b0c'), unhex('f0f1f2f3f4f5f6f7f8f9'), 42))).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
    expect(hex(hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 42))).toBe(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    );
    expect(hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 0)).toHaveLength(0);
  });

  it('takes a length past 255 blocks as a TypeError (RFC 5869 §2.3)', () => {
    expect(hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 255 * 32)).toHaveLength(255 * 32);
    expect(() => hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 255 * 32 + 1)).toThrow(TypeError);
  });
});
