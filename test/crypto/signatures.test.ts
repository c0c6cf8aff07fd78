import { createPrivateKey, createPublicKey, verify as edVerify } from 'node:crypto';
import { inspect } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/crypto/jcs.js';
import { generateKeyPair, importPublicKey, keyPairFromJwk, keyPairToJwk } from '../../src/crypto/keys.js';
import { cryptoProvider, useCryptoProvider } from '../../src/crypto/provider.js';
import { nativeCrypto } from '../../src/crypto/provider-native.js';
import { nodeCrypto } from '../../src/crypto/provider-node.js';
import { wasmCrypto } from '../../src/crypto/provider-wasm.js';
import { SignPurpose, signObject, verifyInput, verifyObject } from '../../src/crypto/sign.js';
import ed from '../vectors/rfc8032-ed25519.json' with { type: 'json' };
import jcs from '../vectors/rfc8785-jcs.json' with { type: 'json' };

const b64u = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

describe('RFC 8785 canonical JSON', () => {
  it('matches the RFC sample document', () => {
    const doc = jcs.documents[0]!;
    expect(canonicalize(JSON.parse(doc.input))).toBe(doc.output);
  });

  it('sorts keys by UTF-16 code units (RFC 8785 section 3.2.3)', () => {
    const doc = jcs.documents[1]!;
    // Read the order off the text: JSON.parse would move the integer-like key "1" to the front.
    const out = canonicalize(JSON.parse(doc.input));
    const positions = doc.keyOrder!.map((k) => out.indexOf(`${JSON.stringify(k)}:`));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('serialises numbers as ES6 does', () => {
    for (const [hex, expected] of jcs.numbers as [string, string][]) {
      const n = Buffer.from(hex, 'hex').readDoubleBE(0);
      expect(canonicalize(n)).toBe(expected);
    }
  });

  it('is stable: canonical output parses back to the same canonical output', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const once = canonicalize(v);
        expect(canonicalize(JSON.parse(once))).toBe(once);
      }),
    );
  });
});

// Signing goes through the crypto provider too (src/crypto/provider.ts): both must give the RFC's
// bytes, and node:crypto (another implementation) must accept them.
describe.each([nativeCrypto, wasmCrypto])(
  'Ed25519 signing (RFC 8032 vectors, $name provider)',
  (provider) => {
    const before = cryptoProvider();
    beforeAll(() => useCryptoProvider(provider));
    afterAll(() => useCryptoProvider(before));
    for (const [i, v] of ed.vectors.entries()) {
      it(`TEST ${i + 1}: our key import signs as the RFC says`, () => {
        const pair = keyPairFromJwk({
          kty: 'OKP',
          crv: 'Ed25519',
          x: b64u(v.publicKey),
          d: b64u(v.secretKey),
        });
        const message = Buffer.from(v.message, 'hex');
        const sig = pair.privateKey.sign(message);
        expect(Buffer.from(sig).toString('hex')).toBe(v.signature);
        expect(pair.publicKey).toBe(b64u(v.publicKey));
        const nodeKey = createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: pair.publicKey },
          format: 'jwk',
        });
        expect(edVerify(null, message, nodeKey, sig)).toBe(true);
      });
    }

    it('a generated key signs what its public key verifies', () => {
      const pair = generateKeyPair();
      const sig = signObject(SignPurpose.Session, { a: 1 }, pair.privateKey);
      expect(verifyObject(SignPurpose.Session, { a: 1 }, sig, pair.publicKey)).toBe(true);
      expect(verifyObject(SignPurpose.Session, { a: 2 }, sig, pair.publicKey)).toBe(false);
    });
  },
);

