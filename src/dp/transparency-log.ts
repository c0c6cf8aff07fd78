/**
 * The DP's transparency log: the TransparencyLog below and the leaf bytes it appends (lookup
 * proofs are in lookup-proofs.ts, the tree hashing in src/tlog/). About 400 lines because the
 * sequencer, the checkpointer and the proof reads are one object over one state (the compact
 * range, the cached subtree blocks, the latest checkpoints) that each of them updates.
 */
import { toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import type { LogCheckpointRow, LogLeafRow, LogNode, Store, StoreTx } from '../store/store.js';
import type { NoteSigner } from '../tlog/checkpoint.js';
import { signCheckpoint } from '../tlog/checkpoint.js';
import { encodeLeaf, type LogLeafKind, leafTag } from '../tlog/leaf.js';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  MerkleAccumulator,
  nodeHash,
  type TreeSource,
} from '../tlog/merkle.js';
import { BoundedCache } from './bounded-cache.js';
import { JsonBytes } from './json-bytes.js';
import type { LogPseudonym, PseudonymSource } from './log-pseudonym.js';

/** One change to log: its kind, the CSI it concerns (never written: only its pseudonym), its record. */
export interface LogEntry {
  kind: LogLeafKind;
  /** '' for a leaf that concerns no CSI, which then gives its `pseudonym`. */
  csi: string;
  time: number;
  /** SHA-256 of the record's canonical JSON. */
  commitment: Uint8Array;
  /** Written as is instead of the CSI's pseudonym (an `oprf-key` leaf: its epoch, no pseudonym). */
  pseudonym?: LogPseudonym;
}

export interface TransparencyLogOptions {
  store: Store;
  /** `mimi-discovery/<federation>/<dp id>` (logOrigin). */
  origin: string;
  /** The DP's Ed25519 key, named after the origin. */
  signer: NoteSigner;
  pseudonyms: PseudonymSource;
  /** How often a checkpoint is made when the tree grew, in ms (the node's log.checkpointIntervalMs). */
  checkpointIntervalMs: number;
  /** Bytes of complete subtree hashes kept for proofs (log.subtreeCacheBytes). */
  subtreeCacheBytes: number;
  /** Bytes of verbose answers' `log` members kept, per leaf and checkpoint (log.proofCacheBytes). */
  proofCacheBytes: number;
  now: () => number;
}

const ZERO = new Uint8Array(32);

/** The bytes of a leaf that concerns no CSI, `p` written as is: found again by their hash. */
export function leafBytes(e: LogEntry, p: LogPseudonym): Uint8Array {
  return encodeLeaf({
    v: 1,
    kind: e.kind,
    time: e.time,
    commitment: toB64u(e.commitment),
    pseudonym: toB64u(p.pseudonym),
    epoch: p.epoch,
  });
}

/** R28: a CSI's leaf carries its own tag under the CSI's pseudonym, never the pseudonym itself. */
function taggedLeafBytes(e: LogEntry, p: LogPseudonym): Uint8Array {
  const fields = { kind: e.kind, time: e.time, commitment: toB64u(e.commitment), epoch: p.epoch };
  return leafBytes(e, { epoch: p.epoch, pseudonym: leafTag(p.pseudonym, fields) });
}

/**
 * Complete subtree hashes are cached in aligned blocks of this many nodes of one level: one store
 * read fills a block, and proofs of nearby leaves share their lower levels' blocks.
 */
const BLOCK = 256;
/** Block keys: level * 2^40 + block number (2^47 leaves / 256 per block fit below the stride). */
const BLOCK_KEY_STRIDE = 2 ** 40;

/** `count` consecutive complete subtree hashes of one level, 32 bytes each. */
interface SubtreeBlock {
  count: number;
  data: Uint8Array;
}

/**
 * The DP's transparency log (DESIGN.md "Transparency log"; R3, R6, R19, R28), free of HTTP.
 *
 * Sequencer: `append` runs inside the store transaction of the change it logs, so a leaf and its
 * change commit or roll back together; the index is the tree size read inside that transaction
 * (one writer at a time), so a mapping can carry its `logIndex` under the DP's signature.
 * The tree state (compact range) and every completed subtree hash are written with the leaf.
 *
 * Checkpointer: a C2SP signed checkpoint every `checkpointIntervalMs` when the tree grew, and on
 * demand. Proofs: inclusion and consistency from the stored subtree hashes, O(log n) reads.
 */
