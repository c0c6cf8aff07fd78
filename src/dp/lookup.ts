import { fromB64u, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import type { LookupFormat, LookupStatus } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { Store } from '../store/store.js';
import { JsonBytes } from './json-bytes.js';
import type { LogMember } from './lookup-proofs.js';
import { type ServedMapping, statusOf } from './merge.js';
import { type MappingProof, writeMappingProof } from './transparency-log.js';

export interface LookupOptions {
  format: LookupFormat;
  mspFilter?: readonly string[];
  maxBatch: number;
  now: number;
}

/** A served mapping as an answer carries it; `dps` defaults to the answering DP. */
export type ServedRow = Omit<ServedMapping, 'dps'> & { dps?: string[] };

export interface LookupResult {
  /** The CSI as the caller wrote it, and its canonical form (R8). */
  query: string;
  csi: string;
  status: LookupStatus;
  /** Served mappings in the holder's order of preference (R7); for opt-out, the signed opt-out. */
  rows: ServedRow[];
}

/** How each peer fared in a federated lookup (R15: the answer says which DPs answered). */
export interface PeerReport {
  dp: string;
  status: string;
  code?: string;
  ms?: number;
}

/** R8, R22: bounds the batch and canonicalises every CSI; a bad one fails the request with its index. */
export function canonicalQueries(queries: readonly string[], maxBatch: number): string[] {
  checkBatch(queries, maxBatch);
  return queries.map(canonicalQuery);
}

function checkBatch(queries: readonly string[], maxBatch: number): void {
  if (queries.length > maxBatch) {
    throw new MimiError('batch-too-large', `at most ${maxBatch} CSIs per lookup`, { limit: maxBatch });
  }
}

function canonicalQuery(q: string, index: number): string {
  try {
    return parseCsi(q).uri;
  } catch (err) {
    if (err instanceof MimiError) throw new MimiError(err.code, `csis[${index}]: ${err.message}`, { index });
    throw err;
  }
}

/** Could be a stored CSI as written: worth a store read before any parsing. */
function maybeCanonical(q: string): boolean {
  return (
    typeof q === 'string' &&
    q.length <= 330 &&
    (q.startsWith('tel:+') || q.startsWith('mailto:') || q.startsWith('mimi:'))
  );
}

/**
 * Batch lookup from the local store; answers tell none, opt-out, one and several apart (R14).
 *
 * Only canonical CSIs are ever stored (every accept checks it), so a query found as written is
 * canonical and valid, and needs no parsing: the store is asked first for the queries that look
 * canonical, in one read. Only the others, and those with nothing served, go through parseCsi,
 * which canonicalises them (R8) or fails with their own error code and index, as before.
 */
export async function lookupLocal(
  store: Store,
  queries: readonly string[],
  opts: LookupOptions,
): Promise<LookupResult[]> {
  checkBatch(queries, opts.maxBatch);
  // R15: a compact answer carries no record, id or holder key, so the read leaves them out.
  const read = opts.format === 'compact' ? { json: false, keys: false } : { json: true };
  const direct = [...new Set(queries.filter(maybeCanonical))];
  const found =
    direct.length > 0 ? await store.servedMappings(direct, opts.now, read) : new Map<string, ServedRow[]>();
  const canonical = queries.map((q, index) =>
    (found.get(q)?.length ?? 0) > 0 ? q : canonicalQuery(q, index),
  );
  const rest = [...new Set(canonical.filter((c) => !found.has(c)))];
  if (rest.length > 0)
    for (const [csi, rows] of await store.servedMappings(rest, opts.now, read)) found.set(csi, rows);
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
  rows: readonly ServedRow[],
  filter?: ReadonlySet<string>,
): LookupResult {
  return { query, csi, ...statusOf(rows, filter) };
}

/**
 * R15 verbose: each mapping with everything needed to verify it, and the DPs that returned it.
 * Stored mappings are already canonical JSON, so they are spliced in rather than re-serialised;
 * the answer is written as bytes (json-bytes.ts), proofs' hashes encoded straight into it.
 *
 * With `shared`, what several mappings' proofs have in common is sent once (docs/spec/api.md,
 * "Shared proofs"): each distinct checkpoint note and each distinct proof hash goes into the
 * answer's `logShared` tables, and a mapping's `log` names them by position.
 */
export function renderVerbose(
  dpId: string,
  results: readonly LookupResult[],
  peers?: readonly PeerReport[],
  opts: { shared?: boolean } = {},
): Buffer {
  let hint = 256;
  for (const r of results) for (const m of r.rows) hint += m.json.length + 2048;
  const out = new JsonBytes(hint);
  const self = JSON.stringify([dpId]);
  const shared = opts.shared === true ? new ProofTables() : undefined;
  out.ascii('{"v":1,"format":"verbose","dp":').string(dpId).ascii(',"results":[');
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    out.ascii(i === 0 ? '{"query":' : ',{"query":').string(r.query);
    out.ascii(',"csi":').string(r.csi).ascii(`,"status":"${r.status}","mappings":[`);
    for (let j = 0; j < r.rows.length; j++) {
      const m = r.rows[j]!;
      out.ascii(j === 0 ? '{"id":' : ',{"id":').string(m.id);
      out.ascii(',"dps":').utf8(m.dps === undefined ? self : JSON.stringify(m.dps));
      out.ascii(',"mapping":').utf8(m.json);
      if (m.log !== undefined) {
        if (shared !== undefined) shared.write(out, m.log);
        else if (typeof m.log === 'string') out.ascii(',"log":').utf8(m.log);
        else writeMappingProof(out.ascii(',"log":'), m.log);
      }
      out.ascii('}');
    }
    out.ascii(']}');
  }
  out.ascii(']');
  if (shared !== undefined) shared.writeTables(out.ascii(',"logShared":'));
  if (peers !== undefined) out.ascii(',"peers":').utf8(JSON.stringify(peers));
  return out.ascii('}').done();
}

