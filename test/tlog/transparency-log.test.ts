import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair, importPublicKey, type KeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { KeyedPseudonyms } from '../../src/dp/log-pseudonym.js';
import { DiscoveryProvider } from '../../src/dp/provider.js';
import { TransparencyLog } from '../../src/dp/transparency-log.js';
import { toB64u } from '../../src/protocol/encoding.js';
import { logOrigin, witnessName } from '../../src/protocol/transparency.js';
import { configDefaults } from '../../src/server/config.js';
import { openCheckpoint, signCheckpoint } from '../../src/tlog/checkpoint.js';
import { cosignNote, verifyCosignatures } from '../../src/tlog/cosignature.js';
import { decodeLeaf, LogLeafKind, leafIsAbout } from '../../src/tlog/leaf.js';
import {
  consistencyProof,
  inclusionProof,
  MerkleAccumulator,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../../src/tlog/merkle.js';
import { Federation } from '../support/federation.js';

/** The log as the DP keeps it: leaves in the same transaction as each change, proofs from the store. */
describe('transparency log over the store (R3, R19, R28)', () => {
  let fed: Federation;
  let log: TransparencyLog;
  let dp: DiscoveryProvider;
  const origin = logOrigin('test', 'dp1');
  const keyed = new KeyedPseudonyms(randomBytes(32));

  beforeEach(async () => {
    fed = new Federation({}, 60);
    log = new TransparencyLog({
      store: fed.store,
      origin,
      signer: { name: origin, privateKey: fed.dpKeys.log.privateKey },
      pseudonyms: keyed,
      checkpointIntervalMs: configDefaults.log.checkpointIntervalMs,
      subtreeCacheBytes: configDefaults.log.subtreeCacheBytes,
      proofCacheBytes: configDefaults.log.proofCacheBytes,
      now: fed.clock.now,
    });
    dp = new DiscoveryProvider({
      id: 'dp1',
      key: fed.dpKeys.records,
      store: fed.store,
      registry: () => fed.registry,
      policy: {},
      contestWindowSeconds: 60,
      now: fed.clock.now,
      log,
    });
    await log.open();
  });
  afterEach(() => fed.close());

  /** A second log over the same store, with its own cache sizes. */
  function logWith(subtreeCacheBytes: number, proofCacheBytes: number): TransparencyLog {
    return new TransparencyLog({
      store: fed.store,
      origin,
      signer: { name: origin, privateKey: fed.dpKeys.log.privateKey },
      pseudonyms: keyed,
      now: fed.clock.now,
      checkpointIntervalMs: configDefaults.log.checkpointIntervalMs,
      subtreeCacheBytes,
      proofCacheBytes,
    });
  }

  async function leaves() {
    const head = await fed.store.logHead();
    return fed.store.logLeaves(0, head.size);
  }

  it('every change appends one leaf in its own transaction; a mapping signs its leaf index', async () => {
    const bob = generateKeyPair();
    const csi = 'tel:+14155550123';
    const first = await dp.accept(fed.submission(csi, bob, { user: 'bob' }));
    const second = await dp.accept(fed.submission(csi, bob, { user: 'bob2', supersedes: first.id }));
    const inv = {
      v: 1 as const,
      csi,
      holderKey: bob.publicKey,
      target: second.id,
      issuedAt: fed.clock.now(),
    };
    await dp.invalidate({ ...inv, sig: signObject(SignPurpose.Invalidation, inv, bob.privateKey) });
    const eve = generateKeyPair();
    await dp.accept(fed.submission(csi, eve, { user: 'eve', msp: 'msp2' }));
    const rows = await leaves();
    const kinds = rows.map((r) => decodeLeaf(r.data).kind);
    expect(kinds).toEqual([
      LogLeafKind.Mapping,
      LogLeafKind.Replacement,
      LogLeafKind.Invalidation,
      LogLeafKind.Mapping,
    ]);
    expect(first.mapping.logIndex).toBe(0);
    expect(second.mapping.logIndex).toBe(1);
    // The commitment of a mapping leaf is its id: SHA-256 of the full canonical mapping.
    expect(decodeLeaf(rows[1]!.data).commitment).toBe(second.id);
    // One CSI, one pseudonym: its holder finds every leaf by the leaf's tag, and no two tags repeat.
    const mine = toB64u(keyed.of(csi).pseudonym);
    expect(rows.every((r) => leafIsAbout(decodeLeaf(r.data), mine))).toBe(true);
    expect(new Set(rows.map((r) => decodeLeaf(r.data).pseudonym)).size).toBe(rows.length);
  });

  it('R28: no leaf holds a CSI, an SSI or a holder key', async () => {
    const holders = Array.from({ length: 5 }, () => generateKeyPair());
    const secrets: string[] = [];
    for (const [i, h] of holders.entries()) {
      const csi = `tel:+1415555${String(7000 + i)}`;
      await dp.accept(fed.submission(csi, h, { user: `user${i}` }));
      secrets.push(csi, csi.slice(5), `user${i}`, h.publicKey, 'mimi://');
    }
    for (const r of await leaves()) {
      const text = Buffer.from(r.data).toString('utf8');
      for (const s of secrets) expect(text).not.toContain(s);
      expect(Object.keys(JSON.parse(text)).sort()).toEqual([
        'commitment',
        'epoch',
        'kind',
        'pseudonym',
        'time',
        'v',
      ]);
    }
  });

  it('proofs from stored subtrees equal the RFC 9162 reference at every size, and verify', async () => {
    const sizes: number[] = [];
    // Proofs at growing sizes: subtree blocks cached at a smaller size are extended when needed.
    for (let i = 0; i < 70; i++) {
      await dp.accept(fed.submission(`tel:+1415555${String(8000 + i)}`, generateKeyPair()));
      if (i % 9 === 0 || i === 69) sizes.push((await log.checkpoint()).size);
    }
    const hashes = (await leaves()).map((r) => r.hash);
    const head = await fed.store.logHead();
    expect(toB64u(MerkleAccumulator.fromState(head).root())).toBe(toB64u(rootFromLeafHashes(hashes)));
    for (const size of sizes) {
      const cp = (await fed.store.checkpointAt(size))!;
      const opened = openCheckpoint(cp.note, [{ name: origin, publicKey: createPublic(fed.dpKeys.log) }]);
      expect(opened.checkpoint.size).toBe(size);
      const root = rootFromLeafHashes(hashes.slice(0, size));
      expect(toB64u(opened.checkpoint.rootHash)).toBe(toB64u(root));
      for (let i = 0; i < size; i++) {
        const p = await log.inclusion(i, size);
        expect(p.map(toB64u)).toEqual(inclusionProof(i, hashes.slice(0, size)).map(toB64u));
        verifyInclusion(hashes[i]!, i, size, p, root);
      }
      for (const from of sizes.filter((s) => s > 0 && s <= size)) {
        const c = await log.consistency(from, size);
        expect(c.map(toB64u)).toEqual(consistencyProof(from, hashes.slice(0, size)).map(toB64u));
        verifyConsistency(from, size, rootFromLeafHashes(hashes.slice(0, from)), root, c);
      }
    }
  });

  it('proofs stay exact across many subtree blocks, with a cache too small to hold them', async () => {
    // 700 leaves: three blocks of 256 leaf hashes, checked at sizes that cut blocks mid-way.
    const small = logWith(9_000, 0); // one block of 256 hashes at a time
    const sizes = [300, 513, 700];
    let appended = 0;
    for (const size of sizes) {
      const entries = Array.from({ length: size - appended }, (_, i) => ({
        kind: LogLeafKind.Mapping,
        csi: `tel:+1415556${String(1000 + appended + i)}`,
        time: fed.clock.now(),
        commitment: randomBytes(32),
      }));
      await fed.store.write((tx) => log.appendMany(tx, entries));
      appended = size;
      const hashes = (await leaves()).map((r) => r.hash);
      const root = rootFromLeafHashes(hashes);
      for (const i of [0, 1, 255, 256, 257, 299, 511, 512, size - 1]) {
        if (i >= size) continue;
        const want = inclusionProof(i, hashes).map(toB64u);
        expect((await log.inclusion(i, size)).map(toB64u)).toEqual(want);
        expect((await small.inclusion(i, size)).map(toB64u)).toEqual(want);
        verifyInclusion(hashes[i]!, i, size, await small.inclusion(i, size), root);
      }
      for (const from of [1, 256, 300, 513].filter((f) => f <= size)) {
        const want = consistencyProof(from, hashes).map(toB64u);
        expect((await small.consistency(from, size)).map(toB64u)).toEqual(want);
        expect((await log.consistency(from, size)).map(toB64u)).toEqual(want);
      }
    }
    expect(small.cacheBytes()['log-subtrees']).toBeLessThanOrEqual(9_000);
  });

  it('a kept proof (log.proofCacheBytes) is answered exactly, holds only its own bytes, and goes with a newer cosigned checkpoint', async () => {
    const entries = Array.from({ length: 700 }, (_, i) => ({
      kind: LogLeafKind.Mapping,
      csi: `tel:+1415557${String(1000 + i)}`,
      time: fed.clock.now(),
      commitment: randomBytes(32),
    }));
    await fed.store.write((tx) => log.appendMany(tx, entries));
    // One subtree block at a time: the proofs' blocks are evicted as they go.
    const kept = logWith(9_000, 1 << 20);
    await kept.open();
    const cp = await kept.checkpoint();
    const hashes = (await leaves()).map((r) => r.hash).slice(0, cp.size);
    const root = rootFromLeafHashes(hashes);
    const indexes = [0, 255, 256, 511, 699];
    const first = await kept.mappingProofs(indexes);
    const heldBytes = kept.cacheBytes()['log-proofs']!;
    const again = await kept.mappingProofs(indexes);
    for (const [k, i] of indexes.entries()) {
      // The kept copy is its own: no view of a subtree block (which may be gone from its cache).
      for (const h of again[k]!.proof)
        expect(h.buffer.byteLength).toBe(again[k]!.leaf.length + 32 * again[k]!.proof.length);
      expect(again[k]!.proof.map(toB64u)).toEqual(first[k]!.proof.map(toB64u));
      expect(again[k]!.proof.map(toB64u)).toEqual(inclusionProof(i, hashes).map(toB64u));
      verifyInclusion(hashes[i]!, i, cp.size, again[k]!.proof, root);
      const json = JSON.parse(await kept.mappingProofJson(i)) as {
        checkpoint: string;
        leaf: string;
        proof: string[];
      };
      expect(json.proof).toEqual(inclusionProof(i, hashes).map(toB64u));
      expect(json.checkpoint).toBe(cp.note);
    }
    expect(heldBytes).toBeGreaterThan(0);
    expect(kept.cacheBytes()['log-proofs']).toBe(heldBytes);
    kept.noteCosigned({ ...cp, cosignatures: ['— witness x\n'] });
    expect(kept.cacheBytes()['log-proofs']).toBe(0);
  });

  it('a write that fails after appending rolls its leaf back with it (group commit savepoints)', async () => {
    const ok = generateKeyPair();
    const writes = [
      dp.accept(fed.submission('tel:+14155559001', ok)),
      fed.store.write(async (tx) => {
        await log.append(tx, {
          kind: LogLeafKind.Mapping,
          csi: 'tel:+14155559002',
          time: 1,
          commitment: new Uint8Array(32),
        });
        throw new Error('refused after the append');
      }),
      dp.accept(fed.submission('tel:+14155559003', generateKeyPair())),
    ];
    const settled = await Promise.allSettled(writes);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const rows = await leaves();
    expect(rows.map((r) => r.index)).toEqual([0, 1]);
    const third = (settled[2] as PromiseFulfilledResult<{ mapping: { logIndex: number | null } }>).value;
    expect(third.mapping.logIndex).toBe(1);
    const head = await fed.store.logHead();
    expect(toB64u(MerkleAccumulator.fromState(head).root())).toBe(
      toB64u(rootFromLeafHashes(rows.map((r) => r.hash))),
    );
  });

  it('checkpoints are made only when the tree grew, and keep their history', async () => {
    const a = await log.checkpoint();
    expect((await log.checkpoint()).size).toBe(a.size);
    await dp.accept(fed.submission('tel:+14155559100', generateKeyPair()));
    const b = await log.checkpoint();
    expect(b.size).toBe(a.size + 1);
    expect((await fed.store.checkpointAt(a.size))?.note).toBe(a.note);
  });
});

describe('C2SP tlog-cosignature/v1', () => {
  const logKey = generateKeyPair();
  const w1 = generateKeyPair();
  const w2 = generateKeyPair();
  const origin = logOrigin('test', 'dp1');
  const note = signCheckpoint(
    { origin, size: 5, rootHash: new Uint8Array(32).fill(7) },
    { name: origin, privateKey: logKey.privateKey },
  );

  it('cosignatures verify, count per witness, and a tampered one fails', () => {
    const n1 = cosignNote(
      note,
      { name: witnessName('test', 'dp2'), privateKey: w1.privateKey },
      1_700_000_000,
    );
    const n2 = cosignNote(n1, { name: witnessName('test', 'dp3'), privateKey: w2.privateKey }, 1_700_000_001);
    const cosigners = [
      { name: witnessName('test', 'dp2'), publicKey: createPublic(w1) },
      { name: witnessName('test', 'dp3'), publicKey: createPublic(w2) },
    ];
    expect(verifyCosignatures(n2, cosigners).map((c) => c.timestamp)).toEqual([1_700_000_000, 1_700_000_001]);
    // The log's own signature still opens the note; cosignature lines are ignored by it.
    expect(openCheckpoint(n2, [{ name: origin, publicKey: createPublic(logKey) }]).checkpoint.size).toBe(5);
    // Re-cosigning replaces the witness's line rather than adding one.
    const again = cosignNote(
      n2,
      { name: witnessName('test', 'dp2'), privateKey: w1.privateKey },
      1_700_000_005,
    );
    expect(again.split('\n').filter((l) => l.startsWith('\u2014')).length).toBe(3);
    const lines = n2.split('\n');
    const last = lines.at(-2)!;
    const blob = Buffer.from(last.split(' ').at(-1)!, 'base64');
    blob[20] = (blob[20] ?? 0) ^ 1;
    const tampered = [
      ...lines.slice(0, -2),
      `${last.slice(0, last.lastIndexOf(' '))} ${blob.toString('base64')}`,
      '',
    ].join('\n');
    expect(() => verifyCosignatures(tampered, cosigners)).toThrow(
      expect.objectContaining({ code: 'tlog-signature-invalid' }),
    );
  });
});

function createPublic(pair: KeyPair): Uint8Array {
  return importPublicKey(pair.publicKey);
}
