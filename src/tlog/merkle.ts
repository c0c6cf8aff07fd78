/**
 * Pure Merkle tree core for the transparency log, following RFC 9162
 * (Certificate Transparency Version 2.0) §2.1 with SHA-256.
 *
 * Sizes and indices are JavaScript numbers and must be safe integers
 * (0 <= n <= 2^53 - 1); passing anything else is API misuse and raises a
 * `RangeError`/`TypeError`. Bad untrusted data (proofs, hashes of the wrong
 * length, out-of-range requests) raises a {@link TlogError}.
 */
import { cryptoProvider } from '../crypto/provider.js';
import { TlogError } from './errors.js';

/** Size in bytes of every hash in the tree (SHA-256). */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/**
 * Returns the hash of a complete subtree `[start, end)`: `end - start` is a
 * power of two and `start` is a multiple of it. Implementations may read a
 * cache of interior nodes. Must return a 32-byte hash.
 */
export type SubtreeHashFn = (start: number, end: number) => Uint8Array;

/** Returns the leaf hash (not the leaf data) at `index`. */
export type LeafHashFn = (index: number) => Uint8Array;

/**
 * Where proof generation reads hashes from: an array of leaf hashes (tree size
 * is its length), a leaf-hash callback, or a complete-subtree-hash callback.
 * With the callback forms, `size` is the size of the tree the proof is for,
 * which may be smaller than what the backing store holds.
 *
 * Cost: array and `getLeafHash` sources rehash O(n) leaves per proof; a
 * `subtreeHash` backed by stored interior nodes makes a proof O(log n) lookups
 * (it is only ever asked for complete, aligned subtrees).
 */
export type TreeSource =
  | readonly Uint8Array[]
  | { readonly size: number; readonly getLeafHash: LeafHashFn }
  | { readonly size: number; readonly subtreeHash: SubtreeHashFn; readonly ranges?: RangeMemo };

/**
 * Hashes of incomplete (right-edge) ranges, keyed `"start:end"`, that `rangeHash` reads before
 * composing a range and fills after. MTH(D[start:end]) never changes in an append-only log, so a
 * memo may outlive one tree size; proofs against one checkpoint all share its right edge.
 */
export interface RangeMemo {
  get(key: string): Uint8Array | undefined;
  set(key: string, hash: Uint8Array): unknown;
}

/** Persistable state of a {@link MerkleAccumulator}. */
export interface AccumulatorState {
  /** Number of leaves appended. */
  readonly size: number;
  /** Roots of the perfect subtrees on the right edge, largest (leftmost) first. */
  readonly edge: readonly Uint8Array[];
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(cryptoProvider().sha256(...parts));
}

function assertBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
}

