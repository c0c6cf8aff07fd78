import { createPrivateKey } from 'node:crypto';
import { publicVerif, TokenChallenge } from '@cloudflare/privacypass-ts';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  blindTokenRequest,
  importTokenKey,
  tokenKeyId,
  verifyTokenSignature,
} from '../../src/crypto/privacy-pass.js';
import { tokenKeyOf } from '../../src/crypto/token-key.js';
import { isMimiError } from '../../src/protocol/errors.js';
import {
  decodeToken,
  PrivacyPass,
  parsePrivateTokenHeader,
  privateTokenHeader,
  tokenChallengeFor,
} from '../../src/protocol/privacy-pass.js';
import { blindSign } from '../../src/server/token-issuer.js';
import vectors from '../vectors/rfc9578-blind-rsa.json' with { type: 'json' };

/**
 * RFC 9578 Appendix A.2 (token type 2, Blind RSA 2048): the client's request and token (ours,
 * cross-checked against @cloudflare/privacypass-ts), the issuer's blind signature through
 * node:crypto (ours), the origin's checks (ours), and the codecs of RFC 9577 §2.
 */
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const pkS = hex(vectors.pkS);
const skS = createPrivateKey(Buffer.from(vectors.skS, 'hex').toString());

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isMimiError(err) ? err.code : 'not-a-mimi-error';
  }
  return undefined;
}

describe('RFC 9578 A.2 vectors', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(vectors.vectors.map((v, i) => [i + 1, v] as const))(
    'vector %i: request, blind signature, token, verification',
    async (_n, v) => {
      const challenge = TokenChallenge.deserialize(hex(v.token_challenge));
      // The library draws nonce, salt and blind in this order (its own vector test does the same).
      const queue = [hex(v.nonce), hex(v.salt), hex(v.blind)];
      const real = crypto.getRandomValues.bind(crypto);
      vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
        const next = queue.shift();
        if (next === undefined || a === null) return real(a as never) as T;
        (a as unknown as Uint8Array).set(next);
        return a;
      });
      const pending = await blindTokenRequest(pkS, challenge.issuerName, challenge.originInfo?.[0] ?? '');
      // Vector 1 has a redemption context; ours is always empty, so only vector 2 has our shape.
      if (challenge.redemptionContext.length === 0) {
        expect(Buffer.from(pending.request).toString('hex')).toBe(v.token_request);
      }
      const request = hex(v.token_request);
      const response = blindSign(skS, request.subarray(3));
      expect(Buffer.from(response).toString('hex')).toBe(v.token_response);
      const token = decodeToken(hex(v.token));
      expect(Buffer.from(token.tokenKeyId)).toEqual(Buffer.from(await tokenKeyId(pkS)));
      // The truncated key id is the last byte of the key id.
      expect(request[2]).toBe(token.tokenKeyId[31]);
      expect(Buffer.from(token.challengeDigest)).toEqual(
        Buffer.from(await crypto.subtle.digest('SHA-256', hex(v.token_challenge))),
      );
      const key = await importTokenKey(pkS);
      expect(await verifyTokenSignature(token, key)).toBe(true);
      // Tampered: one bit of the nonce, or of the authenticator.
      for (const at of [5, 200]) {
        const bad = hex(v.token);
        bad[at]! ^= 1;
        expect(await verifyTokenSignature(decodeToken(bad), key)).toBe(false);
      }
    },
  );

  it('vector 2 finalizes to the vector token', async () => {
    const v = vectors.vectors[1]!;
    const queue = [hex(v.nonce), hex(v.salt), hex(v.blind)];
    vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
      (a as unknown as Uint8Array).set(queue.shift()!);
      return a;
    });
    const pending = await blindTokenRequest(pkS, 'issuer.example', 'origin.example');
    vi.restoreAllMocks();
    const token = await pending.finalize(hex(v.token_response));
    expect(Buffer.from(token).toString('hex')).toBe(v.token);
    // A response for another request does not finalize.
    const other = hex(vectors.vectors[0]!.token_response);
    const again = await blindTokenRequest(pkS, 'issuer.example', 'origin.example');
    await expect(again.finalize(other)).rejects.toMatchObject({ code: 'token-invalid' });
    await expect(again.finalize(other.subarray(1))).rejects.toMatchObject({ code: 'token-invalid' });
  });

  it('cross-check: the same random draws give the request and token of the library client', async () => {
    // Ours (BigInt, src/crypto/blind-rsa.ts) against @cloudflare/privacypass-ts (sjcl), both fed
    // one random stream: the same TokenRequest, and each finalizes the issuer's answer to the
    // same Token.
    const challenge = tokenChallengeFor('issuer.example', 'dp1');
    for (let run = 0; run < 4; run++) {
      const draws: Uint8Array[] = [];
      const real = crypto.getRandomValues.bind(crypto);
      const spy = vi.spyOn(crypto, 'getRandomValues');
      spy.mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
        real(a as never);
        draws.push((a as unknown as Uint8Array).slice());
        return a;
      });
      const ours = await blindTokenRequest(pkS, 'issuer.example', 'dp1');
      const replay = [...draws];
      spy.mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
        (a as unknown as Uint8Array).set(replay.shift()!);
        return a;
      });
      const lib = new publicVerif.Client(publicVerif.BlindRSAMode.PSS);
      const theirs = await lib.createTokenRequest(challenge, pkS);
      spy.mockRestore();
      expect(Buffer.from(ours.request)).toEqual(Buffer.from(theirs.serialize()));
      const response = blindSign(skS, ours.request.subarray(3));
      const token = await ours.finalize(response);
      const libToken = await lib.finalize(new publicVerif.TokenResponse(response.slice()));
      expect(Buffer.from(token)).toEqual(Buffer.from(libToken.serialize()));
    }
  });

  it('the token key we derive from the issuer key is the vector pkS (RFC 9578 §6.5)', () => {
    expect(
      Buffer.from(tokenKeyOf(Buffer.from(vectors.skS, 'hex').toString()), 'base64url').toString('hex'),
    ).toBe(vectors.pkS);
  });

  it('our TokenChallenge (empty context, origin = DP id) is the one of vector 2', () => {
    const ours = tokenChallengeFor('issuer.example', 'origin.example').serialize();
    expect(Buffer.from(ours).toString('hex')).toBe(vectors.vectors[1]!.token_challenge);
  });

  it('blind signatures refuse a message of the wrong length or out of range', () => {
    expect(code(() => blindSign(skS, new Uint8Array(255)))).toBe('token-request-malformed');
    expect(code(() => blindSign(skS, new Uint8Array(256).fill(0xff)))).toBe('token-request-malformed');
  });

  it('a key that is not RSA-2048 RSASSA-PSS is refused', async () => {
    await expect(importTokenKey(pkS.subarray(1))).rejects.toMatchObject({ code: 'token-key-unknown' });
    const bad = pkS.slice();
    bad[40]! ^= 0xff;
    await expect(importTokenKey(bad)).rejects.toMatchObject({ code: 'token-key-unknown' });
  });
});

