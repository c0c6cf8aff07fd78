import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifiedResult } from '../../src/client/lookup-client.js';
import { MemoryOprfCache } from '../../src/client/oprf-cache.js';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { createSodiumOprfClient, type OprfClientEngine } from '../../src/crypto/oprf-client-sodium.js';
import type { EpochsAnswer } from '../../src/protocol/private.js';
import { Condition } from '../support/condition.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R9, R22: the OPRF key rotates while lookups run. The new index is built in the background in
 * small batches, both epochs serve during the changeover, no lookup fails, and afterwards the old
 * epoch's key and entries are gone.
 */
describe('key rotation under concurrent lookups', () => {
  let net: RunningDevnet;
  let oprf: OprfClientEngine;
  const csis = Array.from({ length: 20 }, (_, i) => `tel:+1415555${String(300 + i).padStart(4, '0')}`);
  const late = 'tel:+14155550399';
  let expected: VerifiedResult[];

  async function publish(csi: string): Promise<void> {
    const msp1 = net.msp('msp1');
    const h = net.holder();
    const att = await net.prove(h, csi);
    await msp1.submit(
      await msp1.confirm(
        h.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/${csi.slice(5)}`, attestation: att }),
      ),
    );
  }

  const client = (cache = new MemoryOprfCache()) =>
    new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      oprf,
      cache,
      now: net.clock.now,
    });

  async function epochs(): Promise<EpochsAnswer> {
    return (await (await fetch(`${net.url}/v1/private/epochs`)).json()) as EpochsAnswer;
  }

  beforeAll(async () => {
    oprf = await createSodiumOprfClient();
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.privateLookup = { kAnonymity: 2, buildBatch: 2, overlapSeconds: 60, rotationSeconds: 3600 };
        },
      },
    );
    for (const csi of csis) await publish(csi);
    expected = await net.msp('msp3').lookup(csis);
  });
  afterAll(async () => {
    await net.close();
  });

  it('no lookup fails through build, changeover and retirement; the old epoch is gone afterwards', async () => {
    const index = net.ctx.privateLookup!.index;
    const old = (await epochs()).current;
    const warm = client();
    await warm.lookup(csis);
    expect(warm.lastStats?.epochs).toEqual([old]);

    let stop = false;
    let lookups = 0;
    /** Lookups each loop has finished, failed or not. */
    const finished = [0, 0, 0, 0];
    const more = new Condition();
    const failures: unknown[] = [];
    const loop = async (shared: boolean, n: number) => {
      const mine = client();
      for (; !stop; finished[n] = (finished[n] ?? 0) + 1, more.changed()) {
        const pick = csis.filter(() => Math.random() < 0.4);
        try {
          const got = await (shared ? mine : client()).lookup(pick);
          const want = pick.map((c) => expected[csis.indexOf(c)]);
          if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(new Error('different answer'));
          lookups++;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const loops = [loop(true, 0), loop(false, 1), loop(true, 2), loop(false, 3)];

    // Rotate while a mapping is being published: the build must pick it up.
    const [next] = await Promise.all([index.rotate(), publish(late)]);
    expect(next).toBe(old + 1);
    const during = await epochs();
    expect(during.current).toBe(next);
    expect(during.epochs.map((e) => [e.id, e.state])).toEqual([
      [next, 'active'],
      [old, 'retiring'],
    ]);
    // A client whose outputs are from the retiring epoch still needs no evaluation.
    await warm.lookup(csis);
    expect(warm.lastStats).toMatchObject({ evaluated: 0, epochs: [old] });
    const [lateResult] = await client().lookup([late]);
    expect(lateResult?.status).toBe('one');

    net.clock.advance(61);
    expect(await index.retireDue()).toEqual([old]);
    // Every loop finishes two more lookups, so at least one begun after the retirement.
    const before = [...finished];
    await more.until(() => finished.every((n, i) => n >= before[i]! + 2), {
      timeoutMs: 30_000,
      what: 'two more lookups in every loop',
    });
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(lookups).toBeGreaterThan(10);

    // Retired: not served, not listed, key and entries deleted; old outputs are re-evaluated.
    expect((await epochs()).epochs.map((e) => e.id)).toEqual([next]);
    const res = await fetch(`${net.url}/v1/private/buckets/${old}/0`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('epoch-unknown');
    expect(await warm.lookup(csis)).toEqual(expected);
    expect(warm.lastStats).toMatchObject({ evaluated: csis.length, epochs: [next] });
    const db = new Database(join(net.layout.dir, 'dp1.db'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM private_index WHERE epoch = ?').get(old)).toEqual({ n: 0 });
    expect(db.prepare('SELECT state FROM oprf_epochs WHERE id = ?').get(old)).toEqual({ state: 'retired' });
    db.close();
  });

  it('the schedule: once rotationSeconds pass, the background tick rotates and later retires', async () => {
    const index = net.ctx.privateLookup!.index;
    const before = (await epochs()).current;
    await index.tick();
    expect((await epochs()).current).toBe(before);
    net.clock.advance(3600);
    await index.tick();
    const after = await epochs();
    expect(after.current).toBe(before + 1);
    expect(after.epochs.find((e) => e.id === before)?.state).toBe('retiring');
    expect(await client().lookup(csis.slice(0, 3))).toEqual(expected.slice(0, 3));
    net.clock.advance(61);
    await index.tick();
    expect((await epochs()).epochs.map((e) => e.id)).toEqual([before + 1]);
  });
});
