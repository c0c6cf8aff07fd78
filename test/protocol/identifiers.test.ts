import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MimiError } from '../../src/protocol/errors.js';
import {
  assertCanonicalCsi,
  canonicalDomain,
  formatSsi,
  mailboxOf,
  parseCsi,
  parseSsi,
} from '../../src/protocol/identifiers.js';
import vectors from '../vectors/csi-canonical.json' with { type: 'json' };

describe('R8: one canonical form per CSI', () => {
  it.each(vectors.canonical)('vector: $input -> $canonical', ({ input, canonical }) => {
    expect(parseCsi(input).uri).toBe(canonical);
    expect(() => assertCanonicalCsi(canonical)).not.toThrow();
  });

  it.each(vectors.refused)('vector: $input is refused with $code, never guessed', ({ input, code }) => {
    expect(() => parseCsi(input)).toThrow(expect.objectContaining({ code }));
  });

  it('accepts national numbers only with a default country', () => {
    expect(() => parseCsi('(415) 555-0101')).toThrow(expect.objectContaining({ code: 'invalid-phone' }));
    expect(parseCsi('(415) 555-0101', { defaultCountry: 'US' }).uri).toBe('tel:+14155550101');
  });

  it.each([
    ['bob\u200b@example.org', 'zero width space (Default_Ignorable_Code_Point)'],
    ['bob\u202e@example.org', 'right-to-left override (Bidi_Control)'],
    ['\u202egro.elpmaxe@bob', 'right-to-left override at the start'],
    ['bo\u2066b@example.org', 'bidi isolate'],
    ['bob\u00ad@example.org', 'soft hyphen'],
    ['bob\u3164@example.org', 'Hangul filler (a letter, but ignorable)'],
    ['bob\ufe0f@example.org', 'variation selector'],
    ['\uff42\uff4f\uff42@example.org', 'fullwidth b o b (HasCompat)'],
    ['bob\uff0b1@example.org', 'fullwidth plus'],
    ['jose\u0301@example.org', 'not NFC (e + combining acute)'],
    ['bob\u0378@example.org', 'unassigned (Cn)'],
    ['bob\ue000@example.org', 'private use'],
    ['bob\u00a0x@example.org', 'no-break space'],
    ['bob\u2024x@example.org', 'one dot leader (punctuation)'],
    ['\u0301bob@example.org', 'combining mark at the start of an atom'],
    ['bob.\u0323x@example.org', 'combining mark after a dot'],
    ['\u1100\u1161x@example.org', 'old Hangul jamo'],
  ])('refuses the look-alike local part %j (%s) with invalid-email', (input) => {
    expect(() => parseCsi(input)).toThrow(expect.objectContaining({ code: 'invalid-email' }));
    expect(() => assertCanonicalCsi(`mailto:${input}`)).toThrow(MimiError);
  });

  it.each([
    ['bob@example.org/evil', 'path after the domain'],
    ['bob@example.org?x=1', 'query after the domain'],
    ['bob@example.org#x', 'fragment after the domain'],
    ['bob@example.org\\x', 'backslash after the domain'],
    ['bob@exa\tmple.org', 'tab inside the domain'],
    ['bob@exa\nmple.org', 'newline inside the domain'],
    ['bob@exa%6dple.org', 'percent-encoded letter'],
    ['bob@example.org\uff0fevil', 'full-width solidus (NFKC /)'],
    ['bob@example.org\ufe68x', 'small reverse solidus (NFKC \\)'],
    ['bob@a\u2100.org', 'account-of sign (NFKC a/c)'],
    ['bob@example.org:25', 'a port'],
    ['bob@example_x.org', 'underscore'],
  ])(
    'refuses the look-alike domain %j (%s) with invalid-email, never cutting it to another address',
    (input) => {
      expect(() => parseCsi(input)).toThrow(expect.objectContaining({ code: 'invalid-email' }));
      expect(() => parseCsi(`mimi:${input}`)).toThrow(expect.objectContaining({ code: 'invalid-native-id' }));
      expect(canonicalDomain(input.slice(input.indexOf('@') + 1))).toBeNull();
    },
  );

  it("every code point the domain check lets through reaches IDNA whole, with the result of Node's domainToASCII", () => {
    // R8: canonicalDomain runs the URL parser Node and browsers share; on what it lets through,
    // nothing may be cut away, and the A-label must be Node's url.domainToASCII's.
    let checked = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const domain = `x${String.fromCodePoint(cp)}y.example`;
      const ours = canonicalDomain(domain);
      if (ours === null) continue;
      checked++;
      if (ours !== domainToASCII(domain) || !ours.endsWith('.example')) {
        expect.fail(`U+${cp.toString(16)}: ${ours} against ${domainToASCII(domain)}`);
      }
    }
    expect(checked).toBeGreaterThan(100_000);
  });

  it.each([
    ['jörg@example.org', 'mailto:jörg@example.org'],
    ['josé@example.org', 'mailto:josé@example.org'],
    ['用户@example.org', 'mailto:用户@example.org'],
    ['медведь@example.org', 'mailto:медведь@example.org'],
    ['ಬೆಂಬಲ@example.org', 'mailto:ಬೆಂಬಲ@example.org'],
    ['Bob+Chat@Example.org', 'mailto:bob+chat@example.org'],
  ])('keeps internationalised local parts of letters, marks and digits: %s', (input, canonical) => {
    expect(parseCsi(input).uri).toBe(canonical);
  });

  it('folds plus-addressing and ASCII case into the mailbox (for the challenge cap only)', () => {
    expect(mailboxOf(parseCsi('Bob+Chat@Example.org').uri)).toBe('mailto:bob@example.org');
    expect(mailboxOf('mailto:bob+a+b@example.org')).toBe('mailto:bob@example.org');
    expect(mailboxOf('mailto:bob@example.org')).toBe('mailto:bob@example.org');
    expect(mailboxOf('tel:+14155550101')).toBe('tel:+14155550101');
    expect(parseCsi('bob+chat@example.org').uri).toBe('mailto:bob+chat@example.org');
  });

  it('on arbitrary Unicode throws only MimiError, and what it accepts canonicalises to itself', () => {
    const unicodeString = fc.string({ unit: 'grapheme', maxLength: 24 });
    const binaryString = fc.string({ unit: 'binary', maxLength: 24 });
    fc.assert(
      fc.property(
        fc.oneof(unicodeString, binaryString),
        fc.oneof(unicodeString, binaryString, fc.constantFrom('', '+', '.', '\u200b', '\u202e')),
        fc.constantFrom('@example.org', '@Bücher.example', '@', ''),
        (local, extra, domain) => {
          const input = `${local}${extra}${domain}`;
          let once: string;
          try {
            once = parseCsi(input).uri;
          } catch (err) {
            expect(err).toBeInstanceOf(MimiError);
            return;
          }
          expect(parseCsi(once).uri).toBe(once);
          expect(assertCanonicalCsi(once)).toBe(once.startsWith('tel:') ? 'tel' : 'mailto');
          if (once.startsWith('mailto:')) {
            expect(once).not.toMatch(/[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\p{Cn}]/u);
            expect(once.normalize('NFC')).toBe(once);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('says when a CSI is not in canonical form, also after its canonical form was parsed', () => {
    // parseCsi remembers the canonical forms it made; only exactly those skip the re-parse.
    expect(assertCanonicalCsi(parseCsi('mailto:Bob@example.org').uri)).toBe('mailto');
    expect(assertCanonicalCsi(parseCsi('+1 415 555 0101').uri)).toBe('tel');
    expect(() => assertCanonicalCsi('mailto:Bob@example.org')).toThrow(
      expect.objectContaining({ code: 'csi-not-canonical' }),
    );
    expect(() => assertCanonicalCsi('+14155550101')).toThrow(
      expect.objectContaining({ code: 'csi-not-canonical' }),
    );
  });

  it('is idempotent, and garbage never throws anything but a MimiError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const once = parseCsi(s).uri;
          expect(parseCsi(once).uri).toBe(once);
        } catch (err) {
          expect(err).toBeInstanceOf(MimiError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('canonical emails round-trip', () => {
    fc.assert(
      fc.property(fc.emailAddress(), (e) => {
        try {
          const c = parseCsi(e).uri;
          expect(parseCsi(c).uri).toBe(c);
        } catch (err) {
          expect(err).toBeInstanceOf(MimiError);
        }
      }),
    );
  });
});

describe('SSIs: mimi://<msp-domain>/u/<user>', () => {
  it('parses and formats', () => {
    expect(parseSsi('mimi://chat.example/u/bob')).toMatchObject({ domain: 'chat.example', user: 'bob' });
    expect(formatSsi('chat.example', 'bob smith')).toBe('mimi://chat.example/u/bob%20smith');
  });

  it.each([
    'https://chat.example/u/bob',
    'mimi://Chat.Example/u/bob',
    'mimi://chat.example/bob',
    'mimi://chat.example/u/',
    'mimi://chat.example/u/a/b',
    'mimi://chat.example/u/b%zz',
  ])('%s is refused with invalid-ssi', (s) => {
    expect(() => parseSsi(s)).toThrow(expect.objectContaining({ code: 'invalid-ssi' }));
  });
});

describe('R29: native identifiers mimi:user@domain, canonicalised by the email rule', () => {
  it.each([
    ['mimi:alice@example.net', 'mimi:alice@example.net'],
    ['MIMI:Alice@Example.NET', 'mimi:alice@example.net'],
    ['mimi:jörg@Bücher.Example', 'mimi:jörg@xn--bcher-kva.example'],
    ['  mimi:bob.smith+chat@example.org ', 'mimi:bob.smith+chat@example.org'],
  ])('%s -> %s', (input, canonical) => {
    const csi = parseCsi(input);
    expect(csi).toEqual({ kind: 'mimi', uri: canonical });
    expect(assertCanonicalCsi(canonical)).toBe('mimi');
  });

  it('has the same local part and domain as the email address written alike', () => {
    fc.assert(
      fc.property(fc.emailAddress(), (e) => {
        let email: string | undefined;
        try {
          email = parseCsi(`mailto:${e}`).uri;
        } catch {}
        let native: string | undefined;
        try {
          native = parseCsi(`mimi:${e}`).uri;
        } catch (err) {
          expect(err).toBeInstanceOf(MimiError);
        }
        if (native !== undefined) expect(native).toBe(`mimi:${email!.slice(7)}`);
        if (email === undefined) expect(native).toBeUndefined();
      }),
    );
  });

  it('an address without the mimi: scheme stays an email address', () => {
    expect(parseCsi('alice@example.net').kind).toBe('mailto');
  });

  it.each([
    'mimi:alice',
    'mimi:@example.net',
    'mimi:alice@',
    'mimi:alice..b@example.net',
    'mimi:alice@localhost',
    'mimi:alice@exa mple.net',
    'mimi://example.net/u/alice',
    `mimi:alice@${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(40)}.example`,
  ])('%s is refused with invalid-native-id', (input) => {
    expect(() => parseCsi(input)).toThrow(expect.objectContaining({ code: 'invalid-native-id' }));
  });

  it('the canonical form of a mimi: identifier is asked for', () => {
    expect(() => assertCanonicalCsi('mimi:Alice@example.net')).toThrow(
      expect.objectContaining({ code: 'csi-not-canonical' }),
    );
  });
});
