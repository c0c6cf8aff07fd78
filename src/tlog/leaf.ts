/**
 * The leaves of a DP's transparency log (DESIGN.md "Transparency log"; R3, R6, R19, R28).
 *
 * A leaf says that a record of some kind was accepted at some time, commits to the whole record
 * (SHA-256 of its canonical JSON), and carries a pseudonymous index of the CSI it concerns. It
 * holds no CSI, no SSI and no holder key (R28): the pseudonym is one-way, and a holder finds
 * their own entries by recomputing it through the OPRF (or the DP's keyed hash), never by
 * publishing their CSI.
 *
 * Encoding: RFC 8785 canonical JSON, UTF-8; the Merkle leaf hash is RFC 9162's
 * SHA-256(0x00 || leaf bytes).
 */
import { createHash } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { canonicalize } from '../crypto/jcs.js';
import { MimiError } from '../protocol/errors.js';
import { DigestB64, decodeRecord } from '../protocol/records.js';

/** What a leaf records. */
export const LogLeafKind = {
  /** A mapping accepted by this DP (its commitment is the mapping id). */
  Mapping: 'mapping',
  /** A mapping that replaces another of the same holder (R19). */
  Replacement: 'replacement',
  /** The holder's signed opt-out (R14, R25). */
  OptOut: 'opt-out',
  /** The holder withdrew mappings (R19, R25); commitment to the signed invalidation. */
  Invalidation: 'invalidation',
  /** The holder moved to a new key (R19); commitment to the signed rotation. */
  KeyRotation: 'key-rotation',
  /** A second holder contests the CSI (R17), here or announced by a peer. */
  Contest: 'contest',
  /** A contest ended: window passed, or the incumbent proved possession again (R17). */
  ContestResolution: 'contest-resolution',
  /** Mappings removed by a CSIP number event (R16, R24); commitment to the signed event. */
  Removal: 'removal',
  /**
   * An OPRF key epoch was created (R9, R26): commitment to {@link oprfKeyCommitment} of its id and
   * public key; `epoch` is that id, and the pseudonym is all zeros (the leaf concerns no CSI).
   */
  OprfKey: 'oprf-key',
} as const;
export type LogLeafKind = (typeof LogLeafKind)[keyof typeof LogLeafKind];

/** The kinds whose commitment is a mapping id (and whose index is that mapping's logIndex). */
export const mappingLeafKinds: readonly LogLeafKind[] = [
  LogLeafKind.Mapping,
  LogLeafKind.Replacement,
  LogLeafKind.OptOut,
];

export const LogLeaf = Type.Object(
  {
    v: Type.Literal(1),
    kind: Type.Union(Object.values(LogLeafKind).map((k) => Type.Literal(k))),
    /** DP time of the change, POSIX seconds. */
    time: Type.Integer({ minimum: 0 }),
    /** SHA-256 of the record's canonical JSON, base64url. */
    commitment: DigestB64,
    /** Pseudonymous index of the CSI, base64url of 32 bytes (see pseudonymFromOprfOutput). */
    pseudonym: DigestB64,
    /** The OPRF key epoch the pseudonym was computed under; 0 for the DP's keyed hash. */
    epoch: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type LogLeaf = Static<typeof LogLeaf>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Canonical bytes of a leaf. */
export function encodeLeaf(leaf: LogLeaf): Uint8Array {
  return encoder.encode(canonicalize(leaf));
}

/**
 * Parses leaf bytes strictly: schema-checked, and canonical (one leaf, one encoding).
 *
 * @throws {MimiError} `record-invalid`.
 */
export function decodeLeaf(bytes: Uint8Array): LogLeaf {
  let text: string;
  let raw: unknown;
  try {
    text = decoder.decode(bytes);
    raw = JSON.parse(text);
  } catch {
    throw new MimiError('record-invalid', 'a log leaf is not UTF-8 JSON');
  }
  const leaf = decodeRecord(LogLeaf, raw, 'log leaf');
  if (canonicalize(leaf) !== text) throw new MimiError('record-invalid', 'a log leaf is not canonical JSON');
  return leaf;
}

const pseudonymLabel = 'mimi-discovery/v1/log-pseudonym\n';

/**
 * R28: the pseudonym of a CSI from its OPRF output (RFC 9497 Finalize output under the DP's epoch
 * key). A one-way hash with its own label: the OPRF output itself also keys the private index
 * (bucket, tag, sealing key), so it must never be published.
 */
export function pseudonymFromOprfOutput(out: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash('sha256').update(pseudonymLabel).update(out).digest());
}

/** The pseudonym of a leaf that concerns no CSI (an OPRF key): 32 zero bytes. */
export const NO_PSEUDONYM = new Uint8Array(32);

/**
 * The commitment of an `oprf-key` leaf: SHA-256 of the canonical JSON of the epoch id, the suite
 * and mode, and pkS (base64url), so a client can check that the key it is evaluated under is the
 * one the DP logged for that epoch.
 */
export function oprfKeyCommitment(epoch: number, publicKey: Uint8Array): Uint8Array {
  return commitmentOf(
    canonicalize({
      v: 1,
      epoch,
      suite: 'ristretto255-SHA512',
      mode: 'voprf',
      publicKey: Buffer.from(publicKey).toString('base64url'),
    }),
  );
}

/** The commitment to a record: SHA-256 of its canonical JSON (for a mapping, its id). */
export function commitmentOf(canonicalJson: string): Uint8Array {
  return Uint8Array.from(createHash('sha256').update(canonicalJson).digest());
}
