import { type CountryCode, ParseError, parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { MimiError } from './errors.js';

/**
 * R8: one function parses and canonicalises every cross-service identifier. Everything else in
 * the project takes only canonical CSIs (`tel:+14155550101`, `mailto:bob@example.org`,
 * `mimi:alice@example.net`).
 *
 * R29: `mimi:` is the native MIMI identifier, owned by whoever controls its domain and found
 * through DNS (docs/spec/dns.md). It is written like an email address and canonicalised by the
 * very same rule, so `mimi:Alice@Example.NET` and `mailto:Alice@Example.NET` differ only in kind.
 *
 * @example
 * if (parseCsi(input).kind === CsiKind.Native) await lookupNativeDns(input, { registry });
 */
export const CsiKind = { Phone: 'tel', Email: 'mailto', Native: 'mimi' } as const;
export type CsiKind = (typeof CsiKind)[keyof typeof CsiKind];

/**
 * A CSI parsed and canonicalised: its kind and canonical URI.
 *
 * @example
 * const { kind, uri } = parseCsi('+1 415 555 0101'); // uri: tel:+14155550101
 */
export interface Csi {
  kind: CsiKind;
  /** Canonical URI form: `tel:+E164`, `mailto:local@ascii-domain` or `mimi:local@ascii-domain`. */
  uri: string;
}

/**
 * How parseCsi reads a CSI.
 *
 * @example
 * const csi = parseCsi(input, {} satisfies ParseCsiOptions);
 */
export interface ParseCsiOptions {
  /** Lets national numbers ("(415) 555-0101") parse; without it a phone number must start with +. */
  defaultCountry?: CountryCode;
}

const maxInputLength = 320;

/**
 * Canonical CSIs seen by parseCsi, so that assertCanonicalCsi need not run libphonenumber again
 * on one it made (a contact sync parses each number when asking and checks it again in every
 * mapping it verifies). parseCsi is deterministic and its output parses to itself. Bounded.
 */
const canonicalKinds = new Map<string, CsiKind>();

/**
 * Parse a phone number or email address, with or without its `tel:`/`mailto:` scheme, or a native
 * identifier, which always carries its `mimi:` scheme (without it, it is an email address).
 *
 * @example
 * const { uri } = parseCsi('+1 (415) 555-0101');
 */
export function parseCsi(input: string, options: ParseCsiOptions = {}): Csi {
  const csi = parseCsiUncached(input, options);
  if (canonicalKinds.size >= 100_000) canonicalKinds.clear();
  canonicalKinds.set(csi.uri, csi.kind);
  return csi;
}

function parseCsiUncached(input: string, options: ParseCsiOptions): Csi {
  if (typeof input !== 'string') throw new TypeError('parseCsi takes a string');
  const text = input.trim();
  if (text.length === 0 || text.length > maxInputLength) {
    throw new MimiError('invalid-csi', 'a CSI must be 1 to 320 characters');
  }
  const lower = text.toLowerCase();
  if (lower.startsWith('tel:')) return parsePhone(text.slice(4), options);
  if (lower.startsWith('mailto:')) return parseEmail(text.slice(7));
  if (lower.startsWith('mimi:')) return parseNative(text.slice(5));
  if (text.includes('@')) return parseEmail(text);
  if (/^[+\d(][\d\s().+-]*$/.test(text)) return parsePhone(text, options);
  throw new MimiError('invalid-csi', 'not a phone number (E.164), an email address or a mimi: identifier');
}

/** Throws unless `uri` is already in canonical form; returns its kind. */
export function assertCanonicalCsi(uri: string): CsiKind {
  const known = canonicalKinds.get(uri);
  if (known !== undefined) return known;
  const csi = parseCsi(uri);
  if (csi.uri !== uri) {
    throw new MimiError('csi-not-canonical', `CSI must be given in canonical form ${csi.uri}`, {
      canonical: csi.uri,
    });
  }
  return csi.kind;
}

function parsePhone(raw: string, options: ParseCsiOptions): Csi {
  const text = raw.trim();
  if (!text.startsWith('+') && options.defaultCountry === undefined) {
    throw new MimiError('invalid-phone', 'a phone number must be in international form, starting with +');
  }
  try {
    const phone = parsePhoneNumberWithError(text, options.defaultCountry);
    if (!phone.isValid()) {
      throw new MimiError('invalid-phone', 'not a valid phone number for its country');
    }
    return { kind: CsiKind.Phone, uri: `tel:${phone.number}` };
  } catch (err) {
    if (err instanceof MimiError) throw err;
    const reason = err instanceof ParseError ? err.message.toLowerCase().replaceAll('_', ' ') : 'unparseable';
    throw new MimiError('invalid-phone', `not a phone number: ${reason}`);
  }
}

// RFC 5322 dot-atom characters in ASCII; RFC 6531 adds non-ASCII ones, which
// localCodePointAllowed bounds.
const atomChar = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+$/u;

/**
 * Look-alike local parts (R8, R22): a non-ASCII code point is allowed only when PRECIS
 * IdentifierClass (RFC 8264 §4.2, categories of §9) would allow it, with stricter choices where
 * it leaves a context rule or a mapping open:
 * - LetterDigits only (Ll Lu Lo Lm Mn Mc Nd, as RFC 5892 §2.1): this refuses the disallowed
 *   categories Controls, Spaces, Symbols and Punctuation, and everything else that is not a
 *   letter, mark or digit (Cf including the bidi controls, Cs, Co, Cn unassigned, Lt, Me, Nl, No);
 * - not PrecisIgnorableProperties (Default_Ignorable_Code_Point or noncharacter), which also
 *   refuses the fillers and joiners that are letters or marks (U+3164 HANGUL FILLER, U+034F,
 *   variation selectors);
 * - not HasCompat (NFKC changes it): fullwidth and halfwidth forms are refused, not width-mapped
 *   as RFC 8265 §3.3 (UsernameCaseMapped) would, since a mail server may deliver `ｂｏｂ` and
 *   `bob` to two mailboxes and we never rewrite which mailbox a code goes to;
 * - not OldHangulJamo (RFC 5892 §2.9: Hangul_Syllable_Type L, V, T, by their blocks);
 * - CONTEXTJ and CONTEXTO are refused outright: ZWJ and ZWNJ are ignorable, the CONTEXTO code
 *   points are punctuation (U+00B7, U+30FB...).
 * The local part must already be in NFC (the normalization rule, RFC 8264 §5.2.4, checked rather
 * than applied, for the same reason as width), and no dot-separated atom may start with a
 * combining mark (as RFC 5891 §4.2.3.2 for labels: it would draw on the dot or the @). Bidi
 * controls and unassigned code points are named again below for the reader. Not applied: the
 * case mapping of RFC 8265 (the design folds ASCII case only) and the directionality rule
 * (RFC 5893), for which JavaScript has no Bidi_Class property; with the explicit controls
 * refused, right-to-left letters still display in their own order but cannot reorder the ASCII
 * around them.
 */
const letterDigit = /^[\p{Ll}\p{Lu}\p{Lo}\p{Lm}\p{Mn}\p{Mc}\p{Nd}]$/u;
const refusedCodePoint =
  /[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}\p{Bidi_Control}\p{Cn}\u1100-\u11FF\uA960-\uA97F\uD7B0-\uD7FF]/u;
const leadingMark = /^\p{M}/u;

function localCodePointAllowed(cp: string): boolean {
  if (cp < '\u0080') return true; // ASCII: atomChar has decided
  return letterDigit.test(cp) && !refusedCodePoint.test(cp) && cp.normalize('NFKC') === cp;
}

function parseEmail(raw: string): Csi {
  const at = raw.lastIndexOf('@');
  if (at <= 0 || at === raw.length - 1) {
    throw new MimiError('invalid-email', 'an email address needs a local part and a domain');
  }
  const local = raw.slice(0, at);
  // IDNA (UTS 46, canonicalDomain) maps and checks the domain; NFC first as before.
  const domainInput = raw.slice(at + 1).normalize('NFC');
  if (local.length > 64) throw new MimiError('invalid-email', 'the local part is longer than 64 characters');
  if (local.startsWith('"')) throw new MimiError('invalid-email', 'quoted local parts are not supported');
  if (!local.split('.').every((atom) => atom.length > 0 && atomChar.test(atom) && !leadingMark.test(atom))) {
    throw new MimiError('invalid-email', 'the local part has a character or dot that is not allowed');
  }
  if (local.normalize('NFC') !== local || ![...local].every(localCodePointAllowed)) {
    throw new MimiError(
      'invalid-email',
      'the local part has an invisible, compatibility, unassigned or non-NFC code point',
    );
  }
  const domain = canonicalDomain(domainInput);
  if (domain === null || !domain.includes('.')) {
    throw new MimiError('invalid-email', 'the domain is not a valid internet domain name');
  }
  // The design keeps the local part as given but compares its ASCII letters case-insensitively:
  // the canonical form lower-cases exactly those letters.
  const canonicalLocal = local.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const uri = `mailto:${canonicalLocal}@${domain}`;
  if (uri.length - 7 > 254) throw new MimiError('invalid-email', 'the address is longer than 254 characters');
  return { kind: CsiKind.Email, uri };
}

/**
 * The mailbox of a canonical email CSI, for the verifier's challenge cap only: the local part
 * cut at its first `+` (plus-addressing, RFC 5233 subaddresses) and ASCII letters lower-cased,
 * so `bob+a@d` and `Bob+b@d` count as `bob@d`. The CSI itself keeps its `+` part; a phone CSI
 * is its own mailbox.
 */
export function mailboxOf(csi: string): string {
  if (!csi.startsWith('mailto:')) return csi;
  const at = csi.lastIndexOf('@');
  const local = csi.slice(7, at);
  const plus = local.indexOf('+');
  const base = (plus < 0 ? local : local.slice(0, plus)).replace(/[A-Z]/g, (c) => c.toLowerCase());
  return `mailto:${base}${csi.slice(at)}`;
}

/**
 * How a store finds every CSI of `csi`'s mailbox (mailboxOf) with an index on csi: the mailbox
 * itself, or a CSI in [plusFrom, plusTo) (byte order: every string that starts with
 * `mailto:<base>+`) that ends with `suffix` (`@<domain>`; canonical CSIs hold one @).
 */
export function mailboxRange(csi: string): {
  mailbox: string;
  plusFrom: string;
  plusTo: string;
  suffix: string;
} {
  const mailbox = mailboxOf(csi);
  const at = mailbox.lastIndexOf('@');
  const base = mailbox.slice(0, at);
  return { mailbox, plusFrom: `${base}+`, plusTo: `${base},`, suffix: mailbox.slice(at) };
}

/**
 * Longest domain of a native identifier: its records live at `<26-char label>._mimi-discovery.`
 * under it, and that name must still fit DNS's 253 characters (RFC 1035 §2.3.4).
 */
export const maxNativeDomainLength = 253 - '._mimi-discovery.'.length - 26;

/**
 * R29: `mimi:local@domain`, canonicalised by parseEmail itself (one rule for both kinds, so a
 * tightening of the email local part applies here too); only the scheme and the error code differ.
 */
function parseNative(raw: string): Csi {
  if (raw.startsWith('//')) {
    throw new MimiError('invalid-native-id', 'mimi:// is an SSI; a native identifier is mimi:user@domain');
  }
  let email: Csi;
  try {
    email = parseEmail(raw);
  } catch (err) {
    if (err instanceof MimiError && err.code === 'invalid-email') {
      throw new MimiError('invalid-native-id', err.message.replace('email address', 'identifier'));
    }
    throw err;
  }
  const address = email.uri.slice('mailto:'.length);
  if (address.length - address.lastIndexOf('@') - 1 > maxNativeDomainLength) {
    throw new MimiError(
      'invalid-native-id',
      `the domain of a native identifier is at most ${maxNativeDomainLength} characters`,
    );
  }
  return { kind: CsiKind.Native, uri: `mimi:${address}` };
}

/** The canonical domain of a canonical `mailto:` or `mimi:` CSI. */
export function domainOfCsi(uri: string): string {
  return uri.slice(uri.lastIndexOf('@') + 1);
}

/** The canonical local part of a canonical `mailto:` or `mimi:` CSI. */
export function localPartOfCsi(uri: string): string {
  return uri.slice(uri.indexOf(':') + 1, uri.lastIndexOf('@'));
}

const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const domainAscii = /^[A-Za-z0-9.-]$/;

/**
 * Whether `input` holds only what a domain name is written with: ASCII letters, digits, hyphens
 * and dots, and other characters whose compatibility form (NFKC, which the UTS 46 mapping
 * extends) brings in no other ASCII. The host parser that does IDNA cuts its input at `/`, `?`,
 * `#` or `\`, drops tabs and newlines and decodes `%41`, so without this `bob@example.com/x`,
 * `bob@exa%6dple.com` or `bob@example.com\uFF0Fx` (a full-width solidus) came out as
 * bob@example.com: a look-alike of another address. Every code point that passes was checked to
 * reach IDNA whole (test/protocol/identifiers.test.ts).
 */
function domainCharsAllowed(input: string): boolean {
  for (const ch of input) {
    if (ch < '\u0080') {
      if (!domainAscii.test(ch)) return false;
    } else {
      for (const c of ch.normalize('NFKC')) if (c < '\u0080' && !domainAscii.test(c)) return false;
    }
  }
  return true;
}

/**
 * Lower-cased ASCII (IDNA: UTS 46 as the WHATWG URL standard's domain-to-ASCII, R8) domain, or
 * null when it is not a host name. Through the URL parser that Node and browsers share, on input
 * it cannot read as anything but a host (domainCharsAllowed): the same result as Node's
 * url.domainToASCII, without Node.
 */
export function canonicalDomain(input: string): string | null {
  if (input.length === 0 || input.length > 253 || input.endsWith('.')) return null;
  if (!domainCharsAllowed(input)) return null;
  let ascii: string;
  try {
    ascii = new URL(`http://${input}`).hostname;
  } catch {
    return null;
  }
  if (ascii === '' || ascii.length > 253) return null;
  return ascii.split('.').every((l) => label.test(l)) ? ascii : null;
}

/**
 * A service-specific identifier: `mimi://<msp-domain>/u/<user>`.
 *
 * @example
 * const { domain } = parseSsi('mimi://chat.example/u/bob');
 */
export interface Ssi {
  domain: string;
  user: string;
  uri: string;
}

const ssiUser = /^(?:[A-Za-z0-9._~-]|%[0-9A-F]{2}){1,128}$/;

/**
 * A service-specific identifier (`mimi://<domain>/u/<user>`), parsed and checked.
 *
 * @example
 * const { domain } = parseSsi('mimi://chat.example/u/bob');
 */
export function parseSsi(input: string): Ssi {
  if (typeof input !== 'string') throw new TypeError('parseSsi takes a string');
  const m = /^mimi:\/\/([^/]+)\/u\/([^/?#]+)$/.exec(input);
  if (m === null) throw new MimiError('invalid-ssi', 'an SSI is written mimi://<msp-domain>/u/<user>');
  const domain = canonicalDomain(m[1]!);
  if (domain === null || domain !== m[1]) {
    throw new MimiError('invalid-ssi', 'the SSI domain must be a lower-case ASCII domain name');
  }
  const user = m[2]!;
  if (!ssiUser.test(user)) {
    throw new MimiError('invalid-ssi', 'the SSI user may hold only unreserved or %-encoded characters');
  }
  return { domain, user, uri: input };
}

export function formatSsi(domain: string, user: string): string {
  return parseSsi(`mimi://${domain}/u/${encodeURIComponent(user)}`).uri;
}