export class TransparencyLog {
  readonly origin: string;
  private readonly opts: TransparencyLogOptions;
  private timer: NodeJS.Timeout | undefined;
  private making: Promise<LogCheckpointRow> | undefined;
  private latest: LogCheckpointRow | undefined;
  private latestCosigned: LogCheckpointRow | undefined;
  /** Complete subtree hashes never change once committed: blocks of them, bounded in bytes. */
  private readonly subtrees: BoundedCache<number, SubtreeBlock>;
  /** Hashes of right-edge (incomplete) ranges, keyed "start:end": just as immutable. */
  private readonly ranges = new Map<string, Uint8Array>();
  /** Proofs by "index@size", bounded in bytes; cleared when a newer checkpoint is cosigned. */
  private readonly proofs: BoundedCache<string, MappingProof>;
  /** Each checkpoint's note (with cosignatures) as a JSON string, shared by its proofs. */
  private readonly noteJson = new WeakMap<LogCheckpointRow, string>();

  constructor(opts: TransparencyLogOptions) {
    this.opts = opts;
    this.origin = opts.origin;
    this.subtrees = new BoundedCache(opts.subtreeCacheBytes);
    this.proofs = new BoundedCache(opts.proofCacheBytes);
  }

  /** What the proof caches hold now, in bytes (metrics). */
  cacheBytes(): Record<string, number> {
    return { 'log-subtrees': this.subtrees.bytes, 'log-proofs': this.proofs.bytes };
  }

  // ---- sequencer (inside the write transaction) -------------------------------------------------

  /** The index the next leaf appended in `tx` gets. */
  async nextIndex(tx: StoreTx): Promise<number> {
    return (await tx.logHead()).size;
  }

  /** Appends one leaf in `tx`; returns its index. */
  async append(tx: StoreTx, entry: LogEntry): Promise<number> {
    return (await this.appendMany(tx, [entry]))[0]!;
  }

  /** Appends leaves in order in `tx` (one head read and one head write for the batch). */
  async appendMany(tx: StoreTx, entries: readonly LogEntry[]): Promise<number[]> {
    if (entries.length === 0) return [];
    const head = await tx.logHead();
    const edge = head.edge.slice();
    let size = head.size;
    const leaves: LogLeafRow[] = [];
    const nodes: LogNode[] = [];
    for (const e of entries) {
      const data =
        e.pseudonym !== undefined
          ? leafBytes(e, e.pseudonym)
          : taggedLeafBytes(e, await this.opts.pseudonyms.pseudonymFor(tx, e.csi));
      const hash = leafHash(data);
      leaves.push({ index: size, data, hash, time: e.time });
      // Merge equal-sized perfect subtrees (one per trailing 1-bit of size); each merge completes
      // a subtree whose hash is kept for proofs.
      let h = hash;
      let level = 0;
      for (let s = size; s % 2 === 1; s = Math.floor(s / 2)) {
        h = nodeHash(edge.pop()!, h);
        level++;
        nodes.push({ level, index: Math.floor((size + 1) / 2 ** level) - 1, hash: h });
      }
      edge.push(h);
      size++;
    }
    await tx.appendLog(leaves, nodes, { size, edge });
    return leaves.map((l) => l.index);
  }

  // ---- checkpoints ------------------------------------------------------------------------------

  /** Loads the latest checkpoints and makes checkpoints every interval while the tree grows. */
  async open(): Promise<void> {
    this.latest = await this.opts.store.latestCheckpoint();
    this.latestCosigned = await this.opts.store.latestCosignedCheckpoint();
    if (this.latest === undefined) await this.checkpoint();
  }

  /**
   * Signs checkpoints every interval until stop(). With many nodes (R22) only the node leading
   * `LeaderRole.Checkpoints` runs this timer (src/store/leadership.ts). Appends need no such
   * role: they run in the write transaction of the change they log on whichever node took the
   * request, and the head row read `FOR UPDATE` orders them into one sequence across nodes
   * (src/store/postgres/postgres-log.ts). An advisory lock around appends would serialise the
   * same transactions on the same single row a second time, for one more round trip each.
   * On-demand checkpoints (a proof for a leaf newer than the latest) are signed by any node; a
   * size signed twice is stored once.
   */
  start(): void {
    this.timer ??= setInterval(() => {
      this.tick().catch(() => undefined);
    }, this.opts.checkpointIntervalMs);
    this.timer.unref();
  }

