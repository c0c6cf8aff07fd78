import type { CompactAnswer, SharedVerboseAnswer, VerboseAnswer } from '../protocol/answers.js';
import { fromB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { byPreference } from '../protocol/preference.js';
import type { LookupStatus, Mapping } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut, mappingId, verifyMapping } from '../registry/verify-mapping.js';
import type { Checkpoint } from '../tlog/checkpoint.js';
import { verifyMappingLogged } from './log-verify.js';

export interface VerifiedMapping {
  id: string;
  /** DPs that returned this mapping (R15). */
  dps: string[];
  mapping: Mapping;
}

export interface VerifiedResult {
  query: string;
  csi: string;
  status: LookupStatus;
  /** Verified mappings, in the holder's order of preference (R7). */
  mappings: VerifiedMapping[];
}

/**
 * Verifies a verbose answer completely: every mapping with the shared verifyMapping, its id, its
 * CSI against the question, its inclusion proof in the transparency log of the DP that accepted it
 * (R3; strict unless the policy says `allowUnlogged`, and with `minCosignatures` witness
 * cosignatures when the policy asks), and the status against what was found. Nothing unverified
 * gets out; a DP that lies is caught, whoever it is.
 *
 * @example
 * const results = verifyVerboseAnswer(answer, ['tel:+14155550101'], { registry, policy: {}, now });
 */
/**
 * An answer with shared proofs (`logShared`) as the same answer with every proof whole, so that
 * each is verified exactly as an inline one; an inline answer is returned as it is. A position
 * outside the tables is `record-invalid`.
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

export function verifyVerboseAnswer(
  received: VerboseAnswer | SharedVerboseAnswer,
  asked: readonly string[],
  context: { registry: Registry; policy: TrustPolicy; now: number },
): VerifiedResult[] {
  const answer = inlineProofs(received);
  // Each distinct checkpoint of the answer is opened (its signatures checked) once.
  const ctx = { ...context, opened: new Map<string, Checkpoint>() };
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
      verifyMappingLogged(m.mapping, m.id, m.log, ctx);
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

/** Decodes a compact answer's bit strings into MSP ids with the registry's bit positions (R15). */
export function decodeCompactAnswer(
  answer: CompactAnswer,
  registry: Registry,
): { csi: string; status: LookupStatus; msps: string[] }[] {
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
