import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { x25519 } from '@noble/curves/ed25519.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { dataView, utf8 } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { hkdfSha256 } from './hkdf.js';
import { cryptoProvider, gcmTagBytes } from './provider.js';

/**
 * Oblivious HTTP message encapsulation (RFC 9458 §3, §4.3, §4.4) over HPKE (RFC 9180, @hpke/core).
 *
 * HPKE itself is @hpke/core's; the OHTTP layer around it is written here because no maintained npm
 * package does it (the few there are are unreleased experiments or bound to one platform's fetch),
 * and it is small: a seven-byte header naming the key and suite, HPKE base mode with the
 * "message/bhttp request" info, and for the response an AEAD key and nonce derived with HKDF from
 * a secret exported from the request's HPKE context and a fresh response nonce. One suite:
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, the one of RFC 9458 Appendix A; a key
 * configuration may list others, which are ignored. Pinned by the Appendix A example
 * (test/crypto/rfc9458-ohttp.test.ts). The response's AES-GCM and HKDF are synchronous, through
 * the crypto provider (src/crypto/provider.ts): node:crypto's on the gateway, @noble/ciphers' in a
 * browser.
 */

export const OhttpMediaType = {
  Keys: 'application/ohttp-keys',
  Request: 'message/ohttp-req',
  Response: 'message/ohttp-res',
} as const;

/** RFC 9180 §7 identifiers of the one suite spoken. */
export const OhttpSuite = { Kem: 0x0020, Kdf: 0x0001, Aead: 0x0001 } as const;

const Npk = 32; // X25519 public key, and enc
const Nk = 16; // AES-128-GCM key
const Nn = 12; // AES-128-GCM nonce
const Nt = gcmTagBytes; // AES-128-GCM tag
const responseNonceLength = Math.max(Nn, Nk);
const headerLength = 7;
const requestLabel = 'message/bhttp request';
const responseLabel = 'message/bhttp response';

/** The KEM's private key type, as @hpke/core names it (WebCrypto's CryptoKey). */
type PrivateKey = Awaited<ReturnType<CipherSuite['kem']['deriveKeyPair']>>['privateKey'];

export interface KeyConfig {
  keyId: number;
  kemId: number;
  publicKey: Uint8Array;
  suites: { kdfId: number; aeadId: number }[];
}

let suite: CipherSuite | undefined;
function hpke(): CipherSuite {
  suite ??= new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Aes128Gcm(),
  });
  return suite;
}

/** A copy in an ArrayBuffer of its own (bytes may be a view into a larger buffer). */
function own(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}

function malformed(message: string): MimiError {
  return new MimiError('ohttp-malformed', message);
}

// ---- key configurations (RFC 9458 §3) ----

/** One key configuration (§3.1), as published and as listed in the registry. */
export function encodeKeyConfig(cfg: KeyConfig): Uint8Array {
  const u16 = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  const ids = [cfg.kemId, ...cfg.suites.flatMap((x) => [x.kdfId, x.aeadId])];
  if (
    cfg.publicKey.length !== Npk ||
    cfg.suites.length === 0 ||
    !(Number.isInteger(cfg.keyId) && cfg.keyId >= 0 && cfg.keyId <= 255) ||
    !ids.every(u16)
  ) {
    throw new TypeError('bad key config');
  }
  const out = new Uint8Array(3 + Npk + 2 + 4 * cfg.suites.length);
  const v = dataView(out);
  v.setUint8(0, cfg.keyId);
  v.setUint16(1, cfg.kemId);
  out.set(cfg.publicKey, 3);
  v.setUint16(3 + Npk, 4 * cfg.suites.length);
  cfg.suites.forEach((s, i) => {
    v.setUint16(5 + Npk + 4 * i, s.kdfId);
    v.setUint16(7 + Npk + 4 * i, s.aeadId);
  });
  return out;
}

/** Parses one key configuration, strictly; only X25519 keys (the KEM we speak) are accepted. */
export function decodeKeyConfig(bytes: Uint8Array): KeyConfig {
  const b = dataView(bytes);
  if (bytes.length < 3) throw malformed('key config truncated');
  const kemId = b.getUint16(1);
  if (kemId !== OhttpSuite.Kem) throw new MimiError('ohttp-key-unknown', 'key config KEM not supported');
  if (bytes.length < 5 + Npk) throw malformed('key config truncated');
  const suitesLength = b.getUint16(3 + Npk);
  if (suitesLength === 0 || suitesLength % 4 !== 0 || bytes.length !== 5 + Npk + suitesLength) {
    throw malformed('key config suites malformed');
  }
  const suites: KeyConfig['suites'] = [];
  for (let p = 5 + Npk; p < bytes.length; p += 4) {
    suites.push({ kdfId: b.getUint16(p), aeadId: b.getUint16(p + 2) });
  }
  return { keyId: b.getUint8(0), kemId, publicKey: bytes.slice(3, 3 + Npk), suites };
}

