import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answerQuery } from '../../src/dns/responder.js';
import { buildZone } from '../../src/dns/zone.js';
import type { ZoneSet } from '../../src/dns/zone-set.js';
import {
  asciiJson,
  base32,
  decodeUri,
  encodeUri,
  joinTxt,
  splitTxt,
  TxtPrefix,
} from '../../src/protocol/dns-names.js';
import { MimiError } from '../../src/protocol/errors.js';
import { configDefaults } from '../../src/server/config.js';

/** R29: the DNS codecs round-trip, and garbage never throws anything but a typed error. */
describe('DNS record codecs', () => {
  it('TXT: split into 255-byte strings and joined back gives the same JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const strings = splitTxt(TxtPrefix + asciiJson(v));
        expect(strings.every((s) => s.length <= 255 && s.length > 0)).toBe(true);
        expect(JSON.parse(joinTxt(strings)!)).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });

  it('TXT: arbitrary bytes are a typed error or not ours, never anything else', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 255 }), { maxLength: 80 }), (strings) => {
        try {
          const out = joinTxt(strings);
          if (out !== undefined) expect(out).toMatch(/^[\x20-\x7e]*$/);
        } catch (err) {
          expect(err).toBeInstanceOf(MimiError);
        }
      }),
    );
  });

  it('URI: encode then decode is the identity; short data is a typed error', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.webUrl(),
        (p, w, t) => {
          expect(decodeUri(encodeUri({ priority: p, weight: w, target: t }))).toEqual({
            priority: p,
            weight: w,
            target: t,
          });
        },
      ),
    );
    expect(() => decodeUri(new Uint8Array(4))).toThrow(
      expect.objectContaining({ code: 'dns-record-invalid' }),
    );
  });

  it('base32 matches RFC 4648 §10 (lower case, no padding)', () => {
    const enc = (s: string) => base32(new TextEncoder().encode(s));
    expect(['', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar'].map(enc)).toEqual([
      '',
      'my',
      'mzxq',
      'mzxw6',
      'mzxw6yq',
      'mzxw6ytb',
      'mzxw6ytboi',
    ]);
  });

  it('the responder never throws on garbage, and never answers with QR clear', () => {
    const zone = buildZone(
      { ...configDefaults.dns.zone, name: 'example.net', nameServers: [{ name: 'ns1.example.net' }] },
      new Map(),
      1,
    );
    const zs = { find: (n: string) => (zone.contains(n) ? zone : undefined) } as unknown as ZoneSet;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, udp) => {
        const a = answerQuery(zs, Buffer.from(bytes), udp ? { maxPayload: 1232 } : undefined);
        if (a !== undefined) expect(a.message.readUInt16BE(2) & 0x8000).toBe(0x8000);
      }),
      { numRuns: 3000 },
    );
    // And a well-formed query of any name still gets an answer.
    fc.assert(
      fc.property(fc.domain(), (name) => {
        const q = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'TXT', name }] });
        expect(answerQuery(zs, q, { maxPayload: 1232 })).toBeDefined();
      }),
    );
  });
});