  /** Stops the interval; resolves when a checkpoint being signed is stored. start() may follow. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.making?.catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.stop();
  }

  /** One interval's work: a checkpoint if the committed tree grew past the latest one. */
  async tick(): Promise<void> {
    const head = await this.opts.store.logHead();
    if (this.latest === undefined || head.size > this.latest.size) await this.checkpoint();
  }

  /**
   * Signs the committed tree as it is now (on demand); concurrent callers share one checkpoint.
   * A tree that did not grow gets no new checkpoint: the latest one is returned.
   */
  checkpoint(): Promise<LogCheckpointRow> {
    this.making ??= this.makeCheckpoint().finally(() => {
      this.making = undefined;
    });
    return this.making;
  }

  private async makeCheckpoint(): Promise<LogCheckpointRow> {
    const row = await this.opts.store.write(async (tx) => {
      const head = await tx.logHead();
      if (this.latest !== undefined && this.latest.size >= head.size) return undefined;
      const rootHash = MerkleAccumulator.fromState(head).root();
      const note = signCheckpoint({ origin: this.origin, size: head.size, rootHash }, this.opts.signer);
      const made = { size: head.size, rootHash, note, createdAt: this.opts.now(), cosignatures: [] };
      // Another node may have signed this size already: keep the one stored.
      return (await tx.insertCheckpoint(made)) ? made : undefined;
    });
    if (row !== undefined) this.latest = row;
    else this.latest = (await this.opts.store.latestCheckpoint()) ?? this.latest;
    return this.latest!;
  }

  /** The latest checkpoint, with its cosignatures, as a signed note. */
  async latestCheckpoint(): Promise<LogCheckpointRow> {
    const stored = await this.opts.store.latestCheckpoint();
    if (stored !== undefined) this.latest = stored;
    return this.latest ?? this.checkpoint();
  }

  /** Called after a witness's cosignature was stored: proofs may now use that checkpoint. */
  noteCosigned(row: LogCheckpointRow): void {
    if (this.latestCosigned === undefined || row.size >= this.latestCosigned.size) {
      this.latestCosigned = row;
      this.proofs.clear();
    }
  }

  /**
   * The checkpoint a proof for leaf `index` is made against: the newest cosigned one that covers
   * it (so a sender requiring cosignatures can check it), else the latest, else a new one now.
   */
  async checkpointCovering(index: number): Promise<LogCheckpointRow> {
    const held = this.coveringNow(index);
    if (held !== undefined) return held;
    const made = await this.checkpoint();
    if (made.size > index) return made;
    // The leaf committed after the checkpoint began: one more.
    const again = await this.checkpoint();
    if (again.size <= index) throw new MimiError('internal', `leaf ${index} is not in the log`);
    return again;
  }

  // ---- proofs -----------------------------------------------------------------------------------

  /**
   * Runs a proof algorithm over stored subtree hashes: a first pass records which complete
   * subtrees it needs (which depends on sizes only), one batched read fetches the missing ones,
   * a second pass computes. The store interface is asynchronous; the algorithms are not.
   * Right-edge (incomplete) range hashes are memoised too: every proof against one checkpoint
   * shares them, and they never change.
   */
  private async withTree<T>(size: number, run: (src: TreeSource) => T): Promise<T> {
    // Right-edge ranges computed in a pass go to `memo` first: a pass that met a missing subtree
    // hashed a placeholder, and what it computed must not be remembered.
    const memo = new Map<string, Uint8Array>();
    const wanted = new Map<number, [level: number, block: number]>();
    // The blocks this proof uses are held here too: loading one may evict another from the cache.
    const held = new Map<number, SubtreeBlock>();
    const src: TreeSource = {
      size,
      ranges: { get: (k) => memo.get(k) ?? this.ranges.get(k), set: (k, h) => memo.set(k, h) },
      subtreeHash: (s, e) => {
        const level = Math.log2(e - s);
        const index = s / (e - s);
        const key = level * BLOCK_KEY_STRIDE + Math.floor(index / BLOCK);
        let h = hashIn(held.get(key), index);
        if (h !== undefined) return h;
        const cached = this.subtrees.get(key);
        h = hashIn(cached, index);
        if (h !== undefined) {
          held.set(key, cached!);
          return h;
        }
        wanted.set(key, [level, Math.floor(index / BLOCK)]);
        return ZERO;
      },
    };
    let result = run(src);
    if (wanted.size > 0) {
      memo.clear();
      for (const [key, block] of await this.loadBlocks(size, wanted)) held.set(key, block);
      wanted.clear();
      result = run(src);
      if (wanted.size > 0) throw new MimiError('internal', 'a subtree read for a proof is missing');
    }
    if (this.ranges.size > 10_000) this.ranges.clear();
    for (const [k, h] of memo) this.ranges.set(k, h);
    return result;
  }