/** True when the configuration offers the suite we speak. */
export function offersSuite(cfg: KeyConfig): boolean {
  return (
    cfg.kemId === OhttpSuite.Kem &&
    cfg.suites.some((s) => s.kdfId === OhttpSuite.Kdf && s.aeadId === OhttpSuite.Aead)
  );
}

/** `application/ohttp-keys` (§3.2): each configuration behind its two-byte length. */
export function encodeKeyConfigList(configs: readonly Uint8Array[]): Uint8Array {
  if (configs.some((c) => c.length > 0xffff)) throw new TypeError('a key config is at most 65535 bytes');
  return concatBytes(...configs.flatMap((c) => [Uint8Array.of(c.length >> 8, c.length & 0xff), c]));
}

/** Splits an `application/ohttp-keys` body into configuration encodings. */
export function decodeKeyConfigList(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < bytes.length; ) {
    if (p + 2 > bytes.length) throw malformed('key config list truncated');
    const len = (bytes[p]! << 8) | bytes[p + 1]!;
    if (p + 2 + len > bytes.length) throw malformed('key config list truncated');
    out.push(bytes.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  return out;
}

// ---- the gateway's keys ----

export interface GatewayKey {
  keyId: number;
  /** The configuration's encoding (§3.1), offering only our suite. */
  config: Uint8Array;
  privateKey: PrivateKey;
}

function configFor(keyId: number, publicKey: Uint8Array): Uint8Array {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255) throw new TypeError('key id is one byte');
  return encodeKeyConfig({
    keyId,
    kemId: OhttpSuite.Kem,
    publicKey,
    suites: [{ kdfId: OhttpSuite.Kdf, aeadId: OhttpSuite.Aead }],
  });
}

/**
 * The key configuration of a raw X25519 private key (32 random bytes, as kept in a gateway key
 * file), offering only our suite. Synchronous, so that a registry can list it without HPKE.
 */
export function keyConfigOf(keyId: number, skR: Uint8Array): Uint8Array {
  if (skR.length !== 32) throw new TypeError('an X25519 private key is 32 bytes');
  return configFor(keyId, x25519.getPublicKey(skR));
}

/** A gateway key from a raw X25519 private key (the RFC 9458 Appendix A example gives one). */
export async function gatewayKeyFromPrivate(keyId: number, skR: Uint8Array): Promise<GatewayKey> {
  const privateKey = await hpke().kem.importKey('raw', own(skR), false);
  return { keyId, config: keyConfigOf(keyId, skR), privateKey };
}

// ---- requests and responses (§4.3, §4.4) ----

function header(keyId: number): Uint8Array {
  const h = new Uint8Array(headerLength);
  const v = dataView(h);
  v.setUint8(0, keyId);
  v.setUint16(1, OhttpSuite.Kem);
  v.setUint16(3, OhttpSuite.Kdf);
  v.setUint16(5, OhttpSuite.Aead);
  return h;
}

function requestInfo(hdr: Uint8Array): ArrayBuffer {
  return concatBytes(utf8(requestLabel), Uint8Array.of(0), hdr).buffer;
}

const keyInfo = utf8('key');
const nonceInfo = utf8('nonce');

function responseKeys(
  secret: Uint8Array,
  enc: Uint8Array,
  nonce: Uint8Array,
): { key: Uint8Array; iv: Uint8Array } {
  // §4.4: prk = Extract(enc || response_nonce, secret), then Expand for the key and the nonce.
  const salt = concatBytes(enc, nonce);
  return { key: hkdfSha256(secret, salt, keyInfo, Nk), iv: hkdfSha256(secret, salt, nonceInfo, Nn) };
}

/** What the client keeps to open the response to its request. */
export interface ResponseContext {
  enc: Uint8Array;
  secret: Uint8Array;
}

/**
 * Encapsulates a Binary HTTP request to a key configuration (§4.3). `ephemeralPrivateKey`, for vectors only: the
 * ephemeral key's raw X25519 private key (skE in RFC 9458 Appendix A).
 */
