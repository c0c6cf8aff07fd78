import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { DiscoveryProvider } from '../../src/dp/provider.js';
import type { MappingSubmission } from '../../src/protocol/records.js';
import { Registry, signRegistry } from '../../src/registry/document.js';
import { configDefaults } from '../../src/server/config.js';
import type { Store } from '../../src/store/store.js';
import { Federation, freshDpKeys } from '../support/federation.js';
import { tempSqliteStore } from '../support/stores.js';

const csi = 'tel:+14155550177';

/**
 * R14, R19, R25: a holder's signed bodies are public (every lookup answer carries them, opt-outs
 * included) and `POST /v1/holder/opt-out` needs no session, so anyone who saw an old one can post
 * it again, at the DP that took it or at another DP of the federation. A body older than the
 * holder's newest live one for the CSI, or one the holder withdrew at this DP, is `record-stale`,
 * and nothing stored changes.
 */
describe('an old holder-signed body posted again, at the same DP or another (R14, R19, R25)', () => {
  let fed: Federation;
  let storeB: Store;
  let dpB: DiscoveryProvider;
  const bob = generateKeyPair();

  beforeEach(() => {
    fed = new Federation();
    storeB = tempSqliteStore();
    const dp2Key = generateKeyPair();
    const unsigned = {
      ...fed.unsigned,
      dps: [
        ...fed.unsigned.dps,
        {
          id: 'dp2',
          endpoint: 'https://dp2.example',
          keys: { ...freshDpKeys(), records: [dp2Key.publicKey] },
          region: 'eu',
          operator: 'Other DP Co',
          throughputClass: 'standard' as const,
        },
      ],
    };
    const registry = Registry.open(
      signRegistry(unsigned, fed.registryKey.privateKey),
      fed.registryKey.publicKey,
      {
        now: fed.clock.now(),
      },
    );
    dpB = new DiscoveryProvider({
      id: 'dp2',
      key: dp2Key,
      store: storeB,
      registry: () => registry,
      policy: {},
      contestWindowSeconds: configDefaults.policy.contestWindowSeconds,
      now: fed.clock.now,
    });
  });
  afterEach(async () => {
    await fed.close();
    await storeB.close();
  });

  const servedAt = async (store: Store) =>
    ((await store.activeMappings([csi], fed.clock.now())).get(csi) ?? []).map((m) => m.id);
  /** Posts `sub` to `dp` and expects record-stale with nothing stored changed. */
  const refusedStale = async (dp: DiscoveryProvider, store: Store, sub: MappingSubmission) => {
    const before = { served: await servedAt(store), stats: await store.stats() };
    await expect(dp.accept(sub)).rejects.toMatchObject({ code: 'record-stale' });
    expect({ served: await servedAt(store), stats: await store.stats() }).toEqual(before);
  };

  it("an old opt-out posted at another DP does not withdraw the holder's newer mapping there", async () => {
    const optOut = fed.submission(csi, bob, { msp: null });
    await fed.dp.accept(optOut); // dp1, public in its lookup answers from now on
    fed.clock.advance(60);
    const m = await dpB.accept(fed.submission(csi, bob)); // Bob comes back, at dp2
    await refusedStale(dpB, storeB, optOut);
    expect(await servedAt(storeB)).toEqual([m.id]);
  });

  it("an old opt-out posted again at the DP that took it does not withdraw the holder's newer mapping", async () => {
    const optOut = fed.submission(csi, bob, { msp: null });
    const o = await fed.dp.accept(optOut);
    fed.clock.advance(60);
    const m = await fed.dp.accept(fed.submission(csi, bob));
    expect((await fed.store.mapping(o.id))?.state).toBe('superseded');
    await refusedStale(fed.dp, fed.store, optOut);
    expect(await fed.served(csi)).toEqual([m.id]);
    // The same opt-out posted at a DP that holds a newer mapping too.
    await dpB.accept(fed.submission(csi, bob, { msp: 'msp2' }));
    await refusedStale(dpB, storeB, optOut);
  });

  it("an old mapping posted after the holder's opt-out does not withdraw the opt-out, here or at another DP", async () => {
    const old = fed.submission(csi, bob);
    const m = await fed.dp.accept(old);
    fed.clock.advance(60);
    const optOut = fed.submission(csi, bob, { msp: null });
    const oA = await fed.dp.accept(optOut);
    const oB = await dpB.accept(optOut);
    expect((await fed.store.mapping(m.id))?.state).toBe('superseded');
    await refusedStale(fed.dp, fed.store, old);
    await refusedStale(dpB, storeB, old);
    expect(await fed.served(csi)).toEqual([oA.id]);
    expect(await servedAt(storeB)).toEqual([oB.id]);
  });

  it('a replaced mapping posted again is refused, here and at a DP holding a newer one (R19 supersedes)', async () => {
    const first = fed.submission(csi, bob, { user: 'bob-old' });
    const a = await fed.dp.accept(first);
    fed.clock.advance(60);
    const b = await fed.dp.accept(fed.submission(csi, bob, { user: 'bob-new', supersedes: a.id }));
    await refusedStale(fed.dp, fed.store, first);
    expect(await fed.served(csi)).toEqual([b.id]);
    // At dp2 Bob has a newer mapping on another MSP: the old one would be served beside it.
    const c = await dpB.accept(fed.submission(csi, bob, { msp: 'msp2', tag: 'Work' }));
    await refusedStale(dpB, storeB, first);
    expect(await servedAt(storeB)).toEqual([c.id]);
  });

  it('an invalidated mapping posted again at the DP that took it stays withdrawn', async () => {
    const sub = fed.submission(csi, bob);
    const m = await fed.dp.accept(sub);
    fed.clock.advance(1);
    const unsigned = {
      v: 1 as const,
      csi,
      holderKey: bob.publicKey,
      target: m.id,
      issuedAt: fed.clock.now(),
    };
    await fed.dp.invalidate({
      ...unsigned,
      sig: signObject(SignPurpose.Invalidation, unsigned, bob.privateKey),
    });
    await refusedStale(fed.dp, fed.store, sub);
    expect(await fed.served(csi)).toEqual([]);
  });

  it('the holder is not held back: bodies of one second, a retry of a live body, and newer bodies are accepted', async () => {
    const m = fed.submission(csi, bob);
    const w = fed.submission(csi, bob, { msp: 'msp2', tag: 'Work' });
    const a = await fed.dp.accept(w); // signed in the same second as m, sent first
    const b = await fed.dp.accept(m);
    expect(await fed.dp.accept(m)).toMatchObject({ id: b.id, duplicate: true });
    fed.clock.advance(60);
    const o = await fed.dp.accept(fed.submission(csi, bob, { msp: null }));
    expect((await fed.store.mapping(a.id))?.state).toBe('superseded');
    expect(await fed.served(csi)).toEqual([o.id]);
  });
});
