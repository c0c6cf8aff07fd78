import type { Static } from '@sinclair/typebox';
import {
  CompactAnswer,
  type PeerReports,
  SharedVerboseAnswer,
  type VerboseAnswer,
} from '../protocol/answers.js';
import { fromB64u, nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { byPreference } from '../protocol/preference.js';
import type { LookupFormat, LookupRequest, LookupStatus, Mapping } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut, mappingId, verifyMapping } from '../registry/verify-mapping.js';
import type { Checkpoint } from '../tlog/checkpoint.js';
import { call, type HttpOptions } from './http.js';
import { verifyMappingLogged } from './log-verify.js';
import { type RegistryInput, registryGetter } from './registry-input.js';
import { type Credential, Session } from './session.js';

/**
 * A mapping that passed every check: signatures, id, CSI, log inclusion proof (R3).
 *
 * @example
 * const ssi = result.mappings[0]?.mapping.body.ssi;
 */
export interface VerifiedMapping {
  id: string;
  /** DPs that returned this mapping (R15). */
  dps: string[];
  mapping: Mapping;
}

/**
 * One CSI's verified answer, in the order asked.
 *
 * @example
 * const [bob] = await lookups.lookup(['+14155550101']);
 * if (bob.status === 'one') console.log(bob.mappings[0].mapping.body.ssi);
 */
export interface VerifiedResult {
  query: string;
  csi: string;
  status: LookupStatus;
  /** Verified mappings, in the holder's order of preference (R7). */
  mappings: VerifiedMapping[];
}

/**
 * An answer with shared proofs (`logShared`) as the same answer with every proof whole, so that
 * each is verified exactly as an inline one; an inline answer is returned as it is. A position
 * outside the tables is `record-invalid`.
 *
 * @example
 * const inline = inlineProofs(sharedAnswer);
 */
export function inlineProofs(answer: VerboseAnswer | SharedVerboseAnswer): VerboseAnswer {
  if (!('logShared' in answer) || answer.logShared === undefined) return answer as VerboseAnswer;
  const tables = answer.logShared;
  const out = (why: string) => new MimiError('record-invalid', `shared proofs: ${why}`);
  const { logShared: _, ...rest } = answer;
  return {
    ...rest,
    results: answer.results.map((r) => ({
      ...r,
      mappings: r.mappings.map(({ log, ...m }) => {
        if (log === undefined) return m;
        const checkpoint = tables.checkpoints[log.checkpoint];
        if (checkpoint === undefined) throw out('no such checkpoint');
        const proof = log.proof.map((i) => {
          const h = tables.nodes[i];
          if (h === undefined) throw out('no such hash');
          return h;
        });
        return { ...m, log: { leaf: log.leaf, proof, checkpoint } };
      }),
    })),
  };
}

/**
 * Verifies a verbose answer completely: every mapping with the shared verifyMapping, its id, its
 * CSI against the question, its inclusion proof in the transparency log of the DP that accepted it
 * (R3; strict unless the policy says `allowUnlogged`, and with `minCosignatures` witness
 * cosignatures when the policy asks), and the status against what was found. Nothing unverified
 * gets out; a DP that lies is caught, whoever it is.
 *
 * `asked` is the list of CSIs the lookup asked, in its order; `now` defaults to the clock.
 *
 * @example
 * const results = verifyVerboseAnswer(answer, { asked: ['tel:+14155550101'], registry });
 */
export function verifyVerboseAnswer(
  received: VerboseAnswer | SharedVerboseAnswer,
  opts: VerifyAnswerOptions,
): VerifiedResult[] {
  const answer = inlineProofs(received);
  const { asked } = opts;
  // Each distinct checkpoint of the answer is opened (its signatures checked) once.
  const ctx = {
    registry: registryGetter(opts.registry)(),
    policy: opts.policy ?? {},
    now: opts.now ?? nowSeconds(),
    opened: new Map<string, Checkpoint>(),
  };
  if (answer.results.length !== asked.length) {
    throw new MimiError(
      'record-invalid',
      `asked ${asked.length} CSIs, the answer has ${answer.results.length}`,
    );
  }
  return answer.results.map((r, i) => {
    if (r.query !== asked[i]) throw new MimiError('record-invalid', `result ${i} answers another question`);
    // The CSI the result is about must be the one asked: else a genuine mapping of another number
    // would pass as this one's. (A non-canonical r.csi equal to the query fails in verifyMapping.)
    if (r.csi !== r.query && r.csi !== canonicalOrUndefined(r.query)) {
      throw new MimiError('record-invalid', `result ${i} is about another CSI than the one asked`);
    }
    for (const m of r.mappings) {
      verifyMapping(m.mapping, ctx);
      if (mappingId(m.mapping) !== m.id)
        throw new MimiError('record-invalid', 'a mapping id does not match its mapping');
      if (m.mapping.body.csi !== r.csi) throw new MimiError('record-invalid', 'a mapping is for another CSI');
      verifyMappingLogged(m, ctx);
    }
    const optOuts = r.mappings.filter((m) => isOptOut(m.mapping.body)).length;
    const expected: LookupStatus =
      optOuts > 0
        ? 'opt-out'
        : r.mappings.length === 0
          ? 'none'
          : r.mappings.length === 1
            ? 'one'
            : 'several';
    if (expected !== r.status || (optOuts > 0 && r.mappings.length !== 1)) {
      throw new MimiError(
        'record-invalid',
        `result ${i} says ${r.status} but carries ${r.mappings.length} mappings`,
      );
    }
    // The proof was checked above; results carry the verified mappings only.
    const mappings = r.mappings.map((m) => ({ id: m.id, dps: m.dps, mapping: m.mapping }));
    return { query: r.query, csi: r.csi, status: r.status, mappings: mappings.sort(preference) };
  });
}