describe('RFC 9577 token and header codecs', () => {
  const token = hex(vectors.vectors[0]!.token);

  it('decodes exactly one type-2 token', () => {
    expect(code(() => decodeToken(token.subarray(0, PrivacyPass.TokenLength - 1)))).toBe('token-malformed');
    expect(code(() => decodeToken(new Uint8Array([...token, 0])))).toBe('token-malformed');
    const type1 = token.slice();
    type1[1] = 1;
    expect(code(() => decodeToken(type1))).toBe('token-malformed');
  });

  it('parses the Authorization header it writes, quoted or not, padded or not', () => {
    const header = privateTokenHeader(token);
    expect(parsePrivateTokenHeader(header)).toEqual(token);
    const b = Buffer.from(token).toString('base64url');
    expect(parsePrivateTokenHeader(`privatetoken token=${b}`)).toEqual(token);
    expect(parsePrivateTokenHeader(`PrivateToken token="${b}=="`)).toEqual(token);
    expect(parsePrivateTokenHeader(`Bearer ${b}`)).toBeUndefined();
    for (const bad of [
      'PrivateToken',
      'PrivateToken token=',
      `PrivateToken token="${b}", token="${b}"`,
      `PrivateToken challenge="${b}"`,
      `PrivateToken token="${b}`,
      'PrivateToken token=a+b/',
      `PrivateToken token=${'A'.repeat(2000)}`,
    ]) {
      expect(code(() => parsePrivateTokenHeader(bad))).toBe('token-malformed');
    }
  });

  it('garbage never throws anything but token-malformed', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), fc.uint8Array({ maxLength: 400 }), (s, bytes) => {
        const c1 = code(() => parsePrivateTokenHeader(`PrivateToken ${s}`));
        expect(c1 === undefined || c1 === 'token-malformed').toBe(true);
        const c2 = code(() => decodeToken(bytes));
        expect(c2 === undefined || c2 === 'token-malformed').toBe(true);
      }),
    );
  });
});
