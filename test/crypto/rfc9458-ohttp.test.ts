import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  encodeResponseParts,
} from '../../src/crypto/bhttp.js';
import {
  decapsulateRequest,
  decapsulateResponse,
  decodeKeyConfig,
  decodeKeyConfigList,
  encapsulateRequest,
  encodeKeyConfig,
  encodeKeyConfigList,
  type GatewayKey,
  gatewayKeyFromPrivate,
  offersSuite,
} from '../../src/crypto/ohttp.js';
import { cryptoProvider, useCryptoProvider } from '../../src/crypto/provider.js';
import { nativeCrypto } from '../../src/crypto/provider-native.js';
import { wasmCrypto } from '../../src/crypto/provider-wasm.js';
import { MimiError } from '../../src/protocol/errors.js';

interface Vector {
  skR: string;
  keyConfig: string;
  request: string;
  skE: string;
  pkE: string;
  encapsulatedRequest: string;
  response: string;
  exportSecret: string;
  responseNonce: string;
  encapsulatedResponse: string;
}
const A = JSON.parse(
  readFileSync(new URL('../vectors/rfc9458-ohttp.json', import.meta.url), 'utf8'),
) as Vector;
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof MimiError ? err.code : `not a MimiError: ${String(err)}`;
  }
  return undefined;
}

// The response's AES-GCM and HKDF are the crypto provider's: node:crypto's on the gateway,
// @noble/ciphers' in a browser.
describe.each([nativeCrypto, wasmCrypto])('RFC 9458 Appendix A ($name provider)', (provider) => {
  let key: GatewayKey;
  let keys: Map<number, GatewayKey>;
  const before = cryptoProvider();
  beforeAll(async () => {
    useCryptoProvider(provider);
    key = await gatewayKeyFromPrivate(1, hex(A.skR));
    keys = new Map([[1, key]]);
  });
  afterAll(() => useCryptoProvider(before));

  it('parses the key configuration (two suites) and re-encodes it byte for byte', () => {
    const cfg = decodeKeyConfig(hex(A.keyConfig));
    expect(cfg.keyId).toBe(1);
    expect(cfg.suites).toEqual([
      { kdfId: 1, aeadId: 1 },
      { kdfId: 1, aeadId: 3 },
    ]);
    expect(offersSuite(cfg)).toBe(true);
    expect(toHex(encodeKeyConfig(cfg))).toBe(A.keyConfig);
    // The gateway's own configuration of skR has the same key, offering only AES-128-GCM.
    expect(toHex(decodeKeyConfig(key.config).publicKey)).toBe(toHex(cfg.publicKey));
  });

  it('encapsulates the request to the exact bytes of the example', async () => {
    const { encapsulated, context } = await encapsulateRequest(
      decodeKeyConfig(hex(A.keyConfig)),
      hex(A.request),
      {
        ephemeralPrivateKey: hex(A.skE),
      },
    );
    expect(toHex(encapsulated)).toBe(A.encapsulatedRequest);
    expect(toHex(context.enc)).toBe(A.pkE);
    expect(toHex(context.secret)).toBe(A.exportSecret);
    expect(toHex(decapsulateResponse(context, hex(A.encapsulatedResponse)))).toBe(A.response);
  });

  it('the gateway decapsulates the example request and answers with the example response', async () => {
    const d = await decapsulateRequest(keys, hex(A.encapsulatedRequest));
    expect(toHex(d.request)).toBe(A.request);
    expect(toHex(d.respond(hex(A.response), hex(A.responseNonce)))).toBe(A.encapsulatedResponse);
    // The same response given in pieces (as the gateway passes a large answer) seals the same.
    const r = hex(A.response);
    const pieces = [r.subarray(0, 1), r.subarray(1, 1), r.subarray(1)];
    expect(toHex(d.respond(pieces, hex(A.responseNonce)))).toBe(A.encapsulatedResponse);
  });

  it('the example Binary HTTP messages decode (truncated empty sections, RFC 9292 §3.8)', () => {
    expect(decodeRequest(hex(A.request))).toMatchObject({
      method: 'GET',
      scheme: 'https',
      authority: 'example.com',
      path: '/',
      headers: [],
    });
    expect(decodeResponse(hex(A.response))).toMatchObject({ status: 200, headers: [] });
  });
});