function canonicalOrUndefined(query: string): string | undefined {
  try {
    return parseCsi(query).uri;
  } catch {
    return undefined;
  }
}

function preference(a: VerifiedMapping, b: VerifiedMapping): number {
  const key = (m: VerifiedMapping) => ({ ...m.mapping.body, acceptedAt: m.mapping.acceptedAt, id: m.id });
  return byPreference(key(a), key(b));
}

/**
 * The sender's pick (R7): the mapping the holder prefers, optionally among the MSPs the sender
 * can reach; undefined when there is none or the holder opted out.
 *
 * @example
 * const pick = pickMapping(bob, ['msp1', 'msp2']);
 * if (pick !== undefined) send(pick.mapping.body.ssi);
 */
export function pickMapping(
  result: VerifiedResult,
  reachable?: readonly string[],
): VerifiedMapping | undefined {
  if (result.status === 'opt-out') return undefined;
  return result.mappings.find(
    (m) => reachable === undefined || (m.mapping.body.msp !== null && reachable.includes(m.mapping.body.msp)),
  );
}

/**
 * One CSI of a compact answer: which MSPs it is reachable on (R15), not verifiable per mapping.
 *
 * @example
 * const [r] = await lookups.lookupCompact(['+14155550101']);
 * if (r.msps.includes('msp1')) console.log('on msp1');
 */
export interface CompactResult {
  csi: string;
  status: LookupStatus;
  msps: string[];
}

/**
 * Decodes a compact answer's bit strings into MSP ids with the registry's bit positions (R15).
 *
 * @example
 * const results = decodeCompactAnswer(answer, registry);
 */
export function decodeCompactAnswer(answer: CompactAnswer, registryInput: RegistryInput): CompactResult[] {
  const registry = registryGetter(registryInput)();
  if (answer.registrySerial !== registry.serial) {
    throw new MimiError(
      'record-invalid',
      `the answer uses registry serial ${answer.registrySerial}, we have ${registry.serial}`,
    );
  }
  return answer.results.map((r) => {
    const bytes = fromB64u(r.bits, 'bits');
    if (bytes.length !== Math.ceil(registry.bitLength / 8))
      throw new MimiError('record-invalid', 'bit string of the wrong length');
    const msps = registry
      .allMsps()
      .filter((m) => ((bytes[m.bit >> 3] ?? 0) & (0x80 >> (m.bit & 7))) !== 0)
      .map((m) => m.id);
    return { csi: r.csi, status: r.status, msps };
  });
}

/**
 * What {@link verifyVerboseAnswer} checks an answer against.
 *
 * @example
 * const opts: VerifyAnswerOptions = { asked: ['tel:+14155550101'], registry, policy: { minCosignatures: 1 } };
 */
export interface VerifyAnswerOptions {
  /** The CSIs the lookup asked, in its order. */
  asked: readonly string[];
  registry: RegistryInput;
  /** Strict by default (STYLE.md §6). */
  policy?: TrustPolicy;
  /** Unix seconds; default: the clock. */
  now?: number;
}

/**
 * R10: the lookup parameters; absent ones take the DP's published defaults (R11).
 *
 * @example
 * await lookups.lookup(csis, { federation: true, dpList: 'all', mspFilter: ['msp1'] });
 */
export type LookupOptions = Pick<LookupRequest, 'mspFilter' | 'federation' | 'dpList'>;

/**
 * How one peer DP answered a federated lookup (R10, R15): `ok`, `timeout`, `error`,
 * `rate-limited` or `unavailable`.
 *
 * @example
 * const slow = peers.filter((p: PeerReport) => p.status === 'timeout').map((p) => p.dp);
 */
export type PeerReport = Static<typeof PeerReports>[number];

/**
 * What a {@link LookupClient} needs: the DP, the registry and how to authenticate.
 *
 * @example
 * const opts: LookupClientOptions = {
 *   dp: { baseUrl: 'https://dp1.example', id: 'dp1' },
 *   registry: Registry.open(doc, pinnedKey),
 *   credential: { participant: 'msp1', key: mspKey },
 * };
 */