  /** Reads the wanted blocks (every complete subtree of each in a tree of `size`) in one store call. */
  private async loadBlocks(
    size: number,
    wanted: ReadonlyMap<number, readonly [number, number]>,
  ): Promise<Map<number, SubtreeBlock>> {
    const ranges: [number, number][] = [];
    const plan: { key: number; count: number }[] = [];
    for (const [key, [level, block]] of wanted) {
      const width = 2 ** level;
      const first = block * BLOCK;
      const count = Math.min(BLOCK, Math.floor(size / width) - first);
      for (let i = first; i < first + count; i++) ranges.push([i * width, (i + 1) * width]);
      plan.push({ key, count });
    }
    const hashes = await this.opts.store.logSubtrees(ranges);
    const out = new Map<number, SubtreeBlock>();
    let at = 0;
    for (const { key, count } of plan) {
      const data = new Uint8Array(count * 32);
      for (let i = 0; i < count; i++) data.set(hashes[at++]!, i * 32);
      const block = { count, data };
      this.subtrees.set(key, block, data.length);
      out.set(key, block);
    }
    return out;
  }

  private async checkSize(size: number): Promise<void> {
    // A size no larger than a signed checkpoint is committed: no read needed.
    if (Number.isSafeInteger(size) && size >= 1 && this.latest !== undefined && size <= this.latest.size)
      return;
    const head = await this.opts.store.logHead();
    if (!Number.isSafeInteger(size) || size < 1 || size > head.size) {
      throw new MimiError('not-found', `the log has ${head.size} leaves`, { size: head.size });
    }
  }