describe('OHTTP refusals', () => {
  let key: GatewayKey;
  let keys: Map<number, GatewayKey>;
  beforeAll(async () => {
    key = await gatewayKeyFromPrivate(7, new Uint8Array(32).fill(9));
    keys = new Map([[7, key]]);
  });
  const seal = async (body = new Uint8Array([1, 2, 3])) =>
    encapsulateRequest(decodeKeyConfig(key.config), body);

  it('a wrong key id is ohttp-key-unknown', async () => {
    const { encapsulated } = await seal();
    encapsulated[0] = 8;
    expect(await codeOf(decapsulateRequest(keys, encapsulated))).toBe('ohttp-key-unknown');
  });

  it('another suite is ohttp-key-unknown', async () => {
    for (const at of [2, 4, 6]) {
      const { encapsulated } = await seal();
      encapsulated[at] = 3;
      expect(await codeOf(decapsulateRequest(keys, encapsulated))).toBe('ohttp-key-unknown');
    }
  });

  it('a truncated request is ohttp-malformed or ohttp-decrypt-failed, never accepted', async () => {
    const { encapsulated } = await seal();
    for (let n = 0; n < encapsulated.length; n++) {
      const code = await codeOf(decapsulateRequest(keys, encapsulated.slice(0, n)));
      expect(n < 7 + 32 + 16 ? code === 'ohttp-malformed' : code === 'ohttp-decrypt-failed').toBe(true);
    }
  });

  it('any flipped bit of enc or ciphertext is ohttp-decrypt-failed', async () => {
    const { encapsulated } = await seal();
    for (let i = 7; i < encapsulated.length; i++) {
      const t = encapsulated.slice();
      t[i]! ^= 0x01;
      expect(await codeOf(decapsulateRequest(keys, t))).toBe('ohttp-decrypt-failed');
    }
  });

  it('a response opens only with the context of its own request', async () => {
    const a = await seal();
    const b = await seal();
    const d = await decapsulateRequest(keys, a.encapsulated);
    const res = d.respond(new Uint8Array([4, 5, 6]));
    expect(decapsulateResponse(a.context, res)).toEqual(new Uint8Array([4, 5, 6]));
    expect(await codeOf(() => decapsulateResponse(b.context, res))).toBe('ohttp-decrypt-failed');
    const t = res.slice();
    t[t.length - 1]! ^= 1;
    expect(await codeOf(() => decapsulateResponse(a.context, t))).toBe('ohttp-decrypt-failed');
    expect(await codeOf(() => decapsulateResponse(a.context, res.slice(0, 31)))).toBe('ohttp-malformed');
  });

  it('key config lists round-trip; a truncated list or config is refused', async () => {
    const other = await gatewayKeyFromPrivate(8, new Uint8Array(32).fill(1));
    const list = encodeKeyConfigList([key.config, other.config]);
    expect(decodeKeyConfigList(list)).toEqual([key.config, other.config]);
    expect(await codeOf(() => decodeKeyConfigList(list.slice(0, list.length - 1)))).toBe('ohttp-malformed');
    expect(await codeOf(() => decodeKeyConfig(key.config.slice(0, 40)))).toBe('ohttp-malformed');
    const otherKem = key.config.slice();
    otherKem[2] = 0x10;
    expect(await codeOf(() => decodeKeyConfig(otherKem))).toBe('ohttp-key-unknown');
  });
});

