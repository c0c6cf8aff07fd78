import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { type Static, Type } from '@sinclair/typebox';
import type { SigningKey } from '../crypto/keys.js';
import { SignPurpose, signObject, verifyObject } from '../crypto/sign.js';
import { fromB64u, nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { canonicalDomain } from '../protocol/identifiers.js';
import {
  decodeRecord,
  ParticipantId,
  PossessionMethod,
  PublicKeyB64,
  SignatureB64,
} from '../protocol/records.js';

/**
 * R30: the signed registry lists DPs, MSPs (with compact bit positions), verifiers and CSIPs, so
 * participants find and authenticate each other. It is trusted through one pinned registry key.
 * Over 400 lines because the document's schema, one declaration per kind of participant, stays
 * beside the Registry that opens it, so what a document may hold and what opening it checks
 * (checkConsistency) are read in one place.
 */
const Keys = Type.Array(PublicKeyB64, { minItems: 1, maxItems: 4 });
const Operator = Type.String({ minLength: 1, maxLength: 128 });

export const ThroughputClass = { Low: 'low', Standard: 'standard', High: 'high' } as const;
export type ThroughputClass = (typeof ThroughputClass)[keyof typeof ThroughputClass];

/**
 * A DP's Oblivious HTTP gateway (RFC 9458): its URL and its live key configurations (§3.1,
 * base64url), the announced (newest) first. Listed in the signed registry so that every client
 * gets the same keys: a gateway that handed each client a key of its own could link its requests
 * (RFC 9458 §7, key consistency). `v` versions this member alone; a DP without it has no gateway.
 */
export const OhttpGatewayEntry = Type.Object(
  {
    v: Type.Literal(1),
    gateway: Type.String({ pattern: '^https?://', maxLength: 512 }),
    keyConfigs: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{54,600}$' }), { minItems: 1, maxItems: 4 }),
  },
  { additionalProperties: false },
);
export type OhttpGatewayEntry = Static<typeof OhttpGatewayEntry>;

/**
 * What each of a DP's keys signs (docs/spec/registry.md §8.1.1), one set of keys per usage so that
 * a key needed online for one job cannot sign for another:
 * - `records`: signed records about mappings: `mapping-dp` (dpSig) and `log-receipt`;
 * - `transport`: the DP speaking to others: RFC 9421 peer requests and MSP notices, and the
 *   `session` requests it makes at a peer;
 * - `log`: C2SP signed notes: its log's checkpoints and the cosignatures it makes as a witness.
 *
 * @example
 * const logKeys = registry.dpKeys('dp1', DpKeyUsage.Log);
 */
export const DpKeyUsage = { Records: 'records', Transport: 'transport', Log: 'log' } as const;
export type DpKeyUsage = (typeof DpKeyUsage)[keyof typeof DpKeyUsage];
export const dpKeyUsages: readonly DpKeyUsage[] = Object.values(DpKeyUsage);

const dpEntryMembers = {
  id: ParticipantId,
  endpoint: Type.String({ pattern: '^https?://', maxLength: 512 }),
  region: Type.String({ minLength: 1, maxLength: 32 }),
  operator: Operator,
  throughputClass: Type.Union(Object.values(ThroughputClass).map((c) => Type.Literal(c))),
  ohttp: Type.Optional(OhttpGatewayEntry),
};

/**
 * Registry v2: the DP's keys by usage; no key may serve two usages (checkConsistency).
 *
 * @example
 * const dp1: DpEntry | undefined = registry.dp('dp1');
 */
export const DpEntry = Type.Object(
  {
    ...dpEntryMembers,
    keys: Type.Object({ records: Keys, transport: Keys, log: Keys }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type DpEntry = Static<typeof DpEntry>;

/** Registry v1: one list of keys for every usage (still opened, as a v2 entry with that list thrice). */
export const DpEntryV1 = Type.Object({ ...dpEntryMembers, keys: Keys }, { additionalProperties: false });
export type DpEntryV1 = Static<typeof DpEntryV1>;

/**
 * RFC 9578 §6.5: a Privacy Pass token key (type 2, Blind RSA 2048), base64url of its SPKI
 * encoding (342 bytes), usable until `notAfter`; a DP keeps the nonces of spent tokens that long.
 *
 * @example
 * const keys: TokenKeyEntry[] = registry.msp('msp1')?.issuer?.keys ?? [];
 */
export const TokenKeyEntry = Type.Object(
  {
    key: Type.String({ pattern: '^[A-Za-z0-9_-]{456}$' }),
    notAfter: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type TokenKeyEntry = Static<typeof TokenKeyEntry>;

/**
 * R9, R26: the MSP as Privacy Pass issuer for its own users (docs/spec/privacy-pass.md). At most
 * two keys (the current one and the next, for rotation): every key is a partition of the MSP's
 * users a DP could tell apart, so the registry bounds how many there are.
 */
export const MspIssuer = Type.Object(
  {
    /** RFC 9577 issuer_name, as it appears in the TokenChallenge. */
    name: Type.String({ pattern: '^[a-z0-9](?:[a-z0-9.:-]{0,251}[a-z0-9])?$' }),
    tokenKeys: Type.Array(TokenKeyEntry, { minItems: 1, maxItems: 2 }),
  },
  { additionalProperties: false },
);
export type MspIssuer = Static<typeof MspIssuer>;

/**
 * A token key found by its token_key_id, with the MSP that issues under it.
 *
 * @example
 * const found: RegisteredTokenKey | undefined = registry.tokenKey(keyIdHex);
 */
export interface RegisteredTokenKey {
  msp: MspEntry;
  issuerName: string;
  key: TokenKeyEntry;
}

/**
 * An MSP in the registry: its id, domain, keys, bit position and issuer.
 *
 * @example
 * const msp1: MspEntry | undefined = registry.msp('msp1');
 */
export const MspEntry = Type.Object(
  {
    id: ParticipantId,
    domain: Type.String({ minLength: 3, maxLength: 253 }),
    keys: Keys,
    /** Position of this MSP in compact answers (R15). */
    bit: Type.Integer({ minimum: 0, maximum: 65535 }),
    operator: Operator,
    webhook: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 512 })),
    /**
     * R22: CSIs this MSP may look up on the plain path (POST /v1/lookup) per minute and per day,
     * at every DP, sized to its users. Absent: each DP's strict default (limits.mspLookupPer*).
     */
    lookupBudget: Type.Optional(
      Type.Object(
        {
          perMinute: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
          perDay: Type.Integer({ minimum: 1, maximum: 100_000_000_000 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Privacy Pass issuer of this MSP's users (RFC 9576-9578); absent: it issues no tokens. */
    issuer: Type.Optional(MspIssuer),
  },
  { additionalProperties: false },
);
export type MspEntry = Static<typeof MspEntry>;

/**
 * A verifier in the registry: its key, methods and operator.
 *
 * @example
 * const verifiers: VerifierEntry[] = registry.doc.verifiers;
 */
export const VerifierEntry = Type.Object(
  {
    id: ParticipantId,
    keys: Keys,
    methods: Type.Array(Type.Union(Object.values(PossessionMethod).map((m) => Type.Literal(m))), {
      minItems: 1,
    }),
    operator: Operator,
    endpoint: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type VerifierEntry = Static<typeof VerifierEntry>;

/**
 * A CSIP in the registry: its key and the CSIs it may vouch for.
 *
 * @example
 * const csips: CsipEntry[] = registry.doc.csips;
 */
export const CsipEntry = Type.Object(
  {
    id: ParticipantId,
    keys: Keys,
    operator: Operator,
    /** CSIs this CSIP issues: `tel:+<prefix>` or `mailto:*@<domain>`; it may vouch for no other. */
    scope: Type.Array(Type.String({ pattern: '^(tel:\\+[0-9]{1,15}|mailto:\\*@[a-z0-9.-]+)$' }), {
      minItems: 1,
    }),
  },
  { additionalProperties: false },
);
export type CsipEntry = Static<typeof CsipEntry>;
/**
 * An attestation issuer of the registry: a verifier or a CSIP.
 *
 * @example
 * const issuer: Issuer | undefined = registry.issuer(attestation.issuer);
 */
export type Issuer = { kind: 'verifier'; entry: VerifierEntry } | { kind: 'csip'; entry: CsipEntry };

export const RegistryPolicy = Type.Object(
  {
    /** R11: the federation's agreed default for lookups. */
    federationDefault: Type.Boolean(),
    /** Longest lifetime a mapping may ask for, in seconds. */
    maxMappingLifetime: Type.Integer({ minimum: 60 }),
  },
  { additionalProperties: false },
);

const documentMembers = {
  federation: ParticipantId,
  /** Monotonic: a node never goes back to a lower serial (rollback protection). */
  serial: Type.Integer({ minimum: 1 }),
  issuedAt: Type.Integer({ minimum: 0 }),
  expiresAt: Type.Integer({ minimum: 0 }),
  policy: RegistryPolicy,
  msps: Type.Array(MspEntry),
  verifiers: Type.Array(VerifierEntry),
  csips: Type.Array(CsipEntry),
  sig: SignatureB64,
};

/** The registry, version 2: DP keys by usage. What `registry create` makes. */
export const RegistryDocumentV2 = Type.Object(
  { v: Type.Literal(2), ...documentMembers, dps: Type.Array(DpEntry) },
  { additionalProperties: false },
);
/** Version 1, opened for the transition: each DP's one key list serves every usage. */
export const RegistryDocumentV1 = Type.Object(
  { v: Type.Literal(1), ...documentMembers, dps: Type.Array(DpEntryV1) },
  { additionalProperties: false },
);
/**
 * The signed registry document (docs/spec/registry.md), version 2 or 1.
 *
 * @example
 * const doc: RegistryDocument = registry.doc;
 */
export const RegistryDocument = Type.Union([RegistryDocumentV2, RegistryDocumentV1]);
export type RegistryDocument = Static<typeof RegistryDocument>;
type Unsigned<T> = T extends unknown ? Omit<T, 'sig'> : never;
export type UnsignedRegistry = Unsigned<RegistryDocument>;
export type UnsignedRegistryV2 = Omit<Static<typeof RegistryDocumentV2>, 'sig'>;

/** A DP entry of either version, as a v2 entry (a v1 key list serves every usage). */
function dpEntryOf(entry: DpEntry | DpEntryV1): DpEntry {
  if (!Array.isArray(entry.keys)) return entry as DpEntry;
  const keys = entry.keys;
  return { ...entry, keys: { records: keys, transport: keys, log: keys } };
}

export function signRegistry(doc: UnsignedRegistry, key: SigningKey): RegistryDocument {
  checkConsistency(doc);
  return { ...doc, sig: signObject(SignPurpose.Registry, doc, key) };
}

/**
 * An opened registry: the document plus indexes by id, domain and bit. Immutable.
 *
 * @example
 * const registry = Registry.open(doc, pinnedKey);
 * const msp1 = registry.msp('msp1');
 */
export class Registry {
  readonly doc: RegistryDocument;
  private readonly dps: Map<string, DpEntry>;
  /** The DPs as v2 entries, in the document's order. */
  private readonly dpList: readonly DpEntry[];
  private readonly msps: Map<string, MspEntry>;
  private readonly mspsByDomain: Map<string, MspEntry>;
  private readonly issuers: Map<string, Issuer>;
  /** Token keys by hex token_key_id (SHA-256 of the key encoding). */
  private readonly tokenKeys: Map<string, RegisteredTokenKey>;
  /** Number of bits in a compact answer: one past the highest MSP position. */
  readonly bitLength: number;

  private constructor(doc: RegistryDocument) {
    this.doc = doc;
    this.dpList = doc.dps.map(dpEntryOf);
    this.dps = new Map(this.dpList.map((d) => [d.id, d]));
    this.msps = new Map(doc.msps.map((m) => [m.id, m]));
    this.mspsByDomain = new Map(doc.msps.map((m) => [m.domain, m]));
    this.issuers = new Map();
    for (const v of doc.verifiers) this.issuers.set(v.id, { entry: v, kind: 'verifier' });
    for (const c of doc.csips) this.issuers.set(c.id, { entry: c, kind: 'csip' });
    this.tokenKeys = tokenKeysOf(doc);
    this.bitLength = doc.msps.reduce((max, m) => Math.max(max, m.bit + 1), 0);
  }

  /**
   * Check a registry against the pinned key: signature, expiry, consistency, and (given the
   * serial of the one in use) no rollback. This is the only way to make a Registry.
   *
   * @example
   * const registry = Registry.open(JSON.parse(await readFile('registry.json', 'utf8')), pinnedKey);
   */
  static open(
    value: unknown,
    pinnedKey: string,
    opts: { now?: number; minSerial?: number; minVersion?: number } = {},
  ): Registry {
    const now = opts.now ?? nowSeconds();
    const v = (value as { v?: unknown } | null)?.v;
    const doc: RegistryDocument = decodeRecord(
      v === 1 ? RegistryDocumentV1 : RegistryDocumentV2,
      value,
      'registry',
    );
    const { sig, ...unsigned } = doc;
    if (!verifyObject(SignPurpose.Registry, unsigned, sig, pinnedKey)) {
      throw new MimiError(
        'registry-signature-invalid',
        'the registry is not signed by the pinned registry key',
      );
    }
    if (doc.expiresAt <= now) {
      throw new MimiError('registry-expired', `the registry expired at ${doc.expiresAt}`);
    }
    if (opts.minSerial !== undefined && doc.serial < opts.minSerial) {
      throw new MimiError(
        'registry-rollback',
        `registry serial ${doc.serial} is older than ${opts.minSerial}`,
      );
    }
    // §8.1.2: no way back from keys per usage to one key list for all, whatever the serial.
    if (opts.minVersion !== undefined && doc.v < opts.minVersion) {
      throw new MimiError('registry-rollback', `registry version ${doc.v} after version ${opts.minVersion}`);
    }
    checkConsistency(doc);
    return new Registry(doc);
  }

  get serial(): number {
    return this.doc.serial;
  }
  /** The DP's entry, its keys by usage whatever the document's version. */
  dp(id: string): DpEntry | undefined {
    return this.dps.get(id);
  }
  /** The keys the DP signs with for `usage`; none for a DP not in the registry. */
  dpKeys(id: string, usage: DpKeyUsage): readonly string[] {
    return this.dps.get(id)?.keys[usage] ?? [];
  }
  msp(id: string): MspEntry | undefined {
    return this.msps.get(id);
  }
  mspByDomain(domain: string): MspEntry | undefined {
    return this.mspsByDomain.get(domain);
  }
  issuer(id: string): Issuer | undefined {
    return this.issuers.get(id);
  }
  /** The token key with this token_key_id (hex), whatever its notAfter; undefined if none. */
  tokenKey(keyIdHex: string): RegisteredTokenKey | undefined {
    return this.tokenKeys.get(keyIdHex);
  }
  allMsps(): readonly MspEntry[] {
    return this.doc.msps;
  }
  allDps(): readonly DpEntry[] {
    return this.dpList;
  }
}

/** Ids unique across all roles, MSP domains and bits unique: a registry that breaks these is refused. */
function checkConsistency(doc: UnsignedRegistry): void {
  const ids = new Set<string>();
  for (const p of [...doc.dps, ...doc.msps, ...doc.verifiers, ...doc.csips]) {
    if (ids.has(p.id))
      throw new MimiError('record-invalid', `registry: participant id ${p.id} appears twice`);
    ids.add(p.id);
  }
  // v2: a key serves one usage of one DP, or a leak of one would sign for another (§8.1.1).
  if (doc.v === 2) {
    const seen = new Set<string>();
    for (const d of doc.dps) {
      for (const usage of dpKeyUsages) {
        for (const k of d.keys[usage]) {
          if (seen.has(k)) {
            throw new MimiError(
              'record-invalid',
              `registry: DP key ${k} of ${d.id} appears twice (a key serves one usage of one DP)`,
            );
          }
          seen.add(k);
        }
      }
    }
  }
  const bits = new Set<number>();
  const domains = new Set<string>();
  for (const m of doc.msps) {
    if (bits.has(m.bit)) throw new MimiError('record-invalid', `registry: MSP bit ${m.bit} is used twice`);
    bits.add(m.bit);
    if (canonicalDomain(m.domain) !== m.domain) {
      throw new MimiError('record-invalid', `registry: MSP domain ${m.domain} is not a canonical domain`);
    }
    if (domains.has(m.domain))
      throw new MimiError('record-invalid', `registry: MSP domain ${m.domain} is used twice`);
    domains.add(m.domain);
  }
  tokenKeysOf(doc);
}

/** Token keys by key id; a key or issuer name listed twice is refused (a token names one MSP). */
function tokenKeysOf(doc: UnsignedRegistry): Map<string, RegisteredTokenKey> {
  const keys = new Map<string, RegisteredTokenKey>();
  const names = new Set<string>();
  for (const msp of doc.msps) {
    if (msp.issuer === undefined) continue;
    if (names.has(msp.issuer.name)) {
      throw new MimiError('record-invalid', `registry: issuer name ${msp.issuer.name} is used twice`);
    }
    names.add(msp.issuer.name);
    for (const key of msp.issuer.tokenKeys) {
      const id = bytesToHex(sha256(fromB64u(key.key, 'registry: token key')));
      if (keys.has(id)) throw new MimiError('record-invalid', 'registry: a token key is listed twice');
      keys.set(id, { msp, issuerName: msp.issuer.name, key });
    }
  }
  return keys;
}

/** True when `csi` (canonical) falls within a CSIP's scope. */
export function csipCovers(entry: CsipEntry, csi: string): boolean {
  return entry.scope.some((s) =>
    s.startsWith('tel:')
      ? csi.startsWith(s)
      : csi.endsWith(s.slice('mailto:*'.length)) && csi.startsWith('mailto:'),
  );
}