export interface LookupClientOptions {
  /** The DP asked: its base URL and registry id (a session is for one DP, R23). */
  dp: HttpOptions & { id: string };
  registry: RegistryInput;
  /** Strict by default (STYLE.md §6). */
  policy?: TrustPolicy;
  /** R9: lookups are made by MSPs; this MSP's key, or its bearer tokens. */
  credential: Credential;
  /** Unix seconds; default: the clock. */
  now?: () => number;
}

/**
 * MSP-proxied lookups (R9: the DP sees the MSP, not its user) with every answer verified before
 * use: each mapping's signatures and its inclusion proof in the log of the DP that accepted it
 * (R3), against the registry. Needs no {@link MspAgent}: an MSP's lookup service, a sender's
 * backend, a monitor.
 *
 * @example
 * const lookups = new LookupClient({
 *   dp: { baseUrl: 'https://dp1.example', id: 'dp1' },
 *   registry: new RegistrySource({ location: 'https://dp1.example/v1/registry', pinnedKey }),
 *   credential: { participant: 'msp1', key: mspKey },
 * });
 * const [bob] = await lookups.lookup(['+14155550101']);
 */
export class LookupClient {
  readonly #ctx: LookupContext;

  constructor(opts: LookupClientOptions) {
    const now = opts.now ?? nowSeconds;
    this.#ctx = {
      dp: opts.dp,
      registry: registryGetter(opts.registry),
      policy: opts.policy ?? {},
      now,
      session: new Session({ dp: opts.dp, credential: opts.credential, now }),
    };
  }

  /** The session token in use (R23): e.g. the credential of a private lookup's evaluations (R22). */
  sessionToken(): Promise<string> {
    return this.#ctx.session.token();
  }

  /**
   * Looks CSIs up and verifies every mapping; results in the order asked.
   *
   * @example
   * const [bob] = await lookups.lookup(['+14155550101']);
   */
  async lookup(csis: readonly string[], opts: LookupOptions = {}): Promise<VerifiedResult[]> {
    return (await verifiedLookup(this.#ctx, csis, opts)).results;
  }

  /**
   * The same, also returning how each peer DP answered a federated lookup (R10, R15).
   *
   * @example
   * const { results, peers } = await lookups.lookupWithPeers(csis, { federation: true });
   */
  lookupWithPeers(
    csis: readonly string[],
    opts: LookupOptions = {},
  ): Promise<{ results: VerifiedResult[]; peers: PeerReport[] }> {
    return verifiedLookup(this.#ctx, csis, opts);
  }

  /**
   * Compact lookup: which MSPs each CSI is reachable on, as bits (R15). Not verifiable per mapping.
   *
   * @example
   * const [r] = await lookups.lookupCompact(['+14155550101']);
   */
  lookupCompact(csis: readonly string[], opts: LookupOptions = {}): Promise<CompactResult[]> {
    return compactLookup(this.#ctx, csis, opts);
  }
}

/** What a lookup runs with; shared by LookupClient and MspAgent (which keeps one session for both). */
export interface LookupContext {
  dp: HttpOptions & { id: string };
  registry: () => Registry;
  policy: TrustPolicy;
  now: () => number;
  session: Session;
}

/** POST /v1/lookup, verbose with shared proofs, every mapping verified (R3). */
export async function verifiedLookup(
  ctx: LookupContext,
  csis: readonly string[],
  opts: LookupOptions,
): Promise<{ results: VerifiedResult[]; peers: PeerReport[] }> {
  const body = {
    v: 1,
    csis: csis.map((c) => parseCsi(c).uri),
    format: 'verbose' satisfies LookupFormat,
    // What the mappings' proofs have in common comes once (checkpoints, upper tree hashes).
    proofs: 'shared' as const,
    ...opts,
  };
  const answer = await ctx.session.authed((token) =>
    call(ctx.dp, 'POST', '/v1/lookup', SharedVerboseAnswer, body, token),
  );
  const results = verifyVerboseAnswer(answer, {
    asked: body.csis,
    registry: ctx.registry(),
    policy: ctx.policy,
    now: ctx.now(),
  });
  return { results, peers: answer.peers ?? [] };
}

/** POST /v1/lookup, compact (R15). */
export async function compactLookup(
  ctx: LookupContext,
  csis: readonly string[],
  opts: LookupOptions,
): Promise<CompactResult[]> {
  const body = {
    v: 1,
    csis: csis.map((c) => parseCsi(c).uri),
    format: 'compact' satisfies LookupFormat,
    ...opts,
  };
  const answer = await ctx.session.authed((token) =>
    call(ctx.dp, 'POST', '/v1/lookup', CompactAnswer, body, token),
  );
  return decodeCompactAnswer(answer, ctx.registry());
}
