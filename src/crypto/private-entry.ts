import { dataView, fromUtf8, utf8 } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { hkdfSha256 } from './hkdf.js';
import { cryptoProvider, gcmTagBytes } from './provider.js';
import { digest } from './sign.js';

/**
 * What the private index derives from an RFC 9497 OPRF output `out` (DESIGN.md "Lookup paths and
 * privacy", R9, R28). The DP and the SDK share these functions, so they can only disagree on the
 * OPRF itself:
 *
 *   bucketKey = first 32 bits of SHA-256("mimi-discovery/v1/bucket" || out)
 *   tag       = first 16 bytes of SHA-256("mimi-discovery/v1/tag" || out)
 *   key       = HKDF-SHA256(ikm = out, salt = "", info = "mimi-discovery/v1/payload", 32)
 *   payload   = nonce(12) || AES-256-GCM(key, nonce, padded plaintext, aad = tag)
 *
 * A 128-bit tag keeps accidental collisions out of reach (2^-64 at 2^32 entries) at half the size.
 * Without `out`, which only a rate-limited evaluation yields (R22), a payload is noise.
 *
 * Two plaintext formats, told apart by the first byte:
 *
 * - v1 (`sealEntry`): u32 length (so a 0x00 first byte) || raw deflate of the CSI's verbose answer
 *   || zeros, padded to a multiple of 256 bytes.
 * - v2 (`sealAnswer`, what the DP seals now): 0x02 || u16 length || raw deflate, with the preset
 *   dictionary {@link ANSWER_DICTIONARY}, of `{"m":[mapping, ...]}` || zeros, padded to a
 *   multiple of {@link PAYLOAD_QUANTUM} (64) bytes. The mappings are the ones the plain lookup
 *   serves for the CSI, in its order, minus what the client already has or rebuilds: the CSI
 *   (`body.csi`, `attestation.csi`), the attestation digest (`body.attestation`), the holder key
 *   repeated in the attestation (`attestation.holderKey`) and the DP id (`dp`), each left out only
 *   when it has exactly the value the client rebuilds; the answer's envelope, mapping ids and
 *   status are rebuilt too. Every rebuilt field is covered by the mapping's signatures, so a wrong
 *   rebuild fails verification: nothing is trusted that was not signed. A one-mapping entry is
 *   about 500 bytes on the wire instead of about 810.
 *
 * Payload lengths say roughly how many mappings an entry holds and nothing more.
 *
 * AES-GCM, HMAC and deflate are the crypto provider's (src/crypto/provider.ts): node:crypto and
 * node:zlib on the server and in Node, @noble/ciphers and fflate in a browser. The deflated bytes
 * may differ between them; every one inflates the other's, so an entry sealed by one opens with
 * the other.
 */
export const PrivateLabel = {
  Bucket: 'mimi-discovery/v1/bucket',
  Tag: 'mimi-discovery/v1/tag',
  Payload: 'mimi-discovery/v1/payload',
} as const;

export const PRIVATE_TAG_LENGTH = 16;
const NONCE_LENGTH = 12;
/** v2 plaintexts are padded to a multiple of this. */
export const PAYLOAD_QUANTUM = 64;
/** v1 plaintexts were padded to a multiple of this. */
export const PAYLOAD_QUANTUM_V1 = 256;
const FORMAT_V2 = 0x02;
/** Payload overhead: nonce and GCM tag. */
export const PAYLOAD_OVERHEAD = NONCE_LENGTH + gcmTagBytes;
/** What an entry may inflate to (a 64 KiB payload of honest JSON is far less). */
const MAX_INFLATED = 1 << 20;

function labelled(label: string, out: Uint8Array): Uint8Array {
  return cryptoProvider().sha256(label, out);
}

function checkOut(out: Uint8Array): void {
  if (!(out instanceof Uint8Array) || out.length !== 64)
    throw new TypeError('out must be a 64-byte OPRF output');
}

/** The 32-bit bucket key; a bucket is its `bits` leading bits. */
export function bucketKeyOf(out: Uint8Array): number {
  checkOut(out);
  return dataView(labelled(PrivateLabel.Bucket, out)).getUint32(0);
}