function assertCount(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${String(value)}`);
  }
}

function assertProofArray(proof: unknown): asserts proof is readonly Uint8Array[] {
  if (!Array.isArray(proof)) throw new TypeError('proof must be an array of Uint8Array');
  for (const p of proof) assertBytes(p, 'proof element');
}

function invalid(message: string): TlogError {
  return new TlogError('tlog-proof-invalid', message);
}

/** Checks an untrusted hash's length; wrong lengths are a proof failure. */
function checkHashLength(h: Uint8Array, what: string): void {
  if (h.length !== HASH_SIZE) throw invalid(`${what} must be ${HASH_SIZE} bytes, got ${h.length}`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/** Largest power of two strictly less than `n` (RFC 9162 §2.1.1 `k`), for n >= 2. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 9162 §2.1.1: leaf hash MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export function leafHash(data: Uint8Array): Uint8Array {
  assertBytes(data, 'leaf data');
  return sha256(LEAF_PREFIX, data);
}

/** RFC 9162 §2.1.1: interior node hash SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertBytes(left, 'left hash');
  assertBytes(right, 'right hash');
  return sha256(NODE_PREFIX, left, right);
}

/** RFC 9162 §2.1.1: the hash of an empty tree, SHA-256 of the empty string. */
export function emptyRoot(): Uint8Array {
  return sha256();
}

/** MTH over leaf hashes `[start, end)` read through `get` (RFC 9162 §2.1.1 recursion). */
function mthFromLeaves(get: LeafHashFn, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1) return get(start);
  const k = splitPoint(n);
  return nodeHash(mthFromLeaves(get, start, start + k), mthFromLeaves(get, start + k, end));
}

/**
 * Array-backed subtree hasher: returns `MTH(D[start:end])` over the given leaf
 * hashes for any non-empty range (complete subtrees included). Use it as the
 * `subtreeHash` of a {@link TreeSource}, or as a reference for a caching store.
 */
export function arraySubtreeHasher(leafHashes: readonly Uint8Array[]): SubtreeHashFn {
  if (!Array.isArray(leafHashes)) throw new TypeError('leafHashes must be an array');
  return (start, end) => {
    assertCount(start, 'start');
    assertCount(end, 'end');
    if (start >= end || end > leafHashes.length) {
      throw new TlogError(
        'tlog-bad-range',
        `range [${start}, ${end}) outside tree of size ${leafHashes.length}`,
      );
    }
    return mthFromLeaves((i) => leafHashes[i]!, start, end);
  };
}

interface NormalizedSource {
  readonly size: number;
  /** Hash of a complete, aligned subtree. */
  readonly complete: SubtreeHashFn;
  readonly ranges?: RangeMemo | undefined;
}

function normalizeSource(tree: TreeSource): NormalizedSource {
  let size: number;
  let complete: SubtreeHashFn;
  let ranges: RangeMemo | undefined;
  if (Array.isArray(tree)) {
    const arr = tree as readonly Uint8Array[];
    size = arr.length;
    complete = (s, e) => mthFromLeaves((i) => arr[i]!, s, e);
  } else if (typeof tree === 'object' && tree !== null && 'subtreeHash' in tree) {
    size = tree.size;
    const fn = tree.subtreeHash;
    if (typeof fn !== 'function') throw new TypeError('subtreeHash must be a function');
    complete = fn;
    ranges = tree.ranges;
  } else if (typeof tree === 'object' && tree !== null && 'getLeafHash' in tree) {
    size = tree.size;
    const fn = tree.getLeafHash;
    if (typeof fn !== 'function') throw new TypeError('getLeafHash must be a function');
    complete = (s, e) => mthFromLeaves(fn, s, e);
  } else {
    throw new TypeError('tree must be an array of leaf hashes or {size, getLeafHash | subtreeHash}');
  }
  assertCount(size, 'tree size');
  return {
    size,
    ranges,
    complete: (s, e) => {
      const h = complete(s, e);
      if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
        throw new TypeError(`tree source returned a non-${HASH_SIZE}-byte hash for [${s}, ${e})`);
      }
      return h;
    },
  };
}

/**
 * MTH(D[start:end]) for any non-empty range, asking the source only for
 * complete aligned subtrees and composing right-edge (incomplete) subtrees
 * per RFC 9162 §2.1.1.
 */
function rangeHash(src: NormalizedSource, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1 || (isPowerOfTwo(n) && start % n === 0)) return src.complete(start, end);
  const key = src.ranges === undefined ? '' : `${start}:${end}`;
  const known = src.ranges?.get(key);
  if (known !== undefined) return known;
  const k = splitPoint(n);
  const h = nodeHash(rangeHash(src, start, start + k), rangeHash(src, start + k, end));
  src.ranges?.set(key, h);
  return h;
}

/**
 * RFC 9162 §2.1.1: Merkle Tree Hash of a list of leaf hashes. The empty list
 * hashes to SHA-256 of the empty string.
 */
export function rootFromLeafHashes(hashes: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(hashes)) throw new TypeError('hashes must be an array');
  for (const h of hashes) assertBytes(h, 'leaf hash');
  return rootFromSource(hashes);
}

/** Merkle Tree Hash of a {@link TreeSource} at its `size` (RFC 9162 §2.1.1). */
export function rootFromSource(tree: TreeSource): Uint8Array {
  const src = normalizeSource(tree);
  if (src.size === 0) return emptyRoot();
  return rangeHash(src, 0, src.size);
}

/**
 * RFC 9162 §2.1.3.1: the inclusion proof (audit path) PATH(m, D_n) for leaf
 * `index` in the tree described by `tree` (its size is the tree size `n`).
 *
 * @throws {TlogError} `tlog-bad-range` if `index >= n`.
 * @throws {RangeError} if `index` is not a non-negative safe integer.
 */
export function inclusionProof(index: number, tree: TreeSource): Uint8Array[] {
  assertCount(index, 'index');
  const src = normalizeSource(tree);
  if (index >= src.size) {
    throw new TlogError('tlog-bad-range', `leaf index ${index} is not in a tree of size ${src.size}`);
  }
  const out: Uint8Array[] = [];
  // PATH(m, D[start:end]); siblings are emitted bottom-up, so collect top-down and reverse.
  let m = index;
  let start = 0;
  let end = src.size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (m < k) {
      // PATH(m, D[0:k]) : MTH(D[k:n])
      out.push(rangeHash(src, start + k, end));
      end = start + k;
    } else {
      // PATH(m - k, D[k:n]) : MTH(D[0:k])
      out.push(rangeHash(src, start, start + k));
      m -= k;
      start += k;
    }
  }
  return out.reverse();
}

/**
 * RFC 9162 §2.1.4.1: the consistency proof PROOF(m, D_n) between the tree of
 * `oldSize` leaves and the tree described by `tree` (size `n`). Returns `[]`
 * when `oldSize === n`.
 *
 * @throws {TlogError} `tlog-bad-range` if `oldSize` is 0 (proofs are only
 *   defined for 0 < m) or greater than `n`.
 */
export function consistencyProof(oldSize: number, tree: TreeSource): Uint8Array[] {
  assertCount(oldSize, 'oldSize');
  const src = normalizeSource(tree);
  if (oldSize === 0 || oldSize > src.size) {
    throw new TlogError(
      'tlog-bad-range',
      `no consistency proof from size ${oldSize} to size ${src.size} (need 0 < old <= new)`,
    );
  }
  const out: Uint8Array[] = [];
  // SUBPROOF(m, D[start:end], b), unrolled; nodes collected top-down then reversed.
  let m = oldSize;
  let start = 0;
  let end = src.size;
  let b = true;
  while (m !== end - start) {
    const k = splitPoint(end - start);
    if (m <= k) {
      // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      out.push(rangeHash(src, start + k, end));
      end = start + k;
    } else {
      // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      out.push(rangeHash(src, start, start + k));
      m -= k;
      start += k;
      b = false;
    }
  }
  // m == n: SUBPROOF(m, D[m], true) = {}, SUBPROOF(m, D[m], false) = {MTH(D[m])}.
  if (!b) out.push(rangeHash(src, start, end));
  return out.reverse();
}

/**
 * Runs the RFC 9162 §2.1.3.2 inclusion verification algorithm and returns
 * the computed root hash (without comparing it to a trusted root).
 *
 * @throws {TlogError} `tlog-proof-invalid` if the proof is structurally wrong
 *   for (`index`, `treeSize`) or a hash has the wrong length.
 */
export function rootFromInclusionProof(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  assertBytes(leaf, 'leaf hash');
  assertCount(index, 'index');
  assertCount(treeSize, 'treeSize');
  assertProofArray(proof);
  checkHashLength(leaf, 'leaf hash');
  for (const [i, p] of proof.entries()) checkHashLength(p, `proof[${i}]`);
  // Step 1: leaf_index must be < tree_size.
  if (index >= treeSize) throw invalid(`leaf index ${index} is not in a tree of size ${treeSize}`);
  // Steps 2-3.
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  // Step 4.
  for (const p of proof) {
    // 4a: a proof longer than the path is invalid.
    if (sn === 0) throw invalid('inclusion proof is too long');
    if (isOdd(fn) || fn === sn) {
      // 4b: p is a left sibling.
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    // 4c.
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: sn must be 0 (a short proof leaves sn > 0).
  if (sn !== 0) throw invalid('inclusion proof is too short');
  return r;
}

/**
 * RFC 9162 §2.1.3.2: verifies that `leaf` (a leaf hash) is at `index` in the
 * tree of `treeSize` leaves whose root is `root`.
 *
 * @throws {TlogError} `tlog-proof-invalid` on any verification failure.
 * @throws {RangeError} if `index`/`treeSize` are not non-negative safe integers.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  assertBytes(root, 'root');
  const computed = rootFromInclusionProof(leaf, index, treeSize, proof);
  checkHashLength(root, 'root');
  // Step 5: r must equal root_hash.
  if (!bytesEqual(computed, root)) throw invalid('inclusion proof does not lead to the expected root');
}

/**
 * RFC 9162 §2.1.4.2: verifies that the tree of `oldSize` leaves with root
 * `oldRoot` is a prefix of the tree of `newSize` leaves with root `newRoot`.
 *
 * Equal sizes verify iff the proof is empty and the roots are equal. An
 * `oldSize` of 0 is rejected: RFC 9162 defines proofs only for 0 < first, and
 * the empty tree proves nothing.
 *
 * @throws {TlogError} `tlog-proof-invalid` on any verification failure,
 *   including `oldSize > newSize`.
 * @throws {RangeError} if a size is not a non-negative safe integer.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  assertCount(oldSize, 'oldSize');
  assertCount(newSize, 'newSize');
  assertBytes(oldRoot, 'oldRoot');
  assertBytes(newRoot, 'newRoot');
  assertProofArray(proof);
  checkHashLength(oldRoot, 'oldRoot');
  checkHashLength(newRoot, 'newRoot');
  for (const [i, p] of proof.entries()) checkHashLength(p, `proof[${i}]`);
  if (oldSize > newSize) throw invalid(`old size ${oldSize} is greater than new size ${newSize}`);
  if (oldSize === 0) throw invalid('a consistency proof from the empty tree is meaningless');
  if (oldSize === newSize) {
    // PROOF(m, D[m]) = SUBPROOF(m, D[m], true) = {} (RFC 9162 §2.1.4.1).
    if (proof.length !== 0) throw invalid('sizes are equal but the proof is not empty');
    if (!bytesEqual(oldRoot, newRoot)) throw invalid('sizes are equal but the roots differ');
    return;
  }
  // Step 1: an empty path fails.
  if (proof.length === 0) throw invalid('consistency proof is empty');
  // Step 2: if first is an exact power of 2, prepend first_hash.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  // Step 3.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  // Step 4.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) throw invalid('consistency proof is too long');
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) throw invalid('consistency proof is too short');
  if (!bytesEqual(fr, oldRoot)) throw invalid('consistency proof does not lead to the old root');
  if (!bytesEqual(sr, newRoot)) throw invalid('consistency proof does not lead to the new root');
}

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
