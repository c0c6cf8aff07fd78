import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryOprfCache } from '../../src/client/oprf-cache.js';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { createSodiumOprfClient } from '../../src/crypto/oprf-client-sodium.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R9, R26, R28: what the DP keeps about a private lookup. Its logs (pino, at trace level) and its
 * database hold no CSI and no OPRF output from one; indeed a private lookup stores nothing at all.
 */
describe('a private lookup leaves no CSI in logs or stored records', () => {
  const lines: string[] = [];
  let net: RunningDevnet;
  const bob = 'tel:+14155550101';
  const carol = 'mailto:carol@example.org';
  const nobody = 'tel:+14155550150';

  beforeAll(async () => {
    net = await startDevnet(
      {},
      { app: { logger: { level: 'trace', stream: { write: (l: string) => lines.push(l) } } } },
    );
    const msp1 = net.msp('msp1');
    const h = net.holder();
    const att = await net.prove(h, bob);
    await msp1.submit(
      await msp1.confirm(
        h.signMapping({ csi: bob, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: att }),
      ),
    );
    const hc = net.holder();
    await hc.optOut(await net.prove(hc, carol));
  });
  afterAll(async () => {
    await net.close();
  });

  // The devnet's DPs witness each other meanwhile: their signed calls leave peer nonces (R23),
  // which say nothing of the lookups under test.
  const notPeer = (table: string) => (table === 'seen_requests' ? " WHERE id NOT LIKE 'peer-nonce:%'" : '');

  function tableCounts(db: Database.Database): Record<string, number> {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    return Object.fromEntries(
      tables.map((t) => [
        t.name,
        (db.prepare(`SELECT COUNT(*) AS n FROM "${t.name}"${notPeer(t.name)}`).get() as { n: number }).n,
      ]),
    );
  }

  it('R9, R26: logs and database after private lookups, credentialed and anonymous', async () => {
    const dbFile = join(net.layout.dir, 'dp1.db');
    const db = new Database(dbFile, { readonly: true });
    const from = lines.length;
    const agent = net.msp('msp3');
    await agent.sessionToken(); // the session handshake itself is an ordinary request, stored as such
    // The set-up's last leaves get their checkpoint now, not from the background job mid-test.
    await net.ctx.transparency?.log.checkpoint();
    const before = tableCounts(db);
    const seenBefore = db.prepare(`SELECT id FROM seen_requests${notPeer('seen_requests')}`).all();
    const logStart = lines.length;
    const cache = new MemoryOprfCache();
    const oprf = await createSodiumOprfClient();
    const asked = [bob, carol, nobody];
    const credentialed = new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      credential: () => agent.sessionToken(),
      cache,
      oprf,
      now: net.clock.now,
    });
    const anonymous = new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      now: net.clock.now,
      bucketBatch: false, // one GET per bucket, so both ways of fetching are in the logs
    });
    const a = await credentialed.lookup(asked);
    const b = await anonymous.lookup(asked);
    expect(a.map((r) => r.status)).toEqual(['one', 'opt-out', 'none']);
    expect(b).toEqual(a);

    const log = lines.slice(logStart).join('');
    expect(from).toBeGreaterThan(0);
    expect(log).toContain('/v1/private/evaluate');
    expect(log).toContain('/v1/private/buckets/');
    expect(log).toContain('"url":"/v1/private/buckets"');
    const secrets = [bob, carol, nobody, '4155550101', '4155550150', 'carol@', 'example.org'];
    const outs = asked.map((csi) => cache.get('dp1', credentialed.lastStats!.epochs[0]!, csi)!);
    expect(outs.every((o) => o !== undefined)).toBe(true);
    for (const s of secrets) expect(log).not.toContain(s);
    for (const o of outs) {
      expect(log).not.toContain(Buffer.from(o).toString('base64url'));
      expect(log).not.toContain(Buffer.from(o).toString('hex'));
      expect(log).not.toContain(Buffer.from(o).toString('base64'));
    }

    // Nothing was stored: every table has the rows it had, seen_requests included.
    expect(tableCounts(db)).toEqual(before);
    expect(db.prepare(`SELECT id FROM seen_requests${notPeer('seen_requests')}`).all()).toEqual(seenBefore);
    // The private index and the epochs hold no CSI, and no OPRF output anywhere in the files.
    const rows = [
      ...db.prepare('SELECT * FROM private_index').all(),
      ...db.prepare('SELECT * FROM oprf_epochs').all(),
      ...db.prepare('SELECT * FROM seen_requests').all(),
    ] as Record<string, unknown>[];
    for (const row of rows) {
      for (const value of Object.values(row)) {
        const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
        for (const s of secrets) expect(bytes.includes(Buffer.from(s))).toBe(false);
      }
    }
    db.close();
    for (const file of [dbFile, `${dbFile}-wal`]) {
      if (!existsSync(file)) continue;
      const content = readFileSync(file);
      for (const o of outs) {
        expect(content.includes(Buffer.from(o))).toBe(false);
        expect(content.includes(Buffer.from(o.subarray(0, 16)))).toBe(false);
      }
    }
  });
});
