import { describe, expect, it } from 'vitest';
import { toB64u } from '../../src/protocol/encoding.js';
import { ForkCode } from '../../src/protocol/errors.js';
import { checkAppendOnly, consistencyDue } from '../../src/tlog/append-only.js';
import { consistencyProof, leafHash, rootFromLeafHashes } from '../../src/tlog/merkle.js';

// RFC 9162 §2.1.4.2, as witnesses and auditors judge a log's new tree head against the last seen.
const leaves = (n: number, tag = 'leaf') =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`${tag} ${i}`)));
const head = (hashes: Uint8Array[]) => ({ size: hashes.length, rootHash: rootFromLeafHashes(hashes) });
const proof = (oldSize: number, hashes: Uint8Array[]) => consistencyProof(oldSize, hashes).map(toB64u);
const code = (r: ReturnType<typeof checkAppendOnly>) => r?.code;

describe('the append-only check (RFC 9162 §2.1.4.2)', () => {
  const honest = leaves(8);
  const seen = head(honest.slice(0, 5));

  it('a bigger tree with a valid consistency proof extends the one seen', () => {
    expect(checkAppendOnly(seen, head(honest), proof(5, honest))).toBeUndefined();
    expect(consistencyDue(seen, head(honest))).toBe(true);
  });

  it('the same tree again is no fork; another root for the same size is', () => {
    expect(checkAppendOnly(seen, head(honest.slice(0, 5)), null)).toBeUndefined();
    const other = head([...honest.slice(0, 4), ...leaves(1, 'other')]);
    expect(checkAppendOnly(seen, other, null)).toEqual({
      code: ForkCode.RootMismatch,
      reason: 'two different roots for 5 leaves',
    });
    expect(consistencyDue(seen, other)).toBe(false);
  });

  it('a smaller tree is a fork, whatever the proof', () => {
    expect(code(checkAppendOnly(seen, head(honest.slice(0, 3)), []))).toBe(ForkCode.Shrunk);
  });

  it('from the empty tree anything extends; no proof is due', () => {
    const empty = { size: 0, rootHash: rootFromLeafHashes([]) };
    expect(checkAppendOnly(empty, head(honest), null)).toBeUndefined();
    expect(consistencyDue(empty, head(honest))).toBe(false);
  });

  it('a bigger tree without a proof, with a proof of another tree, or with a broken proof is a fork', () => {
    const forked = [...honest.slice(0, 4), ...leaves(4, 'forked')];
    expect(code(checkAppendOnly(seen, head(honest), null))).toBe(ForkCode.ProofMissing);
    expect(code(checkAppendOnly(seen, head(forked), proof(5, forked)))).toBe(ForkCode.Inconsistent);
    expect(code(checkAppendOnly(seen, head(honest), proof(5, honest).slice(1)))).toBe(ForkCode.Inconsistent);
    expect(code(checkAppendOnly(seen, head(honest), ['not a hash']))).toBe(ForkCode.Inconsistent);
  });
});