describe('Ed25519 keys', () => {
  it('shows no secret when logged or serialised', () => {
    const pair = generateKeyPair();
    const d = keyPairToJwk(pair).d!;
    expect(JSON.stringify(pair)).not.toContain(d);
    expect(inspect(pair.privateKey, { showHidden: true, depth: 5 })).not.toContain(d);
    expect(Object.keys(pair.privateKey)).toEqual(['publicKey']);
  });

  it('refuses a JWK whose public half does not belong to its private half', () => {
    const [a, b] = ed.vectors;
    expect(() =>
      keyPairFromJwk({ kty: 'OKP', crv: 'Ed25519', x: b64u(b!.publicKey), d: b64u(a!.secretKey) }),
    ).toThrow(expect.objectContaining({ code: 'config-invalid' }));
  });

  it('round-trips keys through JWK', () => {
    const pair = generateKeyPair();
    const again = keyPairFromJwk(keyPairToJwk(pair));
    expect(again.publicKey).toBe(pair.publicKey);
    expect(createPrivateKey({ key: { ...keyPairToJwk(pair) }, format: 'jwk' }).asymmetricKeyType).toBe(
      'ed25519',
    );
  });
});

// Every crypto provider (src/crypto/provider.ts) verifies with libsodium: the server's native
// binding, and the WebAssembly build in the SDK's Node and portable providers must accept exactly
// the same signatures, so every case runs on each.
describe.each([nativeCrypto, nodeCrypto, wasmCrypto])(
  'Ed25519 verification through libsodium (verifyInput, $name provider)',
  (provider) => {
    const before = cryptoProvider();
    beforeAll(() => useCryptoProvider(provider));
    afterAll(() => useCryptoProvider(before));
    // The group order L, little-endian as S is encoded (RFC 8032 §5.1).
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const le = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse();
    const sOf = (sig: Buffer) => BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`);

    for (const [i, v] of ed.vectors.entries()) {
      it(`TEST ${i + 1}: the RFC signature verifies, and fails for another message or key`, () => {
        const msg = Buffer.from(v.message, 'hex');
        expect(verifyInput(msg, b64u(v.signature), b64u(v.publicKey))).toBe(true);
        expect(
          verifyInput(Buffer.concat([msg, Buffer.from([0])]), b64u(v.signature), b64u(v.publicKey)),
        ).toBe(false);
        const other = ed.vectors[(i + 1) % ed.vectors.length]!;
        expect(verifyInput(msg, b64u(v.signature), b64u(other.publicKey))).toBe(false);
      });
    }

    it('refuses S + L, the malleated second form of a valid signature (RFC 8032 §5.1.7)', () => {
      const v = ed.vectors[1]!;
      const sig = Buffer.from(v.signature, 'hex');
      const malleated = Buffer.concat([sig.subarray(0, 32), le(sOf(sig) + L)]);
      expect(
        verifyInput(Buffer.from(v.message, 'hex'), malleated.toString('base64url'), b64u(v.publicKey)),
      ).toBe(false);
    });

    it('refuses the identity key, under which R = identity, S = 0 "signs" every message', () => {
      // The cofactorless equation [S]B = R + [k]A holds for A = R = identity and S = 0 whatever
      // the message: a verifier must refuse small-order keys (libsodium does).
      const identity = Buffer.alloc(32);
      identity[0] = 1;
      const forged = Buffer.concat([identity, Buffer.alloc(32)]).toString('base64url');
      expect(verifyInput(Buffer.from('any message'), forged, identity.toString('base64url'))).toBe(false);
    });

    it('refuses the identity key in its other spellings too (y = p + 1, and x = -0)', () => {
      // Same forgery as above; a decoder that reduces y mod p, or ignores the sign of x = 0, sees
      // the identity again. libsodium refuses both spellings (non-canonical, small order).
      const yIsPPlus1 = Buffer.concat([Buffer.from([0xee]), Buffer.alloc(30, 0xff), Buffer.from([0x7f])]);
      const minusZero = Buffer.concat([Buffer.from([1]), Buffer.alloc(30), Buffer.from([0x80])]);
      const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
      for (const key of [yIsPPlus1, minusZero]) {
        const forged = Buffer.concat([identity, Buffer.alloc(32)]).toString('base64url');
        expect(verifyInput(Buffer.from('any message'), forged, key.toString('base64url'))).toBe(false);
      }
    });

    it('refuses a small-order R even where the equation holds for a real key', () => {
      // R = identity and S = k * a (k = H(R || A || M) mod L, a the RFC key's secret scalar):
      // [S]B = R + [k]A holds, and ZIP-215's permissive rules accept it; libsodium refuses R.
      const v = ed.vectors[0]!;
      const msg = Buffer.from('a message the key never signed');
      const pub = Buffer.from(v.publicKey, 'hex');
      const { scalar } = ed25519.utils.getExtendedPublicKey(Buffer.from(v.secretKey, 'hex'));
      const R = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
      const kBytes = Buffer.from(sha512(Buffer.concat([R, pub, msg]))).reverse();
      const k = BigInt(`0x${kBytes.toString('hex')}`) % L;
      const sig = Buffer.concat([R, le((k * scalar) % L)]);
      expect(ed25519.verify(sig, msg, pub, { zip215: true })).toBe(true);
      expect(verifyInput(msg, sig.toString('base64url'), b64u(v.publicKey))).toBe(false);
    });

    it('refuses a key that is not 32 bytes or not canonical base64url', () => {
      const v = ed.vectors[0]!;
      expect(verifyInput(Buffer.alloc(0), b64u(v.signature), b64u(v.publicKey).slice(0, -2))).toBe(false);
      expect(verifyInput(Buffer.alloc(0), b64u(v.signature), `${b64u(v.publicKey)}AA`)).toBe(false);
    });
  },
);

describe('domain-separated signatures', () => {
  const pair = generateKeyPair();
  const record = { v: 1, csi: 'tel:+14155550101', tag: 'Default', priority: 0 };
  const sig = signObject(SignPurpose.MappingHolder, record, pair.privateKey);

  it('verifies for its purpose, key and object', () => {
    expect(verifyObject(SignPurpose.MappingHolder, record, sig, pair.publicKey)).toBe(true);
    // Key order does not matter: JCS makes one form.
    expect(
      verifyObject(
        SignPurpose.MappingHolder,
        { priority: 0, tag: 'Default', csi: record.csi, v: 1 },
        sig,
        pair.publicKey,
      ),
    ).toBe(true);
  });

  it('fails for another purpose (no replay as another kind of record)', () => {
    for (const purpose of Object.values(SignPurpose).filter((p) => p !== SignPurpose.MappingHolder)) {
      expect(verifyObject(purpose, record, sig, pair.publicKey)).toBe(false);
    }
  });

  it('fails when tampered, truncated, extended, or checked against a swapped key', () => {
    expect(verifyObject(SignPurpose.MappingHolder, { ...record, tag: 'business' }, sig, pair.publicKey)).toBe(
      false,
    );
    expect(verifyObject(SignPurpose.MappingHolder, record, sig.slice(0, -2), pair.publicKey)).toBe(false);
    expect(verifyObject(SignPurpose.MappingHolder, record, `${sig}AA`, pair.publicKey)).toBe(false);
    expect(verifyObject(SignPurpose.MappingHolder, record, sig, generateKeyPair().publicKey)).toBe(false);
    const flipped = Buffer.from(sig, 'base64url');
    flipped[10]! ^= 1;
    expect(
      verifyObject(SignPurpose.MappingHolder, record, flipped.toString('base64url'), pair.publicKey),
    ).toBe(false);
  });

  it('refuses a second spelling of the same signature (non-zero spare bits)', () => {
    const last = sig.at(-1)!;
    const other = last === 'A' ? 'B' : String.fromCharCode(last.charCodeAt(0) + 1);
    expect(
      verifyObject(SignPurpose.MappingHolder, record, `${sig.slice(0, -1)}${other}`, pair.publicKey),
    ).toBe(false);
  });

  it('never throws on garbage keys or signatures', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (s, k) => {
        expect(verifyObject(SignPurpose.MappingHolder, record, s, k)).toBe(false);
      }),
    );
    expect(() => importPublicKey('not a key')).toThrow(expect.objectContaining({ code: 'record-invalid' }));
  });
});
