import { toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { byPreference } from '../protocol/preference.js';
import { type LookupFormat, LookupStatus } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { Store, StoredMapping } from '../store/store.js';

export interface LookupOptions {
  format: LookupFormat;
  mspFilter?: readonly string[];
  maxBatch: number;
  now: number;
}

export interface LookupResult {
  /** The CSI as the caller wrote it, and its canonical form (R8). */
  query: string;
  csi: string;
  status: LookupStatus;
  /** Served mappings in the holder's order of preference (R7); for opt-out, the signed opt-out. */
  rows: StoredMapping[];
}

/** Batch lookup from the local store; answers tell none, opt-out, one and several apart (R14). */
export async function lookupLocal(
  store: Store,
  queries: readonly string[],
  opts: LookupOptions,
): Promise<LookupResult[]> {
  if (queries.length > opts.maxBatch) {
    throw new MimiError('batch-too-large', `at most ${opts.maxBatch} CSIs per lookup`, {
      limit: opts.maxBatch,
    });
  }
  const canonical = queries.map((q, index) => {
    try {
      return parseCsi(q).uri;
    } catch (err) {
      if (err instanceof MimiError)
        throw new MimiError(err.code, `csis[${index}]: ${err.message}`, { index });
      throw err;
    }
  });
  const found = await store.activeMappings([...new Set(canonical)], opts.now);
  const filter = opts.mspFilter === undefined ? undefined : new Set(opts.mspFilter);
  return canonical.map((csi, i) => resultFor(queries[i]!, csi, found.get(csi) ?? [], filter));
}

/**
 * One CSI's result from its served rows (R14): none, opt-out, one or several, in the holder's
 * order of preference. Shared with the private index, which seals exactly this result (R9).
 */
export function resultFor(
  query: string,
  csi: string,
  rows: readonly StoredMapping[],
  filter?: ReadonlySet<string>,
): LookupResult {
  const optOut = rows.find((r) => r.optOut);
  if (optOut !== undefined) return { query, csi, status: LookupStatus.OptOut, rows: [optOut] };
  const served = rows
    .filter((r) => filter === undefined || (r.msp !== null && filter.has(r.msp)))
    .sort(byPreference);
  const status =
    served.length === 0 ? LookupStatus.None : served.length === 1 ? LookupStatus.One : LookupStatus.Several;
  return { query, csi, status, rows: served };
}

/**
 * R15 verbose: each mapping with everything needed to verify it, and the DPs that returned it.
 * Stored mappings are already canonical JSON, so they are spliced in rather than re-serialised.
 */
export function renderVerbose(dpId: string, results: readonly LookupResult[]): string {
  const parts = results.map((r) => {
    const mappings = r.rows.map(
      (m) => `{"id":"${m.id}","dps":[${JSON.stringify(dpId)}],"mapping":${m.json}}`,
    );
    return `{"query":${JSON.stringify(r.query)},"csi":${JSON.stringify(r.csi)},"status":"${r.status}","mappings":[${mappings.join(',')}]}`;
  });
  return `{"v":1,"format":"verbose","dp":${JSON.stringify(dpId)},"results":[${parts.join(',')}]}`;
}

/** R15 compact: per CSI a bit string, one bit per MSP position in the registry (bit 0 = MSB of byte 0). */
export function compactBits(registry: Registry, rows: readonly StoredMapping[]): string {
  const bytes = new Uint8Array(Math.ceil(registry.bitLength / 8));
  for (const row of rows) {
    const msp = row.msp === null ? undefined : registry.msp(row.msp);
    if (msp === undefined) continue;
    bytes[msp.bit >> 3]! |= 0x80 >> (msp.bit & 7);
  }
  return toB64u(bytes);
}

export function renderCompact(dpId: string, registry: Registry, results: readonly LookupResult[]): string {
  const parts = results.map(
    (r) =>
      `{"query":${JSON.stringify(r.query)},"csi":${JSON.stringify(r.csi)},"status":"${r.status}","bits":"${compactBits(registry, r.rows)}"}`,
  );
  return `{"v":1,"format":"compact","dp":${JSON.stringify(dpId)},"registrySerial":${registry.serial},"bitLength":${registry.bitLength},"results":[${parts.join(',')}]}`;
}