/** The checkpoints and hashes of one answer's proofs, each kept once, in order of first use. */
class ProofTables {
  private readonly checkpoints = new Map<string, number>();
  /** Hashes by their 32 bytes read as Latin-1 (exact, and cheaper to make than base64url). */
  private readonly nodes = new Map<string, number>();
  private readonly hashes: Uint8Array[] = [];

  /** A mapping's `log` member in its shared form (SharedLogProof), or nothing for one not ours to share. */
  write(out: JsonBytes, log: LogMember): void {
    const proof = typeof log === 'string' ? parsedProof(log) : log;
    // Our own proofs, or a peer's that passed MappingLogProof: anything else is left out (the
    // client then reports log-proof-missing rather than a proof made up here).
    if (proof === undefined) return;
    out
      .ascii(',"log":{"leaf":"')
      .b64u(proof.leaf)
      .ascii(`","checkpoint":${indexIn(this.checkpoints, proof.checkpoint)},"proof":[`);
    for (let i = 0; i < proof.proof.length; i++) {
      const h = proof.proof[i]!;
      const key = Buffer.from(h.buffer, h.byteOffset, h.length).toString('latin1');
      let n = this.nodes.get(key);
      if (n === undefined) {
        n = this.hashes.push(h) - 1;
        this.nodes.set(key, n);
      }
      out.ascii(i === 0 ? `${n}` : `,${n}`);
    }
    out.ascii(']}');
  }

  writeTables(out: JsonBytes): void {
    out.ascii('{"checkpoints":[');
    let first = true;
    for (const note of this.checkpoints.keys()) {
      out.ascii(first ? '' : ',').utf8(note);
      first = false;
    }
    out.ascii('],"nodes":').b64uArray(this.hashes).ascii('}');
  }
}

/** A peer's MappingLogProof JSON as a proof to share, its checkpoint note kept as JSON text. */
function parsedProof(logJson: string): MappingProof | undefined {
  const log = JSON.parse(logJson) as { checkpoint?: unknown; leaf?: unknown; proof?: unknown };
  if (typeof log.checkpoint !== 'string' || typeof log.leaf !== 'string' || !Array.isArray(log.proof))
    return undefined;
  try {
    return {
      checkpoint: JSON.stringify(log.checkpoint),
      leaf: fromB64u(log.leaf, 'log.leaf'),
      proof: log.proof.map((h) => fromB64u(String(h), 'log.proof', 32)),
    };
  } catch {
    return undefined;
  }
}

function indexIn(table: Map<string, number>, value: string): number {
  let i = table.get(value);
  if (i === undefined) {
    i = table.size;
    table.set(value, i);
  }
  return i;
}

/** R15 compact: per CSI a bit string, one bit per MSP position in the registry (bit 0 = MSB of byte 0). */
export function compactBits(registry: Registry, rows: readonly Pick<ServedRow, 'msp'>[]): string {
  if (registry.bitLength > maskedBits) return bitsOf(registry, rows);
  // Registries of up to 30 MSP positions: the bits as one number, each distinct string made once.
  let mask = 0;
  for (const row of rows) {
    const msp = row.msp === null ? undefined : registry.msp(row.msp);
    if (msp !== undefined) mask |= 1 << msp.bit;
  }
  let memo = bitStrings.get(registry);
  if (memo === undefined) {
    memo = new Map();
    bitStrings.set(registry, memo);
  }
  let bits = memo.get(mask);
  if (bits === undefined) {
    bits = bitsOf(registry, rows);
    if (memo.size < 4096) memo.set(mask, bits);
  }
  return bits;
}

const maskedBits = 30;
/** Per registry (a new document is a new object): bit strings by mask, at most 4,096 of them. */
const bitStrings = new WeakMap<Registry, Map<number, string>>();

function bitsOf(registry: Registry, rows: readonly Pick<ServedRow, 'msp'>[]): string {
  const bytes = new Uint8Array(Math.ceil(registry.bitLength / 8));
  for (const row of rows) {
    const msp = row.msp === null ? undefined : registry.msp(row.msp);
    if (msp === undefined) continue;
    bytes[msp.bit >> 3]! |= 0x80 >> (msp.bit & 7);
  }
  return toB64u(bytes);
}

/** R15 compact: each CSI's status and bits, written as bytes as a verbose answer is. */
export function renderCompact(
  dpId: string,
  registry: Registry,
  results: readonly LookupResult[],
  peers?: readonly PeerReport[],
): Buffer {
  const out = new JsonBytes(256 + 96 * results.length);
  out.ascii('{"v":1,"format":"compact","dp":').string(dpId);
  out.ascii(`,"registrySerial":${registry.serial},"bitLength":${registry.bitLength},"results":[`);
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    // Most queries are written canonically: their CSI is then the same text, encoded once.
    const query = JSON.stringify(r.query);
    out
      .ascii(i === 0 ? '{"query":' : ',{"query":')
      .utf8(query)
      .ascii(',"csi":');
    out.utf8(r.csi === r.query ? query : JSON.stringify(r.csi));
    out.ascii(`,"status":"${r.status}","bits":"`).ascii(compactBits(registry, r.rows)).ascii('"}');
  }
  out.ascii(']');
  if (peers !== undefined) out.ascii(',"peers":').utf8(JSON.stringify(peers));
  return out.ascii('}').done();
}
