import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EntryFrames, entriesOf, mergeFrames } from '../../src/protocol/private.js';
import { postgresMigrations } from '../../src/store/migrations/postgres.js';
import { sqliteMigrations } from '../../src/store/migrations/sqlite.js';
import type { OprfEpoch, Store, StoreTx } from '../../src/store/store.js';
import { storedMapping } from '../support/mapping-rows.js';
import { cachedStoreBackends, residencyStoreBackends, storeBackends } from '../support/stores.js';

/**
 * The Store contract (STYLE.md §10): the same behaviour, test for test, on every backend.
 * A backend whose service is not configured is skipped, and says so on the console.
 */

const csiA = 'tel:+14155550100';
const csiB = 'tel:+14155550101';
const csiC = 'mailto:carol@example.org';

const mapping = storedMapping;

function epoch(id: number, over: Partial<OprfEpoch> = {}): OprfEpoch {
  return {
    id,
    state: 'building',
    sealedKey: Uint8Array.from([1, 2, 3, id]),
    publicKey: Uint8Array.from([9, 8, 7, id]),
    bucketBits: 4,
    padTo: 8,
    dummyLength: 40,
    minBucket: null,
    buildCursor: null,
    createdAt: 100,
    activatedAt: null,
    retireAt: null,
    ...over,
  };
}

const bytes = (...v: number[]) => Uint8Array.from(v);
/** A view into a larger buffer: stores must write only the view's bytes. */
const view = (...v: number[]) => Uint8Array.from([0xee, ...v, 0xee]).subarray(1, v.length + 1);
const hash = (b: number) => new Uint8Array(32).fill(b);
/** A 16-byte private-index tag starting with `v`. */
const tag = (...v: number[]) => {
  const t = new Uint8Array(16);
  t.set(v);
  return t;
};
/** A bucket's entries as [first two tag bytes, payload]. */
const entries = (f: EntryFrames) => entriesOf(f).map((e) => [[...e.tag.subarray(0, 2)], [...e.payload]]);
/** A store's frames in no particular order, sorted by tag as the DP serves them. */
const byTag = (f: EntryFrames) => entries(mergeFrames([f]));

describe('migrations', () => {
  it('PostgreSQL has the same versions, in the same order and with the same names, as SQLite', () => {
    expect(postgresMigrations.map((m) => [m.version, m.name])).toEqual(
      sqliteMigrations.map((m) => [m.version, m.name]),
    );
  });
});

