import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { PRIVATE_TAG_LENGTH } from '../crypto/private-entry.js';
import { MimiError } from '../protocol/errors.js';
import type { EntryFrames } from '../protocol/private.js';
import type { OprfEpoch } from '../store/store.js';
import { LogLeafKind, NO_PSEUDONYM, oprfKeyCommitment } from '../tlog/leaf.js';
import type { LogPseudonym } from './log-pseudonym.js';
import type { LogEntry } from './transparency-log.js';

/**
 * The private index's epoch keys at rest and what is derived from them (R9, R22, R26): each
 * epoch's OPRF key sealed under the KEK, its `oprf-key` log leaf, and its bucket dummies.
 */

/** AAD of sealed epoch keys. v2: VOPRF epochs; a key sealed under v1 belongs to an OPRF-mode epoch. */
const keyLabel = 'mimi-discovery/v2/voprf-key';
const legacyKeyLabel = 'mimi-discovery/v1/oprf-key';
const dummyLabel = 'mimi-discovery/v1/dummy';

/** The key of an epoch's dummy stream, derived from its OPRF key. */
export function dummyKeyOf(secretKey: Uint8Array, epochId: number): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, new Uint8Array(0), `${dummyLabel}/${epochId}`, 32));
}

/**
 * Deterministic dummy entries for one bucket, framed as on the wire in stream order: one
 * AES-256-CTR stream per (epoch key, bucket), cut into tag || payload pieces, so dummy i is the same
 * however many dummies the bucket needs.
 */
export function dummyFrames(key: Buffer, bucket: number, count: number, length: number): EntryFrames {
  if (count <= 0) return { count: 0, bytes: new Uint8Array(0) };
  if (length > 0xffff) throw new TypeError('dummy payloads are at most 65535 bytes');
  const size = PRIVATE_TAG_LENGTH + length;
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(bucket, 0);
  const c = createCipheriv('aes-256-ctr', key, iv);
  const stream = Buffer.concat([c.update(Buffer.alloc(size * count)), c.final()]);
  const out = Buffer.allocUnsafe((size + 2) * count);
  for (let i = 0; i < count; i++) {
    const at = i * size;
    const o = i * (size + 2);
    stream.copy(out, o, at, at + PRIVATE_TAG_LENGTH);
    out.writeUInt16BE(length, o + PRIVATE_TAG_LENGTH);
    stream.copy(out, o + PRIVATE_TAG_LENGTH + 2, at + PRIVATE_TAG_LENGTH, at + size);
  }
  return { count, bytes: out };
}

/** The `oprf-key` leaf of an epoch (R9, R26): deterministic, so it is found again by its hash. */
export function keyLogEntry(e: OprfEpoch): LogEntry & { pseudonym: LogPseudonym } {
  return {
    kind: LogLeafKind.OprfKey,
    csi: '',
    time: e.createdAt,
    commitment: oprfKeyCommitment(e.id, e.publicKey),
    pseudonym: { epoch: e.id, pseudonym: NO_PSEUDONYM },
  };
}

/** AES-256-GCM under the KEK, bound to the epoch id: nonce(12) || ciphertext || tag(16). */
export function sealKey(
  kek: Uint8Array,
  epochId: number,
  secretKey: Uint8Array,
  label: string = keyLabel,
): Uint8Array {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  c.setAAD(Buffer.from(`${label}/${epochId}`));
  return new Uint8Array(Buffer.concat([nonce, c.update(secretKey), c.final(), c.getAuthTag()]));
}

function tryOpen(kek: Uint8Array, label: string, sealed: Uint8Array): Uint8Array | undefined {
  const s = Buffer.from(sealed);
  try {
    const d = createDecipheriv('aes-256-gcm', kek, s.subarray(0, 12));
    d.setAAD(Buffer.from(label));
    d.setAuthTag(s.subarray(s.length - 16));
    return new Uint8Array(Buffer.concat([d.update(s.subarray(12, s.length - 16)), d.final()]));
  } catch {
    return undefined;
  }
}

export function openKey(kek: Uint8Array, epochId: number, sealed: Uint8Array): Uint8Array {
  const key = tryOpen(kek, `${keyLabel}/${epochId}`, sealed);
  if (key === undefined)
    throw new MimiError('config-invalid', `OPRF key of epoch ${epochId} does not open under this KEK`);
  return key;
}

/** An epoch from before VOPRF: its key opens under the v1 label only (OPRF-mode outputs). */
export function isLegacyKey(kek: Uint8Array, e: OprfEpoch): boolean {
  if (tryOpen(kek, `${keyLabel}/${e.id}`, e.sealedKey) !== undefined) return false;
  const old = tryOpen(kek, `${legacyKeyLabel}/${e.id}`, e.sealedKey);
  old?.fill(0);
  return old !== undefined;
}

/** The AAD label of OPRF-mode epoch keys, for tests of the upgrade. */
export const LEGACY_KEY_LABEL = legacyKeyLabel;
