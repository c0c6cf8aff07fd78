/**
 * RFC 9162 §2.1.3 and §2.1.4: inclusion and consistency proofs, made from a tree and verified
 * against roots. The public surface is merkle.ts.
 */

import { TlogError } from './errors.js';
import {
  assertBytes,
  assertCount,
  assertProofArray,
  bytesEqual,
  checkHashLength,
  half,
  invalid,
  isOdd,
  isPowerOfTwo,
  type NormalizedSource,
  nodeHash,
  normalizeSource,
  rangeHash,
  splitPoint,
  type TreeSource,
} from './tree-hash.js';

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
  // PATH(m, D[0:k]) : MTH(D[k:n]) while m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]), down to one leaf.
  return descend(
    src,
    index,
    (m, k) => m < k,
    (m, n) => n === 1 && m === 0,
  ).out;
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
  // SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) while m <= k, else SUBPROOF(m - k, D[k:n], false) :
  // MTH(D[0:k]), until m == n.
  const { out, start, end, wentRight } = descend(
    src,
    oldSize,
    (m, k) => m <= k,
    (m, n) => m === n,
  );
  // m == n: SUBPROOF(m, D[m], true) = {}, SUBPROOF(m, D[m], false) = {MTH(D[m])}.
  if (wentRight) out.unshift(rangeHash(src, start, end));
  return out;
}

/**
 * The descent PATH (RFC 9162 §2.1.3.1) and SUBPROOF (§2.1.4.1) share: from D[0:n] with `m`, at
 * each split k the sibling subtree's hash is taken and the walk goes left while `left(m, k)`,
 * else right (m -= k), until `done(m, size)`. Returns the hashes bottom-up (the proof's order),
 * the subtree [start, end) it stopped at, and whether it ever went right.
 */
function descend(
  src: NormalizedSource,
  first: number,
  left: (m: number, k: number) => boolean,
  done: (m: number, size: number) => boolean,
): { out: Uint8Array[]; start: number; end: number; wentRight: boolean } {
  const out: Uint8Array[] = [];
  let m = first;
  let start = 0;
  let end = src.size;
  let wentRight = false;
  while (!done(m, end - start)) {
    const k = splitPoint(end - start);
    if (left(m, k)) {
      out.push(rangeHash(src, start + k, end));
      end = start + k;
    } else {
      out.push(rangeHash(src, start, start + k));
      m -= k;
      start += k;
      wentRight = true;
    }
  }
  // Collected top-down; a proof lists them bottom-up.
  return { out: out.reverse(), start, end, wentRight };
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
  // Steps 2-4.
  let r = leaf;
  const sn = walkPath(index, treeSize - 1, proof, 'inclusion proof', (p, left) => {
    r = left ? nodeHash(p, r) : nodeHash(r, p);
  });
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
  sn = walkPath(fn, sn, path.slice(1), 'consistency proof', (c, left) => {
    if (left) fr = nodeHash(c, fr);
    sr = left ? nodeHash(c, sr) : nodeHash(sr, c);
  });
  // Step 7.
  if (sn !== 0) throw invalid('consistency proof is too short');
  if (!bytesEqual(fr, oldRoot)) throw invalid('consistency proof does not lead to the old root');
  if (!bytesEqual(sr, newRoot)) throw invalid('consistency proof does not lead to the new root');
}

/**
 * The walk up the tree that inclusion (RFC 9162 §2.1.3.2 step 4) and consistency (§2.1.4.2 step
 * 6) verification share: `fn` is the node's index, `sn` the last node's, at the level of the
 * first hash of `path`; `onHash(c, left)` takes each hash, `left` when it is a left sibling.
 * Returns the final `sn`, which is 0 exactly when the path was not too short.
 */
function walkPath(
  fn: number,
  sn: number,
  path: readonly Uint8Array[],
  what: string,
  onHash: (c: Uint8Array, left: boolean) => void,
): number {
  for (const c of path) {
    // A path longer than the tree is high is invalid.
    if (sn === 0) throw invalid(`${what} is too long`);
    const left = isOdd(fn) || fn === sn;
    onHash(c, left);
    // A left sibling of an even node: climb past the levels where the node has no right sibling.
    if (left) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn;
}
