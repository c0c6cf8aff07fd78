import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { HolderClient } from '../../src/client/holder.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import type { MappingSubmission } from '../../src/protocol/records.js';
import { Registry } from '../../src/registry/document.js';
import { loadConfig } from '../../src/server/config.js';
import { decodeLeaf, mappingLeafKinds } from '../../src/tlog/leaf.js';
import { MerkleAccumulator, nodeHash, rootFromLeafHashes } from '../../src/tlog/merkle.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { freePort } from '../support/devnet.js';
import { kill9, startNode } from '../support/node-process.js';

/** The log and the store agree, read straight from the database file of a killed node. */
function checkAgreement(dbFile: string): { leaves: number; mappings: number } {
  const db = new Database(dbFile);
  try {
    const leaves = db.prepare('SELECT idx, hash, data FROM log_leaves ORDER BY idx').all() as {
      idx: number;
      hash: Buffer;
      data: Buffer;
    }[];
    const head = db.prepare('SELECT size, edge FROM log_head').get() as { size: number; edge: Buffer };
    // Leaves are dense, each hash is RFC 9162's, and the stored tree state is the tree of the leaves.
    expect(leaves.map((l) => l.idx)).toEqual(leaves.map((_, i) => i));
    expect(head.size).toBe(leaves.length);
    for (const l of leaves) {
      expect(
        createHash('sha256')
          .update(Buffer.from([0]))
          .update(l.data)
          .digest()
          .equals(l.hash),
      ).toBe(true);
    }
    const edge: Uint8Array[] = [];
    for (let at = 0; at < head.edge.length; at += 32)
      edge.push(new Uint8Array(head.edge.subarray(at, at + 32)));
    const hashes = leaves.map((l) => new Uint8Array(l.hash));
    expect(Buffer.from(MerkleAccumulator.fromState({ size: head.size, edge }).root())).toEqual(
      Buffer.from(rootFromLeafHashes(hashes)),
    );
    // Every stored subtree hash is the hash of its leaves.
    const nodes = db.prepare('SELECT id, hash FROM log_nodes').all() as { id: number; hash: Buffer }[];
    const level1 = new Map<number, Uint8Array>();
    for (let i = 0; i + 1 < hashes.length; i += 2) level1.set(i / 2, nodeHash(hashes[i]!, hashes[i + 1]!));
    for (const n of nodes) {
      const level = Math.floor(n.id / 2 ** 47);
      const index = n.id - level * 2 ** 47;
      const span = 2 ** level;
      expect(index * span + span).toBeLessThanOrEqual(hashes.length);
      expect(Buffer.from(rootFromLeafHashes(hashes.slice(index * span, index * span + span)))).toEqual(
        n.hash,
      );
    }
    expect(nodes.length).toBe(hashes.length - popCount(hashes.length));
    // Every logged mapping exists, with the index it signed; every mapping is logged.
    const logged = new Map<string, number>();
    for (const l of leaves) {
      const leaf = decodeLeaf(l.data);
      if (mappingLeafKinds.includes(leaf.kind)) logged.set(leaf.commitment, l.idx);
    }
    const mappings = db.prepare('SELECT id, json FROM mappings').all() as { id: string; json: string }[];
    expect(new Set(mappings.map((m) => m.id))).toEqual(new Set(logged.keys()));
    for (const m of mappings) expect(JSON.parse(m.json).logIndex).toBe(logged.get(m.id));
    return { leaves: leaves.length, mappings: mappings.length };
  } finally {
    db.close();
  }
}

function popCount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2;
  return c;
}

describe('the log is atomic with the records it logs (kill -9 at many points)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-log-kill-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('after every SIGKILL the log and the store agree, and the tree root recomputes from the leaves', async () => {
    writeDevnet(dir, { port: await freePort() });
    const layout = readDevnet(dir);
    const loaded = loadConfig(layout.configFile);
    const store = loaded.config.store;
    if (store.backend !== 'sqlite') throw new Error('the devnet runs on SQLite');
    const dbFile = loaded.path(store.path);
    const now = Math.floor(Date.now() / 1000);
    const registry = Registry.open(
      JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')),
      layout.registryKey,
      { now },
    );
    const http = { baseUrl: layout.endpoint };
    const msp = new MspAgent({
      id: 'msp1',
      key: readJwkFile(layout.msps[0]!.keyFile),
      dp: { ...http, id: 'dp1' },
      registry: () => registry,
      isOwnUser: () => true,
    });
    const vKey = readJwkFile(join(dir, 'keys', 'verifier1.jwk'));
    const subs: MappingSubmission[] = [];
    for (let i = 0; i < 200; i++) {
      const csi = `tel:+1415556${String(1000 + i)}`;
      const holder = new HolderClient({ dp: http });
      const att = signAttestation(
        {
          csi,
          holderKey: holder.publicKey,
          method: 'sms-otp',
          issuer: 'verifier1',
          issuedAt: now,
          lifetimeSeconds: 86_400,
        },
        vKey.privateKey,
      );
      subs.push(
        await msp.confirm(
          holder.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/k${i}`, attestation: att }),
        ),
      );
    }
    const queue = [...subs];
    let acknowledged = 0;
    const kills = [3, 11, 25, 40, 7];
    for (const killAfter of kills) {
      const node = await startNode(layout.configFile);
      let killed: Promise<void> | undefined;
      let sent = 0;
      const worker = async () => {
        for (let sub = queue.shift(); sub !== undefined && killed === undefined; sub = queue.shift()) {
          try {
            await msp.submit(sub);
            acknowledged++;
          } catch {
            // cut off by the kill: maybe applied, maybe not; either way the log must agree
          }
          // Kill at a different point in the stream each time, while other writes are in flight.
          if (++sent === killAfter) killed = kill9(node);
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
      await (killed ?? kill9(node));
      const agreed = checkAgreement(dbFile);
      expect(agreed.mappings).toBeGreaterThan(0);
    }
    expect(acknowledged).toBeGreaterThanOrEqual(kills.reduce((a, b) => a + b, 0) - kills.length * 6);
  }, 60_000);
});