/** Bucket index of a bucket key under `bits` leading bits (0 bits: one bucket, index 0). */
export function bucketOf(bucketKey: number, bits: number): number {
  return bits === 0 ? 0 : bucketKey >>> (32 - bits);
}

/** The inclusive range of bucket keys in bucket `bucket` of `bits` bits. */
export function bucketRange(bucket: number, bits: number): [number, number] {
  if (bits === 0) return [0, 0xffffffff];
  const width = 2 ** (32 - bits);
  return [bucket * width, bucket * width + width - 1];
}

export function tagOf(out: Uint8Array): Uint8Array {
  checkOut(out);
  return new Uint8Array(labelled(PrivateLabel.Tag, out).subarray(0, PRIVATE_TAG_LENGTH));
}

const emptySalt = new Uint8Array(0);
const payloadInfo = utf8(PrivateLabel.Payload);

/**
 * HKDF-SHA256(ikm = out, salt = "", info = Payload label, 32 bytes), RFC 5869: one block, so two
 * HMACs. The same bytes as node's hkdfSync (the test vectors pin them), at less than half its
 * cost: hkdfSync builds a KeyObject per call, and every accept seals an entry with it, every
 * private lookup opens one.
 */
function payloadKey(out: Uint8Array): Uint8Array {
  return hkdfSha256(out, emptySalt, payloadInfo, 32);
}

/** v1: deflated (zlib's default level, 6), length-prefixed, zero-padded plaintext. */
function pad(json: string): Uint8Array {
  const packed = cryptoProvider().deflateRaw(json, { level: 6 });
  const size = Math.ceil((packed.length + 4) / PAYLOAD_QUANTUM_V1) * PAYLOAD_QUANTUM_V1;
  const plain = new Uint8Array(size);
  dataView(plain).setUint32(0, packed.length);
  plain.set(packed, 4);
  return plain;
}

export interface SealedEntry {
  bucketKey: number;
  tag: Uint8Array;
  payload: Uint8Array;
}

function sealPlain(out: Uint8Array, plain: Uint8Array, rng: (n: number) => Uint8Array): SealedEntry {
  const tag = tagOf(out);
  const nonce = rng(NONCE_LENGTH);
  const payload = new Uint8Array(NONCE_LENGTH + plain.length + gcmTagBytes);
  payload.set(nonce);
  let o = NONCE_LENGTH;
  for (const piece of cryptoProvider().aesGcmSeal(payloadKey(out), nonce, plain, tag)) {
    payload.set(piece, o);
    o += piece.length;
  }
  return { bucketKey: bucketKeyOf(out), tag, payload };
}

const providerRandom = (n: number) => cryptoProvider().randomBytes(n);

/**
 * Seals a CSI's verbose answer under its OPRF output (plaintext v1).
 *
 * @param out - the 64-byte OPRF output of the canonical CSI
 * @param json - the verbose answer for that CSI, as the plain lookup renders it
 * @param rng - nonce source (tests inject one)
 */
export function sealEntry(
  out: Uint8Array,
  json: string,
  rng: (n: number) => Uint8Array = providerRandom,
): SealedEntry {
  return sealPlain(out, pad(json), rng);
}

/**
 * Preset deflate dictionary of plaintext v2: the skeleton of a mapping as canonical JSON (RFC 8785
 * sorts the keys), so field names and common values cost next to nothing. Part of the format:
 * changing it needs a new format byte.
 */
export const ANSWER_DICTIONARY = utf8(
  '"method":"email-otp","level":"csip","method":"csip-token",' +
    '"supersedes":"","tag":"Work","priority":1,' +
    '{"m":[{"acceptedAt":1700000000,"attestation":{"expiresAt":1700000000,"issuedAt":1700000000,' +
    '"issuer":"verifier1","level":"otp","method":"sms-otp","sig":"","v":1},"body":{"createdAt":' +
    '1700000000,"expiresAt":1700000000,"holderKey":"","msp":"msp1","priority":0,"ssi":"mimi://' +
    '.example/u/","supersedes":null,"tag":"Default","v":1},"dpSig":"","holderSig":"","logIndex":' +
    'null,"mspSig":"","v":1}]}',
);

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** What the client has or rebuilds for one mapping; also what the DP may leave out. */
interface Rebuild {
  csi: string;
  dp: string;
}