  /** RFC 9162 §2.1.3.1 audit path of leaf `index` in the tree of `size` leaves. */
  async inclusion(index: number, size: number): Promise<Uint8Array[]> {
    await this.checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new MimiError('not-found', `leaf ${index} is not in a tree of ${size} leaves`);
    }
    return this.withTree(size, (src) => inclusionProof(index, src));
  }

  /** RFC 9162 §2.1.4.1 consistency proof between the trees of `from` and `to` leaves. */
  async consistency(from: number, to: number): Promise<Uint8Array[]> {
    await this.checkSize(to);
    if (!Number.isSafeInteger(from) || from < 1 || from > to) {
      throw new MimiError('record-invalid', 'need 0 < from <= to');
    }
    return this.withTree(to, (src) => consistencyProof(from, src));
  }

  async leafIndexOf(hash: Uint8Array): Promise<number | undefined> {
    return this.opts.store.logLeafIndex(hash);
  }

  /**
   * The `log` member of a verbose answer for the mapping at `index` (MappingLogProof), as JSON:
   * its leaf, its audit path and the signed checkpoint (with cosignatures) it leads to.
   */
  async mappingProofJson(index: number): Promise<string> {
    return mappingProofText((await this.mappingProofs([index]))[0]!);
  }

  /**
   * The proof of each of `indexes`, in order: those not cached are made together, with one read
   * of their leaves and one pass over the tree per checkpoint (a lookup of 100 CSIs reads the
   * store twice, not 200 times). Verbose answers write them as bytes (writeMappingProof).
   */
  async mappingProofs(indexes: readonly number[]): Promise<MappingProof[]> {
    const out = new Array<MappingProof>(indexes.length);
    const todo = new Map<LogCheckpointRow, number[]>();
    for (let i = 0; i < indexes.length; i++) {
      const index = indexes[i]!;
      const cp = this.coveringNow(index) ?? (await this.checkpointCovering(index));
      const hit = this.proofs.maxBytes === 0 ? undefined : this.proofs.get(`${index}@${cp.size}`);
      if (hit !== undefined) out[i] = hit;
      else {
        const at = todo.get(cp);
        if (at === undefined) todo.set(cp, [i]);
        else at.push(i);
      }
    }
    for (const [cp, positions] of todo) {
      const wanted = positions.map((i) => indexes[i]!);
      // Independent reads: on PostgreSQL they go out on two connections at once.
      const [leaves, proofs] = await Promise.all([
        this.opts.store.logLeavesAt([...new Set(wanted)]),
        this.withTree(cp.size, (src) => wanted.map((index) => inclusionProof(index, src))),
      ]);
      const leafOf = new Map(leaves.map((l) => [l.index, l]));
      let checkpoint = this.noteJson.get(cp);
      if (checkpoint === undefined) {
        checkpoint = JSON.stringify(noteOf(cp));
        this.noteJson.set(cp, checkpoint);
      }
      for (let k = 0; k < positions.length; k++) {
        const index = wanted[k]!;
        const leaf = leafOf.get(index);
        if (leaf === undefined) throw new MimiError('internal', `leaf ${index} is not stored`);
        const proof: MappingProof = { checkpoint, leaf: leaf.data, proof: proofs[k]! };
        out[positions[k]!] = proof;
        // The path's hashes are views of cached subtree blocks: a kept proof gets its own copy,
        // so that it holds the bytes it is counted for and no evicted block.
        if (this.proofs.maxBytes > 0)
          this.proofs.set(`${index}@${cp.size}`, packed(proof), packedBytes(proof));
      }
    }
    return out;
  }

  /** checkpointCovering without a wait, when a checkpoint this node holds covers `index`. */
  private coveringNow(index: number): LogCheckpointRow | undefined {
    if (this.latestCosigned !== undefined && this.latestCosigned.size > index) return this.latestCosigned;
    if (this.latest !== undefined && this.latest.size > index) return this.latest;
    return undefined;
  }
}

/** Hash `index` of its level from its block, if the block holds it. */
function hashIn(block: SubtreeBlock | undefined, index: number): Uint8Array | undefined {
  const at = index % BLOCK;
  return block === undefined || at >= block.count ? undefined : block.data.subarray(at * 32, at * 32 + 32);
}

/**
 * A mapping's inclusion proof (R3), as a verbose answer's `log` member carries it
 * (MappingLogProof, docs/spec/api.md), before it is written.
 */
export interface MappingProof {
  /** The signed checkpoint note with its cosignature lines, as a JSON string (shared by its proofs). */
  checkpoint: string;
  /** The leaf's bytes. */
  leaf: Uint8Array;
  /** The audit path, leaf to root. */
  proof: Uint8Array[];
}

/** `p` with its leaf and path copied into one buffer of their own. */
function packed(p: MappingProof): MappingProof {
  const bytes = new Uint8Array(packedBytes(p));
  bytes.set(p.leaf);
  const proof = p.proof.map((h, i) => {
    const at = p.leaf.length + 32 * i;
    bytes.set(h, at);
    return bytes.subarray(at, at + 32);
  });
  return { checkpoint: p.checkpoint, leaf: bytes.subarray(0, p.leaf.length), proof };
}

function packedBytes(p: MappingProof): number {
  return p.leaf.length + 32 * p.proof.length;
}

/** Writes `p` as MappingLogProof JSON. */
export function writeMappingProof(out: JsonBytes, p: MappingProof): void {
  out.ascii('{"checkpoint":').utf8(p.checkpoint).ascii(',"leaf":"').b64u(p.leaf).ascii('","proof":');
  out.b64uArray(p.proof).ascii('}');
}

/** `p` as MappingLogProof JSON text. */
export function mappingProofText(p: MappingProof): string {
  const out = new JsonBytes(512);
  writeMappingProof(out, p);
  return out.done().toString('utf8');
}

/** A checkpoint note with its witnesses' cosignature lines appended (C2SP tlog-cosignature). */
export function noteOf(cp: LogCheckpointRow): string {
  return cp.note + cp.cosignatures.join('');
}
