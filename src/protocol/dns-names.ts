import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { fromLatin1, fromUtf8, toB64u } from './encoding.js';
import { MimiError } from './errors.js';
import { domainOfCsi, localPartOfCsi } from './identifiers.js';

/**
 * R29: where a native identifier `mimi:local@domain` lives in DNS (docs/spec/dns.md). Pure: the
 * server's zone builder and the SDK's resolver compute the same names from the same rules.
 */
export const DiscoveryLabel = '_mimi-discovery';

/**
 * The dns-01 challenge name (RFC 8555 §8.4 uses `_acme-challenge`). A name of our own keeps a
 * discovery proof and a certificate proof apart: a zone that delegates `_acme-challenge` to its
 * certificate tooling (a CNAME to a DNS provider) hands that tooling no say over who holds its
 * MIMI identifiers, and a TXT record left for one protocol is never read by the other.
 */
export const ChallengeLabel = '_mimi-challenge';

/** Characters of a record label: 128 bits in RFC 4648 base32. */
export const LabelLength = 26;

const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 §6 base32, lower case, no padding: DNS names compare case-insensitively (RFC 4343). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(acc << (5 - bits)) & 31];
  return out;
}

const utf8 = new TextEncoder();
const labelInput = 'mimi-discovery/v1/label\n';

/**
 * The label of a canonical local part: the first 128 bits of SHA-256 over it (plain: a zone walk
 * lists hashes, not names), or of HMAC-SHA-256 under a secret the holder shares with its contacts
 * (keyed: without the secret, nobody can test a guess, R29 "hard to guess").
 *
 * @example
 * const label = localPartLabel('alice');
 */
export function localPartLabel(canonicalLocal: string, secret?: Uint8Array): string {
  const input = utf8.encode(labelInput + canonicalLocal);
  if (secret !== undefined && secret.length < 16) {
    throw new TypeError('a label secret has at least 16 bytes');
  }
  const mac = secret === undefined ? sha256(input) : hmac(sha256, secret, input);
  return base32(mac.subarray(0, 16));
}

/**
 * `<label>._mimi-discovery.<domain>` for a canonical `mimi:` CSI.
 *
 * @example
 * const name = discoveryName('mimi:alice@example.net'); // <label>._mimi-discovery.example.net
 */
export function discoveryName(csi: string, secret?: Uint8Array): string {
  if (!csi.startsWith('mimi:')) {
    throw new MimiError('invalid-native-id', 'only mimi: identifiers are published in DNS');
  }
  return `${localPartLabel(localPartOfCsi(csi), secret)}.${DiscoveryLabel}.${domainOfCsi(csi)}`;
}

/** `_mimi-challenge.<domain>` for a canonical `mimi:` CSI. */
export function challengeName(csi: string): string {
  return `${ChallengeLabel}.${domainOfCsi(csi)}`;
}

/** RFC 7638 JWK thumbprint of an Ed25519 holder key (RFC 8037 OKP members, in lexical order). */
export function holderKeyThumbprint(holderKey: string): string {
  return toB64u(sha256(utf8.encode(`{"crv":"Ed25519","kty":"OKP","x":"${holderKey}"}`)));
}

/**
 * RFC 8555 §8.4: the TXT value that answers a dns-01 challenge, base64url(SHA-256(key
 * authorization)), the key authorization being `token "." thumbprint(holder key)` (§8.1). It binds
 * the proof to the holder key that will be attested, so a record published for one holder proves
 * nothing for another.
 *
 * @example
 * const txt = dns01Value(started.dns!.token, holder.publicKey);
 */
export function dns01Value(token: string, holderKey: string): string {
  return toB64u(sha256(utf8.encode(`${token}.${holderKeyThumbprint(holderKey)}`)));
}

// ---- record data ---------------------------------------------------------------------------

/** RFC 7553 §4.5: priority and weight as in SRV, then the target URI. */
export interface Uri {
  priority: number;
  weight: number;
  target: string;
}

/** RFC 1035 §3.3: a <character-string> holds at most 255 bytes. */
export const MaxTxtString = 255;

/** A signed mapping is a few kB; a TXT payload past this is refused before it is parsed (bounded work). */
export const MaxTxtPayload = 16 * 1024;

/** Marks our TXT records among others at the same name (RFC 1464 style `key=value` would not parse as JSON). */
export const TxtPrefix = 'mimi1 ';

/**
 * JSON with every non-ASCII character escaped, so that a TXT string boundary can fall anywhere
 * without splitting a UTF-8 sequence; JSON.parse gives back the same strings, so signatures hold.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Splits a TXT payload into RFC 1035 character-strings of at most 255 bytes. */
export function splitTxt(text: string): Uint8Array[] {
  const bytes = utf8.encode(text);
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += MaxTxtString) out.push(bytes.subarray(i, i + MaxTxtString));
  return out;
}

/** The TXT payload back from its strings; undefined when it is not one of ours. */
export function joinTxt(strings: readonly Uint8Array[]): string | undefined {
  const size = strings.reduce((n, s) => n + s.length, 0);
  if (size > MaxTxtPayload) {
    throw new MimiError(
      'dns-record-invalid',
      `a TXT record of ${size} bytes is larger than a mapping can be`,
    );
  }
  const text = fromLatin1(concatBytes(...strings));
  if (!text.startsWith(TxtPrefix)) return undefined;
  if (!/^[\x20-\x7e]*$/.test(text)) {
    throw new MimiError('dns-record-invalid', 'a mimi1 TXT record holds a byte outside printable ASCII');
  }
  return text.slice(TxtPrefix.length);
}

/** RFC 7553 URI RDATA. */
export function encodeUri(u: Uri): Uint8Array {
  const target = utf8.encode(u.target);
  const out = new Uint8Array(4 + target.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, u.priority);
  view.setUint16(2, u.weight);
  out.set(target, 4);
  return out;
}

export function decodeUri(data: Uint8Array): Uri {
  if (data.length < 5) throw new MimiError('dns-record-invalid', 'a URI record is too short');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { priority: view.getUint16(0), weight: view.getUint16(2), target: fromUtf8(data.subarray(4)) };
}