for (const backend of [...storeBackends(), ...residencyStoreBackends(), ...cachedStoreBackends()]) {
  describe.skipIf(!backend.available)(`Store conformance: ${backend.title ?? backend.name}`, () => {
    let store: Store;
    const write = <T>(fn: (tx: StoreTx) => Promise<T>) => store.write(fn);

    beforeEach(async () => {
      store = await backend.open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('is migrated to the newest version', async () => {
      const version = await (
        store as unknown as { schemaVersion(): number | Promise<number> }
      ).schemaVersion();
      expect(version).toBe(sqliteMigrations.at(-1)!.version);
      expect(store.backend).toBe(backend.name);
    });

    describe('mappings', () => {
      it('reads back exactly what was inserted, by id and by body digest, inside and outside a write', async () => {
        const plain = mapping();
        const contested = mapping({
          csi: csiB,
          msp: null,
          optOut: true,
          level: 'csip',
          state: 'contested',
          contestDeadline: 5_000,
          priority: 7,
          tag: 'work',
          json: '{"a":"\u00e9\u{1f600}","b":[1,2]}',
        });
        await write(async (tx) => {
          await tx.insertMapping(plain);
          await tx.insertMapping(contested);
          // Visible to the write that made it, before commit.
          expect(await tx.mapping(plain.id)).toEqual(plain);
        });
        expect(await store.mapping(plain.id)).toEqual(plain);
        expect(await store.mapping(contested.id)).toEqual(contested);
        expect(await store.mapping('nope')).toBeUndefined();
        await write(async (tx) => {
          expect(await tx.mapping(contested.id)).toEqual(contested);
          expect((await tx.csiState(plain.csi, 'k', plain.bodyDigest)).earlier).toEqual(plain);
          expect((await tx.csiState(plain.csi, 'k', 'missing')).earlier).toBeUndefined();
          expect(await tx.mapping('nope')).toBeUndefined();
        });
      });

      it('csiState answers in one read what the four reads answer alone (R3, R16, R17)', async () => {
        // Live rows out of order on insert, one tie on acceptedAt (broken by id), one superseded,
        // one live row of another CSI: the answer holds csiA's live rows in liveMappings' order.
        const later = mapping({ acceptedAt: 500, id: 'm-b' });
        const tieFirst = mapping({ acceptedAt: 400, id: 'm-a1', state: 'contested', contestDeadline: 9 });
        const tieSecond = mapping({ acceptedAt: 400, id: 'm-a2', optOut: true, msp: null });
        const gone = mapping({ acceptedAt: 300, state: 'superseded' });
        const other = mapping({ csi: csiB, acceptedAt: 100 });
        const ev = (id: string, kind: string, at: number, csi = csiA) => ({ id, csi, kind, at, json: '{}' });
        await write(async (tx) => {
          for (const m of [later, tieSecond, gone, tieFirst, other]) await tx.insertMapping(m);
          await tx.insertHolderKey({ csi: csiA, key: 'k1', group: 'g1', retired: false });
          await tx.insertHolderKey({ csi: csiA, key: 'k2', group: 'g1', retired: false });
          await tx.retireHolderKey(csiA, 'k2');
          await tx.insertHolderKey({ csi: csiB, key: 'k3', group: 'g3', retired: false });
          await tx.insertCsipEvent(ev('e1', 'reassigned', 250), 1);
          await tx.insertCsipEvent(ev('e2', 'ported', 900), 2);
          await tx.insertCsipEvent(ev('e3', 'disconnected', 999, csiB), 3);
        });
        await write(async (tx) => {
          const state = await tx.csiState(csiA, 'k2', gone.bodyDigest);
          expect(state).toEqual({
            earlier: gone,
            cutoff: 250,
            key: { csi: csiA, key: 'k2', group: 'g1', retired: true },
            live: [tieFirst, tieSecond, later],
          });
          expect(state.live).toEqual(await tx.liveMappings(csiA));
          expect(state.key).toEqual(await tx.holderKey(csiA, 'k2'));
          expect(state.cutoff).toBe(await tx.csipCutoff(csiA));
          // A key of another CSI, a body of another CSI, a CSI with nothing: nothing found.
          expect(await tx.csiState(csiA, 'k3', other.bodyDigest)).toMatchObject({
            earlier: other,
            key: undefined,
          });
          expect(await tx.csiState(csiC, 'k1', 'none')).toEqual({
            earlier: undefined,
            cutoff: null,
            key: undefined,
            live: [],
          });
        });
      });

      it('refuses a second mapping with the same body digest', async () => {
        const m = mapping();
        await write((tx) => tx.insertMapping(m));
        await expect(
          write((tx) => tx.insertMapping({ ...mapping(), bodyDigest: m.bodyDigest })),
        ).rejects.toThrow();
        expect((await store.stats()).mappings).toBe(1);
      });

      it('live mappings of a CSI are its active and contested ones, oldest first', async () => {
        const a = mapping({ acceptedAt: 30 });
        const b = mapping({ acceptedAt: 10, state: 'contested', contestDeadline: 99 });
        const c = mapping({ acceptedAt: 10 });
        const gone = ['invalidated', 'superseded', 'displaced', 'lost', 'removed'] as const;
        await write(async (tx) => {
          for (const m of [a, b, c]) await tx.insertMapping(m);
          for (const state of gone) await tx.insertMapping(mapping({ state }));
          await tx.insertMapping(mapping({ csi: csiB }));
        });
        await write(async (tx) => {
          expect((await tx.liveMappings(csiA)).map((m) => m.id)).toEqual([b.id, c.id, a.id]);
          expect(await tx.liveMappings(csiC)).toEqual([]);
        });
      });

      it('setState moves mappings; a contest deadline is kept only for contested ones', async () => {
        const a = mapping();
        const b = mapping();
        await write(async (tx) => {
          await tx.insertMapping(a);
          await tx.insertMapping(b);
        });
        await write((tx) => tx.setState([a.id, b.id], 'contested', 50, 500));
        expect(await store.mapping(a.id)).toMatchObject({ state: 'contested', contestDeadline: 500 });
        await write((tx) => tx.setState([a.id], 'displaced', 60, 777));
        expect(await store.mapping(a.id)).toMatchObject({ state: 'displaced', contestDeadline: null });
        await write((tx) => tx.setState([], 'removed', 70));
        expect(await store.mapping(b.id)).toMatchObject({ state: 'contested', contestDeadline: 500 });
      });

      it('CSIs with due contests are those whose contested deadline has passed', async () => {
        await write(async (tx) => {
          await tx.insertMapping(mapping({ csi: csiA, state: 'contested', contestDeadline: 100 }));
          await tx.insertMapping(mapping({ csi: csiA, state: 'contested', contestDeadline: 90 }));
          await tx.insertMapping(mapping({ csi: csiB, state: 'contested', contestDeadline: 200 }));
          await tx.insertMapping(mapping({ csi: csiC, state: 'active' }));
        });
        await write(async (tx) => {
          expect(await tx.csisWithDueContests(50)).toEqual([]);
          expect(await tx.csisWithDueContests(100)).toEqual([csiA]);
          expect((await tx.csisWithDueContests(200)).sort()).toEqual([csiA, csiB].sort());
        });
      });

      it('active mappings by CSI: active and unexpired only, every CSI asked present', async () => {
        const a1 = mapping({ csi: csiA, acceptedAt: 1 });
        const a2 = mapping({ csi: csiA, acceptedAt: 2, tag: 'work' });
        const b1 = mapping({ csi: csiB });
        await write(async (tx) => {
          for (const m of [a1, a2, b1]) await tx.insertMapping(m);
          await tx.insertMapping(mapping({ csi: csiA, expiresAt: 500 }));
          await tx.insertMapping(mapping({ csi: csiA, state: 'contested', contestDeadline: 9 }));
          await tx.insertMapping(mapping({ csi: csiB, state: 'superseded' }));
        });
        const found = await store.activeMappings([csiA, csiB, csiC], 500);
        expect([...found.keys()].sort()).toEqual([csiA, csiB, csiC].sort());
        expect(
          found
            .get(csiA)!
            .map((m) => m.id)
            .sort(),
        ).toEqual([a1.id, a2.id].sort());
        expect(found.get(csiB)).toEqual([b1]);
        expect(found.get(csiC)).toEqual([]);
        const served = await store.servedMappings([csiA, csiB, csiC], 500);
        expect(served.get(csiB)).toEqual([
          {
            id: b1.id,
            json: b1.json,
            holderKey: b1.holderKey,
            msp: b1.msp,
            tag: b1.tag,
            priority: b1.priority,
            acceptedAt: b1.acceptedAt,
            expiresAt: b1.expiresAt,
            level: b1.level,
            optOut: b1.optOut,
          },
        ]);
        expect(
          served
            .get(csiA)!
            .map((m) => m.id)
            .sort(),
        ).toEqual([a1.id, a2.id].sort());
        expect(served.get(csiC)).toEqual([]);
        // R15: a compact answer's read leaves the signed record out, and nothing else.
        const bare = await store.servedMappings([csiA, csiB, csiC], 500, { json: false });
        expect(bare.get(csiB)).toEqual([{ ...served.get(csiB)![0]!, json: '' }]);
        expect(bare.get(csiA)!.map((m) => ({ ...m, json: 'x' }))).toEqual(
          served.get(csiA)!.map((m) => ({ ...m, json: 'x' })),
        );
        expect(bare.get(csiC)).toEqual([]);
        expect((await store.activeMappings([], 0)).size).toBe(0);
        expect(await store.stats()).toEqual({ mappings: 6, active: 4 });
      });

      it('reads many CSIs at once', async () => {
        const csis = Array.from({ length: 1200 }, (_, i) => `tel:+1415555${String(i).padStart(4, '0')}`);
        await write(async (tx) => {
          for (const csi of csis.filter((_, i) => i % 100 === 0)) await tx.insertMapping(mapping({ csi }));
        });
        const found = await store.activeMappings(csis, 0);
        expect(found.size).toBe(1200);
        expect([...found.values()].filter((v) => v.length === 1)).toHaveLength(12);
      });
    });

    describe('holder keys', () => {
      it('are inserted, read and retired per CSI', async () => {
        await write(async (tx) => {
          await tx.insertHolderKey({ csi: csiA, key: 'k1', group: 'k1', retired: false });
          await tx.insertHolderKey({ csi: csiA, key: 'k2', group: 'k1', retired: false });
          await tx.insertHolderKey({ csi: csiB, key: 'k1', group: 'k1', retired: false });
        });
        await write(async (tx) => {
          await tx.retireHolderKey(csiA, 'k1');
          expect(await tx.holderKey(csiA, 'k1')).toEqual({
            csi: csiA,
            key: 'k1',
            group: 'k1',
            retired: true,
          });
          expect(await tx.holderKey(csiA, 'k2')).toEqual({
            csi: csiA,
            key: 'k2',
            group: 'k1',
            retired: false,
          });
          expect(await tx.holderKey(csiB, 'k1')).toMatchObject({ retired: false });
          expect(await tx.holderKey(csiC, 'k1')).toBeUndefined();
        });
        await expect(
          write((tx) => tx.insertHolderKey({ csi: csiA, key: 'k2', group: 'x', retired: false })),
        ).rejects.toThrow();
      });
    });

    describe('challenges', () => {
      it('are stored, updated and counted per CSI since a time', async () => {
        const base = {
          csi: csiA,
          holderKey: 'k1',
          method: 'sms-otp' as const,
          codeHash: 'hash',
          expiresAt: 400,
          attempts: 0,
          state: 'pending' as const,
        };
        await write(async (tx) => {
          await tx.insertChallenge({ ...base, id: 'c1', createdAt: 100 });
          await tx.insertChallenge({ ...base, id: 'c2', createdAt: 200 });
          await tx.insertChallenge({ ...base, id: 'c3', csi: csiB, createdAt: 200 });
        });
        await write(async (tx) => {
          expect(await tx.challenge('c1')).toEqual({ ...base, id: 'c1', createdAt: 100 });
          await tx.updateChallenge('c1', 2, 'failed');
          expect(await tx.challenge('c1')).toMatchObject({ attempts: 2, state: 'failed' });
          expect(await tx.challenge('none')).toBeUndefined();
          expect(await tx.countRecentChallenges(csiA, 100)).toBe(2);
          expect(await tx.countRecentChallenges(csiA, 101)).toBe(1);
          expect(await tx.countRecentChallenges(csiC, 0)).toBe(0);
        });
      });

      it('are counted per mailbox: plus-addressed variants of one address, nothing else', async () => {
        const base = {
          holderKey: 'k1',
          method: 'email-otp' as const,
          codeHash: 'hash',
          expiresAt: 400,
          attempts: 0,
          state: 'pending' as const,
        };
        const csis = [
          'mailto:bob@example.org',
          'mailto:bob+a@example.org',
          'mailto:bob+b+c@example.org',
          'mailto:bob+%_@example.org',
          // Not bob@example.org's mailbox: another local part, another domain, a longer domain.
          'mailto:bobby@example.org',
          'mailto:bob,x@example.org',
          'mailto:bob+a@example.net',
          'mailto:bob+a@sub.example.org',
          'mailto:bob+a@xexample.org',
        ];
        // One write each: with residency the domains may live in different regions.
        for (const [i, csi] of csis.entries()) {
          await write((tx) =>
            tx.insertChallenge({ ...base, csi, id: `m${i}`, createdAt: i === 1 ? 100 : 200 }),
          );
        }
        await write(async (tx) => {
          expect(await tx.countRecentMailboxChallenges('mailto:bob+zz@example.org', 0)).toBe(4);
          expect(await tx.countRecentMailboxChallenges('mailto:bob@example.org', 150)).toBe(3);
          expect(await tx.countRecentMailboxChallenges('mailto:bobby+1@example.org', 0)).toBe(1);
          expect(await tx.countRecentMailboxChallenges('mailto:alice@example.org', 0)).toBe(0);
          expect(await tx.countRecentChallenges('mailto:bob@example.org', 0)).toBe(1);
        });
      });
    });

    describe('request replay memory', () => {
      it('remembers a request id until it expires', async () => {
        const now = Math.floor(Date.now() / 1000);
        expect(await write((tx) => tx.rememberRequest('r1', now + 3600))).toBe(true);
        expect(await write((tx) => tx.rememberRequest('r1', now + 3600))).toBe(false);
        expect(await write((tx) => tx.rememberRequest('r2', now + 3600))).toBe(true);
        // Expired ids are forgotten: the same id is new again.
        expect(await write((tx) => tx.rememberRequest('old', now - 10))).toBe(true);
        expect(await write((tx) => tx.rememberRequest('old', now + 3600))).toBe(true);
        expect(await write((tx) => tx.rememberRequest('old', now + 3600))).toBe(false);
      });

      it('forgets an id remembered by a write that rolled back', async () => {
        const now = Math.floor(Date.now() / 1000);
        const undo = new Error('undo');
        await expect(
          write(async (tx) => {
            await tx.rememberRequest('r1', now + 60);
            throw undo;
          }),
        ).rejects.toBe(undo);
        expect(await write((tx) => tx.rememberRequest('r1', now + 60))).toBe(true);
      });
    });

    describe('spent Privacy Pass tokens', () => {
      it('spends a (key id, nonce) once, and forgets a spend that rolled back (RFC 9577 §2.2.2)', async () => {
        const now = Math.floor(Date.now() / 1000);
        expect(await write((tx) => tx.spendToken('k1', 'n1', now + 3600))).toBe(true);
        expect(await write((tx) => tx.spendToken('k1', 'n1', now + 3600))).toBe(false);
        // The same nonce under another key is another token.
        expect(await write((tx) => tx.spendToken('k2', 'n1', now + 3600))).toBe(true);
        const undo = new Error('undo');
        await expect(
          write(async (tx) => {
            await tx.spendToken('k1', 'n2', now + 60);
            throw undo;
          }),
        ).rejects.toBe(undo);
        expect(await write((tx) => tx.spendToken('k1', 'n2', now + 60))).toBe(true);
      });
    });

    describe('outbox', () => {
      it('queues each (target, event) once and hands out due items in order', async () => {
        await write((tx) =>
          tx.enqueue(
            [
              { target: 'dp2', eventId: 'e1', body: 'b1' },
              { target: 'dp3', eventId: 'e1', body: 'b1' },
              { target: 'dp2', eventId: 'e2', body: 'b2' },
            ],
            1_000,
          ),
        );
        await write((tx) =>
          tx.enqueue(
            [
              { target: 'dp2', eventId: 'e1', body: 'changed' },
              { target: 'dp2', eventId: 'e3', body: 'b3' },
            ],
            2_000,
          ),
        );
        await write((tx) => tx.enqueue([], 3_000));
        expect(await store.outboxDepth()).toEqual({ dp2: 3, dp3: 1 });
        const due = await write((tx) => tx.dueOutbox(1_500, 10));
        expect(due.map((i) => [i.target, i.eventId, i.body, i.attempts, i.nextAt])).toEqual([
          ['dp2', 'e1', 'b1', 0, 1_000],
          ['dp3', 'e1', 'b1', 0, 1_000],
          ['dp2', 'e2', 'b2', 0, 1_000],
        ]);
        expect(await write((tx) => tx.dueOutbox(5_000, 2))).toHaveLength(2);
        expect(typeof due[0]!.id).toBe('number');
      });

      it('delivered items leave the queue; retried ones come back when due', async () => {
        await write((tx) =>
          tx.enqueue(
            [
              { target: 'dp2', eventId: 'e1', body: 'b1' },
              { target: 'dp2', eventId: 'e2', body: 'b2' },
            ],
            1_000,
          ),
        );
        const [first, second] = await write((tx) => tx.dueOutbox(1_000, 10));
        await write((tx) => tx.outboxDelivered(first!.id, 1_100));
        await write((tx) => tx.outboxRetry(second!.id, 1, 5_000, `peer down ${'x'.repeat(1000)}`));
        expect(await store.outboxDepth()).toEqual({ dp2: 1 });
        expect(await write((tx) => tx.dueOutbox(4_999, 10))).toEqual([]);
        expect(await write((tx) => tx.dueOutbox(5_000, 10))).toEqual([
          { id: second!.id, target: 'dp2', eventId: 'e2', body: 'b2', attempts: 1, nextAt: 5_000 },
        ]);
        await write((tx) => tx.outboxDelivered(second!.id, 5_100));
        expect(await store.outboxDepth()).toEqual({});
      });
    });

    describe('CSIP events', () => {
      it('are recorded once; the cut-off is the latest disconnection or reassignment', async () => {
        const ev = (id: string, kind: string, at: number, csi = csiA) => ({ id, csi, kind, at, json: '{}' });
        await write(async (tx) => {
          expect(await tx.csipCutoff(csiA)).toBeNull();
          expect(await tx.insertCsipEvent(ev('e1', 'disconnected', 100), 1)).toBe(true);
          expect(await tx.insertCsipEvent(ev('e1', 'disconnected', 100), 2)).toBe(false);
          expect(await tx.insertCsipEvent(ev('e2', 'reassigned', 300), 3)).toBe(true);
          expect(await tx.insertCsipEvent(ev('e3', 'ported', 900), 4)).toBe(true);
          expect(await tx.insertCsipEvent(ev('e4', 'disconnected', 999, csiB), 5)).toBe(true);
        });
        await write(async (tx) => {
          expect(await tx.csipCutoff(csiA)).toBe(300);
          expect(await tx.csipCutoff(csiB)).toBe(999);
          expect(await tx.csipCutoff(csiC)).toBeNull();
        });
      });
    });

    describe('private index', () => {
      it('keeps OPRF epochs and applies partial updates', async () => {
        await write(async (tx) => {
          await tx.insertOprfEpoch(epoch(2));
          await tx.insertOprfEpoch(epoch(1, { state: 'active', activatedAt: 150, minBucket: 3 }));
          await tx.updateOprfEpoch(2, { buildCursor: csiB, padTo: 16, minBucket: undefined });
        });
        const epochs = await store.oprfEpochs();
        expect(epochs).toEqual([
          epoch(1, { state: 'active', activatedAt: 150, minBucket: 3 }),
          epoch(2, { buildCursor: csiB, padTo: 16 }),
        ]);
        expect(epochs[0]!.sealedKey).toBeInstanceOf(Uint8Array);
        await write(async (tx) => {
          await tx.updateOprfEpoch(1, { state: 'retiring', retireAt: 900 });
          await tx.updateOprfEpoch(1, {});
          expect((await tx.oprfEpochs()).map((e) => [e.id, e.state, e.retireAt])).toEqual([
            [1, 'retiring', 900],
            [2, 'building', null],
          ]);
        });
      });

      it('puts, replaces and deletes entries; buckets are read by key range, framed as on the wire', async () => {
        const top = 0xffff_ffff;
        await write(async (tx) => {
          await tx.putPrivateEntry(1, { bucketKey: 0x1000_0000, tag: tag(2), payload: view(1, 1) }, 10);
          await tx.putPrivateEntry(1, { bucketKey: 0x1000_0000, tag: tag(1), payload: view(2, 2) }, 10);
          await tx.putPrivateEntry(1, { bucketKey: top, tag: tag(3), payload: bytes(3, 3, 3) }, 10);
          await tx.putPrivateEntry(2, { bucketKey: 0x1000_0000, tag: tag(9), payload: bytes(9) }, 10);
          // Same tag again: replaced, not added.
          await tx.putPrivateEntry(1, { bucketKey: 0x1000_0000, tag: tag(2), payload: bytes(7, 7) }, 11);
        });
        const bucket = await store.privateBucket(1, 0x1000_0000, 0x1fff_ffff);
        // Byte for byte the wire framing: tag | u16 length | payload, in any order.
        expect(bucket.count).toBe(2);
        expect([...mergeFrames([bucket]).bytes]).toEqual([...tag(1), 0, 2, 2, 2, ...tag(2), 0, 2, 7, 7]);
        expect(entries(await store.privateBucket(1, top, top))).toEqual([
          [
            [3, 0],
            [3, 3, 3],
          ],
        ]);
        expect(await store.privateBucket(1, 0, 0x0fff_ffff)).toEqual({ count: 0, bytes: new Uint8Array(0) });
        await write((tx) => tx.deletePrivateEntry(1, { bucketKey: 0x1000_0000, tag: tag(1) }));
        // A range over several bucket keys is one run.
        await write((tx) =>
          tx.putPrivateEntry(1, { bucketKey: 0x2000_0000, tag: tag(0, 9), payload: bytes(5) }, 12),
        );
        expect(byTag(await store.privateBucket(1, 0, top))).toEqual([
          [[0, 9], [5]],
          [
            [2, 0],
            [7, 7],
          ],
          [
            [3, 0],
            [3, 3, 3],
          ],
        ]);
      });

      it('reports counts per bucket and the modal payload length', async () => {
        await write(async (tx) => {
          await tx.putPrivateEntry(5, { bucketKey: 0x0000_0001, tag: tag(1), payload: bytes(1, 1) }, 1);
          await tx.putPrivateEntry(5, { bucketKey: 0x4000_0000, tag: tag(2), payload: bytes(1, 1) }, 1);
          await tx.putPrivateEntry(5, { bucketKey: 0x7fff_ffff, tag: tag(3), payload: bytes(1, 1, 1) }, 1);
          await tx.putPrivateEntry(5, { bucketKey: 0xffff_ffff, tag: tag(4), payload: bytes(1, 1, 1) }, 1);
          await tx.putPrivateEntry(5, { bucketKey: 0xc000_0000, tag: tag(5), payload: bytes(1) }, 1);
        });
        // Two modal lengths (2 and 3, twice each): the shorter wins.
        expect(await store.privateIndexStats(5, 2)).toEqual({ counts: [1, 2, 0, 2], modalPayloadLength: 2 });
        expect(await store.privateIndexStats(6, 1)).toEqual({ counts: [0, 0], modalPayloadLength: 0 });
      });

      it('drops a retired epoch in batches', async () => {
        await write(async (tx) => {
          for (let i = 0; i < 7; i++)
            await tx.putPrivateEntry(3, { bucketKey: i, tag: tag(i), payload: bytes(i) }, 1);
          await tx.putPrivateEntry(4, { bucketKey: 1, tag: tag(1), payload: bytes(1) }, 1);
        });
        expect(await write((tx) => tx.dropPrivateEntries(3, 5))).toBe(5);
        expect(await write((tx) => tx.dropPrivateEntries(3, 5))).toBe(2);
        expect(await write((tx) => tx.dropPrivateEntries(3, 5))).toBe(0);
        expect((await store.privateBucket(4, 0, 10)).count).toBe(1);
      });

      it('lists served CSIs after a cursor, in order, and CSIs expiring in a window', async () => {
        await write(async (tx) => {
          await tx.insertMapping(mapping({ csi: 'tel:+3', expiresAt: 300 }));
          await tx.insertMapping(mapping({ csi: 'tel:+1', expiresAt: 100 }));
          await tx.insertMapping(mapping({ csi: 'tel:+1', expiresAt: 500, tag: 'w' }));
          await tx.insertMapping(mapping({ csi: 'mailto:a@b.example', expiresAt: 400 }));
          await tx.insertMapping(mapping({ csi: 'tel:+2', expiresAt: 400, state: 'contested' }));
          await tx.insertMapping(mapping({ csi: 'Tel:+0', expiresAt: 400 }));
        });
        await write(async (tx) => {
          // Bytewise order, whatever the database's locale: 'T' < 'm' < 't'.
          expect(await tx.servedCsisAfter(null, 10, 150)).toEqual([
            'Tel:+0',
            'mailto:a@b.example',
            'tel:+1',
            'tel:+3',
          ]);
          expect(await tx.servedCsisAfter('mailto:a@b.example', 1, 150)).toEqual(['tel:+1']);
          expect(await tx.servedCsisAfter(null, 10, 350)).toEqual(['Tel:+0', 'mailto:a@b.example', 'tel:+1']);
          expect((await tx.csisExpiringBetween(100, 400)).sort()).toEqual([
            'Tel:+0',
            'mailto:a@b.example',
            'tel:+3',
          ]);
          expect(await tx.csisExpiringBetween(99, 100)).toEqual(['tel:+1']);
        });
      });
    });

    describe('transparency log', () => {
      it('appends leaves, subtrees and the head; reads them back', async () => {
        expect(await store.logHead()).toEqual({ size: 0, edge: [] });
        await write(async (tx) => {
          expect(await tx.logHead()).toEqual({ size: 0, edge: [] });
          await tx.appendLog(
            [
              { index: 0, data: view(10), hash: hash(0), time: 5 },
              { index: 1, data: bytes(11), hash: hash(1), time: 6 },
              { index: 2, data: bytes(12), hash: hash(2), time: 7 },
            ],
            [{ level: 1, index: 0, hash: hash(0xa0) }],
            { size: 3, edge: [hash(0xa0), hash(2)] },
          );
        });
        expect(await store.logHead()).toEqual({ size: 3, edge: [hash(0xa0), hash(2)] });
        expect(await store.logLeaves(1, 10)).toEqual([
          { index: 1, data: bytes(11), hash: hash(1), time: 6 },
          { index: 2, data: bytes(12), hash: hash(2), time: 7 },
        ]);
        expect((await store.logLeaves(0, 1))[0]!.data).toEqual(bytes(10));
        // By index, in one read: any order, past the end absent.
        const at = await store.logLeavesAt([2, 9, 0]);
        expect(at.sort((a, b) => a.index - b.index)).toEqual([
          { index: 0, data: bytes(10), hash: hash(0), time: 5 },
          { index: 2, data: bytes(12), hash: hash(2), time: 7 },
        ]);
        expect(await store.logLeavesAt([])).toEqual([]);
        expect(await store.logLeafIndex(hash(2))).toBe(2);
        expect(await store.logLeafIndex(hash(9))).toBeUndefined();
        expect(
          await store.logSubtrees([
            [0, 2],
            [2, 3],
          ]),
        ).toEqual([hash(0xa0), hash(2)]);
        await expect(store.logSubtrees([[0, 4]])).rejects.toThrow(RangeError);
        // A second append continues from the head the first left.
        await write(async (tx) => {
          const head = await tx.logHead();
          await tx.appendLog(
            [{ index: head.size, data: bytes(13), hash: hash(3), time: 8 }],
            [
              { level: 1, index: 1, hash: hash(0xa1) },
              { level: 2, index: 0, hash: hash(0xb0) },
            ],
            { size: 4, edge: [hash(0xb0)] },
          );
        });
        expect(await store.logSubtrees([[0, 4]])).toEqual([hash(0xb0)]);
      });

      it('keeps checkpoints with their cosignatures', async () => {
        const cp = (size: number) => ({
          size,
          rootHash: hash(size),
          note: `note ${size}\n`,
          createdAt: 100 + size,
        });
        expect(await store.latestCheckpoint()).toBeUndefined();
        await write(async (tx) => {
          expect(await tx.insertCheckpoint(cp(1))).toBe(true);
          expect(await tx.insertCheckpoint(cp(1))).toBe(false);
          expect(await tx.insertCheckpoint(cp(3))).toBe(true);
          await tx.addCosignature(1, 'w2', '— w2 sig', 20);
          await tx.addCosignature(1, 'w1', '— w1 sig', 10);
          await tx.addCosignature(1, 'w2', '— w2 sig again', 30);
        });
        expect(await store.latestCheckpoint()).toEqual({ ...cp(3), cosignatures: [] });
        expect(await store.latestCosignedCheckpoint()).toEqual({
          ...cp(1),
          cosignatures: ['— w1 sig', '— w2 sig again'],
        });
        expect(await store.checkpointAt(3)).toEqual({ ...cp(3), cosignatures: [] });
        expect(await store.checkpointAt(2)).toBeUndefined();
      });

      it("remembers each peer's witnessed checkpoint and records forks", async () => {
        const row = (dp: string, size: number) => ({
          dp,
          size,
          rootHash: hash(size),
          note: 'n',
          seenAt: size * 10,
        });
        await write(async (tx) => {
          expect(await tx.witnessed('dp2')).toBeUndefined();
          await tx.setWitnessed(row('dp2', 5));
          await tx.setWitnessed(row('dp1', 2));
          await tx.setWitnessed(row('dp2', 8));
          expect(await tx.witnessed('dp2')).toEqual(row('dp2', 8));
          await tx.insertLogFork({ dp: 'dp2', detectedAt: 9, reason: 'inconsistent', evidence: '{"a":1}' });
          await tx.insertLogFork({ dp: 'dp3', detectedAt: 10, reason: 'rollback', evidence: '{}' });
        });
        expect(await store.witnessedLogs()).toEqual([row('dp1', 2), row('dp2', 8)]);
        const forks = await store.logForks();
        expect(forks.map(({ id: _, ...f }) => f)).toEqual([
          { dp: 'dp2', detectedAt: 9, reason: 'inconsistent', evidence: '{"a":1}' },
          { dp: 'dp3', detectedAt: 10, reason: 'rollback', evidence: '{}' },
        ]);
        expect(forks[0]!.id).toBeLessThan(forks[1]!.id);
      });
    });

    describe('transactions', () => {
      it('a write that throws leaves nothing behind, and its error reaches the caller', async () => {
        const kept = mapping({ csi: csiB });
        await write((tx) => tx.insertMapping(kept));
        const now = Math.floor(Date.now() / 1000);
        const undone = mapping();
        const boom = new Error('boom');
        await expect(
          write(async (tx) => {
            await tx.insertMapping(undone);
            await tx.setState([kept.id], 'invalidated', 5);
            await tx.insertHolderKey({ csi: csiA, key: 'k', group: 'k', retired: false });
            await tx.rememberRequest('req', now + 60);
            await tx.enqueue([{ target: 'dp2', eventId: 'e', body: 'b' }], 1);
            await tx.insertCsipEvent({ id: 'ev', csi: csiA, kind: 'disconnected', at: 1, json: '{}' }, 1);
            await tx.insertOprfEpoch(epoch(1));
            await tx.putPrivateEntry(1, { bucketKey: 1, tag: tag(1), payload: bytes(1) }, 1);
            await tx.insertChallenge({
              id: 'c',
              csi: csiA,
              holderKey: 'k',
              method: 'sms-otp',
              codeHash: 'h',
              createdAt: 1,
              expiresAt: 2,
              attempts: 0,
              state: 'pending',
            });
            await tx.appendLog([{ index: 0, data: bytes(1), hash: hash(1), time: 1 }], [], {
              size: 1,
              edge: [hash(1)],
            });
            await tx.insertCheckpoint({ size: 1, rootHash: hash(1), note: 'n', createdAt: 1 });
            await tx.setWitnessed({ dp: 'dp2', size: 1, rootHash: hash(1), note: 'n', seenAt: 1 });
            await tx.insertLogFork({ dp: 'dp2', detectedAt: 1, reason: 'r', evidence: '{}' });
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await store.mapping(undone.id)).toBeUndefined();
        expect(await store.mapping(kept.id)).toEqual(kept);
        expect(await store.stats()).toEqual({ mappings: 1, active: 1 });
        expect(await store.outboxDepth()).toEqual({});
        expect(await store.oprfEpochs()).toEqual([]);
        expect((await store.privateBucket(1, 0, 10)).count).toBe(0);
        expect(await store.logHead()).toEqual({ size: 0, edge: [] });
        expect(await store.latestCheckpoint()).toBeUndefined();
        expect(await store.witnessedLogs()).toEqual([]);
        expect(await store.logForks()).toEqual([]);
        await write(async (tx) => {
          expect(await tx.holderKey(csiA, 'k')).toBeUndefined();
          expect(await tx.csipCutoff(csiA)).toBeNull();
          expect(await tx.challenge('c')).toBeUndefined();
          expect(await tx.rememberRequest('req', now + 60)).toBe(true);
        });
      });

      it('a failed write does not disturb writes before or after it', async () => {
        const a = mapping();
        const b = mapping();
        const results = await Promise.allSettled([
          write((tx) => tx.insertMapping(a)),
          write(async () => {
            throw new Error('no');
          }),
          write((tx) => tx.insertMapping(b)),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect((await store.stats()).mappings).toBe(2);
      });

      it('reads outside a write see committed state only', async () => {
        const m = mapping();
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let inserted!: () => void;
        const wasInserted = new Promise<void>((r) => {
          inserted = r;
        });
        const pending = write(async (tx) => {
          await tx.insertMapping(m);
          inserted();
          await gate;
        });
        await wasInserted;
        expect(await store.mapping(m.id)).toBeUndefined();
        expect((await store.activeMappings([m.csi], 0)).get(m.csi)).toEqual([]);
        release();
        await pending;
        expect(await store.mapping(m.id)).toEqual(m);
      });
    });
  });
}
