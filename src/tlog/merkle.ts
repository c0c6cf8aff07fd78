/**
 * Pure Merkle tree core for the transparency log, following RFC 9162
 * (Certificate Transparency Version 2.0) §2.1 with SHA-256: the incremental
 * accumulator here, tree hashing in tree-hash.ts, proofs in proofs.ts, all of
 * it exported from this module.
 *
 * Sizes and indices are JavaScript numbers and must be safe integers
 * (0 <= n <= 2^53 - 1); passing anything else is API misuse and raises a
 * `RangeError`/`TypeError`. Bad untrusted data (proofs, hashes of the wrong
 * length, out-of-range requests) raises a {@link TlogError}.
 */
import { TlogError } from './errors.js';
import {
  type AccumulatorState,
  assertBytes,
  emptyRoot,
  HASH_SIZE,
  half,
  isOdd,
  leafHash,
  nodeHash,
} from './tree-hash.js';

export {
  consistencyProof,
  inclusionProof,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './proofs.js';
export type { AccumulatorState, LeafHashFn, RangeMemo, SubtreeHashFn, TreeSource } from './tree-hash.js';
export {
  arraySubtreeHasher,
  emptyRoot,
  HASH_SIZE,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  rootFromSource,
} from './tree-hash.js';

function popCount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = half(x)) if (isOdd(x)) c++;
  return c;
}

/**
 * Incremental Merkle tree ("compact range" over `[0, size)`): keeps only the
 * roots of the perfect subtrees along the right edge, one per set bit of
 * `size`, so appends cost O(log n) hashes and memory is O(log n).
 * The root is the right fold of the edge with {@link nodeHash}, which equals
 * MTH(D_n) from RFC 9162 §2.1.1.
 */
export class MerkleAccumulator {
  #size = 0;
  #edge: Uint8Array[] = [];
  #root: Uint8Array | undefined;

  /**
   * Restores an accumulator from persisted {@link AccumulatorState}.
   *
   * @throws {TlogError} `tlog-state-invalid` if the edge does not have one
   *   32-byte hash per set bit of `size`.
   */
  static fromState(state: AccumulatorState): MerkleAccumulator {
    if (typeof state !== 'object' || state === null) throw new TypeError('state must be an object');
    const { size, edge } = state;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new TlogError('tlog-state-invalid', `invalid accumulator size ${String(size)}`);
    }
    if (!Array.isArray(edge) || edge.length !== popCount(size)) {
      throw new TlogError(
        'tlog-state-invalid',
        `accumulator of size ${size} needs ${popCount(size)} edge hashes`,
      );
    }
    for (const h of edge) {
      if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
        throw new TlogError('tlog-state-invalid', `edge hashes must be ${HASH_SIZE}-byte Uint8Arrays`);
      }
    }
    const acc = new MerkleAccumulator();
    acc.#size = size;
    acc.#edge = edge.map((h) => Uint8Array.from(h));
    return acc;
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends a leaf hash (see {@link leafHash}); returns the new leaf's index.
   *
   * @throws {TlogError} `tlog-proof-invalid` if the hash is not 32 bytes.
   */
  append(leaf: Uint8Array): number {
    assertBytes(leaf, 'leaf hash');
    if (leaf.length !== HASH_SIZE) {
      throw new TlogError('tlog-proof-invalid', `leaf hash must be ${HASH_SIZE} bytes`);
    }
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError('accumulator is full');
    const index = this.#size;
    let h: Uint8Array = Uint8Array.from(leaf);
    // Merge equal-sized perfect subtrees: one merge per trailing 1-bit of size.
    for (let s = this.#size; isOdd(s); s = half(s)) {
      h = nodeHash(this.#edge.pop()!, h);
    }
    this.#edge.push(h);
    this.#size++;
    this.#root = undefined;
    return index;
  }

  /** Hashes `data` as a leaf (RFC 9162 §2.1.1) and appends it; returns its index. */
  appendData(data: Uint8Array): number {
    return this.append(leafHash(data));
  }

  /** Current Merkle Tree Hash (cached until the next append). */
  root(): Uint8Array {
    if (this.#root === undefined) {
      if (this.#edge.length === 0) {
        this.#root = emptyRoot();
      } else {
        let r = this.#edge[this.#edge.length - 1]!;
        for (let i = this.#edge.length - 2; i >= 0; i--) r = nodeHash(this.#edge[i]!, r);
        this.#root = r;
      }
    }
    return Uint8Array.from(this.#root);
  }

  /** Snapshot for persistence; restore with {@link MerkleAccumulator.fromState}. */
  state(): AccumulatorState {
    return { size: this.#size, edge: this.#edge.map((h) => Uint8Array.from(h)) };
  }

  /** Independent copy. */
  clone(): MerkleAccumulator {
    return MerkleAccumulator.fromState(this.state());
  }
}

/** Alias: the same structure is called a compact range in transparency-dev/merkle. */
export { MerkleAccumulator as CompactRange };
