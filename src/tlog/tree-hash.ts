/**
 * RFC 9162 (Certificate Transparency Version 2.0) §2.1.1 with SHA-256: leaf and node hashes, the
 * Merkle Tree Hash of a tree given by its leaf hashes or its subtree hashes, and the checks the
 * proofs (proofs.ts) and the accumulator (merkle.ts) share. The public surface is merkle.ts.
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

export function assertBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
}

export function assertCount(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${String(value)}`);
  }
}

export function assertProofArray(proof: unknown): asserts proof is readonly Uint8Array[] {
  if (!Array.isArray(proof)) throw new TypeError('proof must be an array of Uint8Array');
  for (const p of proof) assertBytes(p, 'proof element');
}

export function invalid(message: string): TlogError {
  return new TlogError('tlog-proof-invalid', message);
}

/** Checks an untrusted hash's length; wrong lengths are a proof failure. */
export function checkHashLength(h: Uint8Array, what: string): void {
  if (h.length !== HASH_SIZE) throw invalid(`${what} must be ${HASH_SIZE} bytes, got ${h.length}`);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const isOdd = (n: number): boolean => n % 2 === 1;
export const half = (n: number): number => Math.floor(n / 2);

export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/** Largest power of two strictly less than `n` (RFC 9162 §2.1.1 `k`), for n >= 2. */
export function splitPoint(n: number): number {
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

export interface NormalizedSource {
  readonly size: number;
  /** Hash of a complete, aligned subtree. */
  readonly complete: SubtreeHashFn;
  readonly ranges?: RangeMemo | undefined;
}

export function normalizeSource(tree: TreeSource): NormalizedSource {
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
export function rangeHash(src: NormalizedSource, start: number, end: number): Uint8Array {
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