/** Removes from a mapping each field that holds exactly the value {@link rebuildMapping} restores. */
function stripMapping(m: Json, r: Rebuild): Json {
  const body = m.body;
  const att = m.attestation;
  if (!isObject(body) || !isObject(att)) return m;
  const b = { ...body };
  const a = { ...att };
  if (b.attestation === digest(att)) delete b.attestation;
  if (a.holderKey === b.holderKey) delete a.holderKey;
  if (b.csi === r.csi) delete b.csi;
  if (a.csi === r.csi) delete a.csi;
  const out: Json = { ...m, body: b, attestation: a };
  if (out.dp === r.dp) delete out.dp;
  return out;
}

/** The same object with its keys in RFC 8785 order, as the plain lookup serves mappings. */
function sortedKeys(o: Json): Json {
  const out: Json = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

/** Restores the fields {@link stripMapping} left out; present fields are kept as they are. */
function rebuildMapping(m: unknown, r: Rebuild): unknown {
  if (!isObject(m) || !isObject(m.body) || !isObject(m.attestation)) return m;
  const body = m.body;
  const att = m.attestation;
  if (!('csi' in att)) att.csi = r.csi;
  if (!('holderKey' in att)) att.holderKey = body.holderKey;
  if (!('csi' in body)) body.csi = r.csi;
  const attestation = sortedKeys(att);
  if (!('attestation' in body)) body.attestation = digest(attestation);
  if (!('dp' in m)) m.dp = r.dp;
  return sortedKeys({ ...m, body: sortedKeys(body), attestation });
}

/**
 * Seals the answer for one CSI under its OPRF output (plaintext v2, module comment).
 *
 * @param out - the 64-byte OPRF output of the canonical CSI
 * @param mappings - the mappings the plain lookup serves for it, in its order, as JSON
 * @param r - the canonical CSI and the DP id, which the client knows
 * @param rng - nonce source (tests inject one)
 */
export function sealAnswer(
  out: Uint8Array,
  mappings: readonly string[],
  r: Rebuild,
  rng: (n: number) => Uint8Array = providerRandom,
): SealedEntry {
  const m = mappings.map((j) => {
    const parsed: unknown = JSON.parse(j);
    return isObject(parsed) ? stripMapping(parsed, r) : parsed;
  });
  const packed = cryptoProvider().deflateRaw(JSON.stringify({ m }), {
    dictionary: ANSWER_DICTIONARY,
    level: 9,
  });
  const size = Math.ceil((packed.length + 3) / PAYLOAD_QUANTUM) * PAYLOAD_QUANTUM;
  // A bucket frames each payload with a 16-bit length (protocol/private.ts).
  if (size + PAYLOAD_OVERHEAD > 0xffff) throw new MimiError('record-invalid', 'private answer too large');
  const plain = new Uint8Array(size);
  plain[0] = FORMAT_V2;
  dataView(plain).setUint16(1, packed.length);
  plain.set(packed, 3);
  return sealPlain(out, plain, rng);
}

/** AES-GCM open; any failure is one opaque record-invalid. */
function openPlain(out: Uint8Array, tag: Uint8Array, payload: Uint8Array): Uint8Array {
  checkOut(out);
  if (payload.length < PAYLOAD_OVERHEAD + 4) throw new MimiError('record-invalid', 'private entry too short');
  const plain = cryptoProvider().aesGcmOpen(
    payloadKey(out),
    payload.subarray(0, NONCE_LENGTH),
    payload.subarray(NONCE_LENGTH),
    tag,
  );
  if (plain === undefined) {
    throw new MimiError('record-invalid', 'private entry does not open under this OPRF output');
  }
  return plain;
}

/** The plaintext's format and its inflated JSON text. */
function unpack(plain: Uint8Array): { version: 1 | 2; text: string } {
  const version = plain[0] === FORMAT_V2 ? 2 : 1;
  const header = version === 2 ? 3 : 4;
  const length = version === 2 ? dataView(plain).getUint16(1) : dataView(plain).getUint32(0);
  if (length > plain.length - header || plain.subarray(header + length).some((b) => b !== 0)) {
    throw new MimiError('record-invalid', 'private entry padding is malformed');
  }
  const inflated = cryptoProvider().inflateRaw(plain.subarray(header, header + length), {
    maxOutputLength: MAX_INFLATED,
    ...(version === 2 ? { dictionary: ANSWER_DICTIONARY } : {}),
  });
  if (inflated === undefined) throw new MimiError('record-invalid', 'private entry does not inflate');
  return { version, text: fromUtf8(inflated) };
}

/**
 * Opens a payload with the OPRF output it was sealed under and returns the CSI's verbose answer,
 * not yet verified, as parsed JSON. A v2 entry is rebuilt with `r` (the CSI asked and the DP
 * asked). Any failure (wrong key, tampering, bad padding) is one opaque `record-invalid`: it says
 * which check failed, nothing secret.
 */
export function openAnswer(out: Uint8Array, tag: Uint8Array, payload: Uint8Array, r: Rebuild): unknown {
  return answerOf(openPlain(out, tag, payload), r);
}

function answerOf(plain: Uint8Array, r: Rebuild): unknown {
  const { version, text } = unpack(plain);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MimiError('record-invalid', 'private entry is not JSON');
  }
  if (version === 1) return parsed;
  if (!isObject(parsed) || !Array.isArray(parsed.m)) {
    throw new MimiError('record-invalid', 'private entry v2 has no mapping list');
  }
  const mappings = parsed.m.map((m) => {
    const mapping = rebuildMapping(m, r);
    return { id: digest(mapping), dps: [r.dp], mapping };
  });
  return {
    v: 1,
    format: 'verbose',
    dp: r.dp,
    // The status is what verification will insist on; verifyVerboseAnswer recomputes it anyway.
    results: [{ query: r.csi, csi: r.csi, status: statusOfJson(mappings), mappings }],
  };
}