export async function encapsulateRequest(
  config: KeyConfig,
  request: Uint8Array,
  opts: { ephemeralPrivateKey?: Uint8Array } = {},
): Promise<{ encapsulated: Uint8Array; context: ResponseContext }> {
  if (!offersSuite(config))
    throw new MimiError('ohttp-key-unknown', 'the key config offers no suite we speak');
  const hdr = header(config.keyId);
  const s = hpke();
  const recipientPublicKey = await s.kem.deserializePublicKey(own(config.publicKey));
  const ekm =
    opts.ephemeralPrivateKey === undefined
      ? undefined
      : {
          privateKey: await s.kem.importKey('raw', own(opts.ephemeralPrivateKey), false),
          publicKey: await s.kem.deserializePublicKey(x25519.getPublicKey(opts.ephemeralPrivateKey).buffer),
        };
  const sender = await s.createSenderContext({
    recipientPublicKey,
    info: requestInfo(hdr),
    ...(ekm === undefined ? {} : { ekm }),
  });
  const ct = new Uint8Array(await sender.seal(own(request)));
  const enc = new Uint8Array(sender.enc);
  const secret = new Uint8Array(await sender.export(utf8(responseLabel), Nk));
  return { encapsulated: concatBytes(hdr, enc, ct), context: { enc, secret } };
}

/** Opens an encapsulated response (§4.4) with the context of its request. */
export function decapsulateResponse(context: ResponseContext, bytes: Uint8Array): Uint8Array {
  if (bytes.length < responseNonceLength + Nt) throw malformed('encapsulated response truncated');
  const nonce = bytes.subarray(0, responseNonceLength);
  const { key, iv } = responseKeys(context.secret, context.enc, nonce);
  const plain = cryptoProvider().aesGcmOpen(key, iv, bytes.subarray(responseNonceLength));
  if (plain === undefined)
    throw new MimiError('ohttp-decrypt-failed', 'the encapsulated response does not open');
  return plain;
}

/** A decapsulated request and how to answer it. */
export interface Decapsulated {
  keyId: number;
  /** The request's HPKE enc: unique per request, the key of the gateway's replay cache. */
  enc: Uint8Array;
  request: Uint8Array;
  /**
   * Encapsulates the response (§4.4): given whole, or as pieces whose concatenation it is
   * (encrypted one after the other, never joined first). `nonce`, for vectors only, is the
   * response nonce.
   */
  respond(response: Uint8Array | readonly Uint8Array[], nonce?: Uint8Array): Uint8Array;
  /** {@link respond}'s message as pieces (nonce, ciphertext pieces, tag), not joined. */
  respondPieces(response: Uint8Array | readonly Uint8Array[], nonce?: Uint8Array): Uint8Array[];
}

/**
 * Decapsulates an encapsulated request (§4.3) with one of the gateway's live keys. Codes:
 * `ohttp-malformed` (too short for a header, enc and tag), `ohttp-key-unknown` (key id not live, or
 * another suite: §5.3), `ohttp-decrypt-failed` (enc or ciphertext tampered, or sealed otherwise).
 */
export async function decapsulateRequest(
  keys: ReadonlyMap<number, GatewayKey>,
  bytes: Uint8Array,
): Promise<Decapsulated> {
  if (bytes.length < headerLength + Npk + Nt) throw malformed('encapsulated request truncated');
  const b = dataView(bytes);
  const keyId = b.getUint8(0);
  const key = keys.get(keyId);
  if (
    key === undefined ||
    b.getUint16(1) !== OhttpSuite.Kem ||
    b.getUint16(3) !== OhttpSuite.Kdf ||
    b.getUint16(5) !== OhttpSuite.Aead
  ) {
    throw new MimiError('ohttp-key-unknown', 'no live key configuration has this key id and suite');
  }
  const hdr = bytes.slice(0, headerLength);
  const enc = bytes.slice(headerLength, headerLength + Npk);
  const s = hpke();
  let request: Uint8Array;
  let secret: Uint8Array;
  try {
    const recipient = await s.createRecipientContext({
      recipientKey: key.privateKey,
      enc: own(enc),
      info: requestInfo(hdr),
    });
    request = new Uint8Array(await recipient.open(own(bytes.subarray(headerLength + Npk))));
    secret = new Uint8Array(await recipient.export(utf8(responseLabel), Nk));
  } catch {
    throw new MimiError('ohttp-decrypt-failed', 'the encapsulated request does not open');
  }
  const respondPieces: Decapsulated['respondPieces'] = (
    response,
    nonce = cryptoProvider().randomBytes(responseNonceLength),
  ) => {
    if (nonce.length !== responseNonceLength) throw new TypeError('bad response nonce');
    const { key: k, iv } = responseKeys(secret, enc, nonce);
    // §4.4: nonce, ciphertext, tag.
    return [nonce, ...cryptoProvider().aesGcmSeal(k, iv, response)];
  };
  return {
    keyId,
    enc,
    request,
    respondPieces,
    respond(response, nonce) {
      return concatBytes(...respondPieces(response, nonce));
    },
  };
}