describe('RFC 9292 Binary HTTP', () => {
  const field = fc.tuple(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
    fc.stringMatching(/^[!-~]([ !-~]{0,30}[!-~])?$/),
  );
  const request = fc.record({
    method: fc.constantFrom('GET', 'POST'),
    scheme: fc.constant('https'),
    authority: fc.stringMatching(/^[a-z0-9.:-]{0,20}$/),
    path: fc.stringMatching(/^\/[!-~]{0,40}$/),
    headers: fc.array(field, { maxLength: 8 }),
    content: fc.uint8Array({ maxLength: 300 }),
  });

  it('decode(encode(request)) = request, repeated fields kept', () => {
    fc.assert(
      fc.property(request, (r) => {
        expect(decodeRequest(encodeRequest(r))).toEqual(r);
      }),
    );
    const twice = encodeRequest({
      method: 'GET',
      scheme: 'https',
      authority: '',
      path: '/',
      headers: [
        ['accept', 'a'],
        ['accept', 'b'],
      ],
      content: new Uint8Array(0),
    });
    expect(decodeRequest(twice).headers).toEqual([
      ['accept', 'a'],
      ['accept', 'b'],
    ]);
  });

  it('decode(encode(response)) = response, large integers included', () => {
    const response = fc.record({
      status: fc.integer({ min: 200, max: 599 }),
      headers: fc.array(field, { maxLength: 8 }),
      content: fc.uint8Array({ maxLength: 70_000 }),
    });
    fc.assert(
      fc.property(response, (r) => {
        expect(decodeResponse(encodeResponse(r))).toEqual(r);
        // In pieces, the content split anywhere: the same bytes once joined.
        const at = Math.floor(r.content.length / 3);
        const parts = encodeResponseParts({
          ...r,
          content: [r.content.subarray(0, at), r.content.subarray(at)],
        });
        expect(Buffer.concat(parts)).toEqual(Buffer.from(encodeResponse(r)));
      }),
      {
        numRuns: 30,
      },
    );
  });

  it('garbage and every truncation throw only ohttp-malformed', async () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [decodeRequest, decodeResponse]) {
          try {
            decode(bytes);
          } catch (err) {
            expect(err instanceof MimiError && err.code === 'ohttp-malformed').toBe(true);
          }
        }
      }),
    );
    const full = encodeRequest({
      method: 'POST',
      scheme: 'https',
      authority: 'dp',
      path: '/v1/private/evaluate',
      headers: [['content-type', 'application/json']],
      content: new Uint8Array(100).fill(0x61),
    });
    // Truncation inside a section or the content is refused (only whole empty sections may go).
    for (let n = 1; n < full.length; n++) {
      const code = await codeOf(() => decodeRequest(full.slice(0, n)));
      if (code !== undefined) expect(code).toBe('ohttp-malformed');
    }
    expect(await codeOf(() => decodeRequest(full.slice(0, full.length - 50)))).toBe('ohttp-malformed');
  });

  it('uppercase names, CR/LF in values, non-zero padding and bad statuses are refused', async () => {
    const bad = Buffer.from(
      encodeResponse({ status: 200, headers: [['x', 'y']], content: new Uint8Array() }),
    );
    const upper = Buffer.from(bad);
    upper[upper.indexOf(0x78)] = 0x58; // 'x' -> 'X'
    expect(await codeOf(() => decodeResponse(upper))).toBe('ohttp-malformed');
    const crlf = Buffer.from(bad);
    crlf[crlf.indexOf(0x79)] = 0x0a; // 'y' -> LF
    expect(await codeOf(() => decodeResponse(crlf))).toBe('ohttp-malformed');
    expect(await codeOf(() => decodeResponse(Buffer.concat([bad, Buffer.of(0, 1)])))).toBe('ohttp-malformed');
    expect(decodeResponse(Buffer.concat([bad, Buffer.of(0, 0)])).status).toBe(200);
    expect(await codeOf(() => decodeResponse(Buffer.from('0140 64', 'hex')))).toBe('ohttp-malformed'); // 100... then nothing
    expect(await codeOf(() => decodeResponse(Buffer.from('01425800', 'hex')))).toBe('ohttp-malformed'); // 600
  });
});