function statusOfJson(mappings: readonly { mapping: unknown }[]): string {
  const optOut = mappings.some((x) => {
    const body = isObject(x.mapping) ? x.mapping.body : undefined;
    return isObject(body) && body.msp === null && body.ssi === null;
  });
  if (optOut) return 'opt-out';
  return mappings.length === 0 ? 'none' : mappings.length === 1 ? 'one' : 'several';
}

/**
 * Opens a payload and returns the verbose answer as JSON text: a v1 entry as sealed, a v2 entry
 * rebuilt with `r` (required for v2). See {@link openAnswer}.
 */
export function openEntry(out: Uint8Array, tag: Uint8Array, payload: Uint8Array, r?: Rebuild): string {
  const plain = openPlain(out, tag, payload);
  if (plain[0] !== FORMAT_V2) return unpack(plain).text;
  if (r === undefined) throw new TypeError('a v2 private entry needs the CSI and DP id to rebuild');
  return JSON.stringify(answerOf(plain, r));
}

/**
 * R22: the most bucket bits such that every bucket holds at least `k` entries (k-anonymity),
 * from entry counts per bucket at `maxBits` (dense, 2^maxBits long). Returns 0 bits (one bucket)
 * when even that holds fewer than k entries; `min` is the smallest bucket at the chosen bits.
 */
export function chooseBucketBits(countsAtMax: readonly number[], k: number): { bits: number; min: number } {
  let counts = Array.from(countsAtMax);
  let bits = Math.log2(counts.length);
  if (!Number.isInteger(bits)) throw new TypeError('counts must have a power-of-two length');
  for (;;) {
    const min = counts.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
    if (min >= k || bits === 0) return { bits, min };
    const halved = new Array<number>(counts.length / 2);
    for (let i = 0; i < halved.length; i++) halved[i] = counts[2 * i]! + counts[2 * i + 1]!;
    counts = halved;
    bits--;
  }
}
