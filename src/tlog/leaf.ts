/**
 * The leaves of a DP's transparency log (DESIGN.md "Transparency log"; R3, R6, R19, R28).
 *
 * A leaf says that a record of some kind was accepted at some time, commits to the whole record
 * (SHA-256 of its canonical JSON), and carries a pseudonymous index of the CSI it concerns. It
 * holds no CSI, no SSI and no holder key (R28): the pseudonym is an HMAC under a DP secret
 * (src/dp/log-pseudonym.ts), which the DP tells only a holder who proved possession; nobody else
 * can link it to a CSI. A mapping leaf's commitment is the mapping id, the SHA-256 of the whole
 * signed mapping: it can be recomputed only from the mapping itself (three signatures: no guess),
 * and no endpoint turns an id into a mapping for anyone but its parties (R28).
 *
 * Encoding: RFC 8785 canonical JSON, UTF-8; the Merkle leaf hash is RFC 9162's
 * SHA-256(0x00 || leaf bytes).
 */
import { type Static, Type } from '@sinclair/typebox';
import { canonicalize } from '../crypto/jcs.js';
import { cryptoProvider } from '../crypto/provider.js';
import { fromB64u, toB64u } from '../protocol/encoding.js';
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

/**
 * A transparency-log leaf as decoded (docs/transparency.md).
 *
 * @example
 * const leaf: LogLeaf = decodeLeaf(bytes);
 */
export const LogLeaf = Type.Object(
  {
    v: Type.Literal(1),
    kind: Type.Union(Object.values(LogLeafKind).map((k) => Type.Literal(k))),
    /** DP time of the change, POSIX seconds. */
    time: Type.Integer({ minimum: 0 }),
    /** SHA-256 of the record's canonical JSON, base64url. */
    commitment: DigestB64,
    /**
     * This leaf's tag under the CSI's pseudonym (leafTag), base64url of 32 bytes: unlinkable to
     * the CSI and to the CSI's other leaves without the pseudonym, which only the DP and a holder
     * who proved possession know.
     */
    pseudonym: DigestB64,
    /** 0: the DP's keyed hash. Logs written before that rule may hold OPRF epochs (1, 2, ...). */
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
 *
 * @example
 * const leaf = decodeLeaf(bytes);
 * if (leafIsAbout(leaf, pseudonym)) console.log(leaf.kind);
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

const tagLabel = 'mimi-discovery/v1/log-tag\n';

/**
 * R28: a leaf's tag under the pseudonym of the CSI it concerns: HMAC-SHA256 keyed by the pseudonym
 * over the leaf's other fields. A per-CSI constant in every leaf would let anyone who was handed
 * one leaf (every verbose lookup answer carries its mapping's leaf) follow the CSI through the
 * whole log; a per-leaf tag tells them about that leaf only. A holder who knows the pseudonym
 * recomputes the tag of each leaf it reads (leafIsAbout).
 */
export function leafTag(
  pseudonym: Uint8Array,
  leaf: Pick<LogLeaf, 'kind' | 'time' | 'commitment' | 'epoch'>,
): Uint8Array {
  const message = `${leaf.kind}\n${leaf.time}\n${leaf.epoch}\n${leaf.commitment}`;
  return Uint8Array.from(cryptoProvider().hmacSha256(pseudonym, tagLabel, message));
}

/**
 * Whether `leaf` concerns the CSI whose pseudonym (base64url, from the DP) is `pseudonym`.
 *
 * @example
 * const { pseudonym } = await holder.logPseudonym(attestation);
 * const mine = leaves.map(decodeLeaf).filter((leaf) => leafIsAbout(leaf, pseudonym));
 */
export function leafIsAbout(leaf: LogLeaf, pseudonym: string): boolean {
  let key: Uint8Array;
  try {
    key = fromB64u(pseudonym, 'pseudonym', 32);
  } catch {
    return false;
  }
  return toB64u(leafTag(key, leaf)) === leaf.pseudonym;
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
      publicKey: toB64u(publicKey),
    }),
  );
}

/** The commitment to a record: SHA-256 of its canonical JSON (for a mapping, its id). */
export function commitmentOf(canonicalJson: string): Uint8Array {
  return Uint8Array.from(cryptoProvider().sha256(canonicalJson));
}
