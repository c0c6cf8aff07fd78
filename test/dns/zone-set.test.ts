import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { ZoneSet } from '../../src/dns/zone-set.js';
import { lookupLocal } from '../../src/dp/lookup.js';
import { discoveryName } from '../../src/protocol/dns-names.js';
import { configDefaults } from '../../src/server/config.js';
import type { Store } from '../../src/store/store.js';
import { Federation } from '../support/federation.js';
import { storeBackends } from '../support/stores.js';

/**
 * R29: the zones a node holds come from its served native mappings, on every store backend: only
 * `mimi:` identifiers of the zone's domains, only what the DP serves (R17: no contested holder),
 * and the serial moves on exactly when the records change. A DP answers the same identifiers.
 */
for (const backend of storeBackends()) {
  describe.skipIf(!backend.available)(`native zones from the store (${backend.name})`, () => {
    let fed: Federation | undefined;
    afterEach(async () => {
      await fed?.close();
      fed = undefined;
    });

    async function open(): Promise<Federation> {
      const store: Store = await backend.open();
      fed = new Federation({}, 3600, store);
      return fed;
    }

    const settings = [
      { ...configDefaults.dns.zone, name: 'example.net', nameServers: [{ name: 'ns1.example.net' }] },
      {
        ...configDefaults.dns.zone,
        name: '_mimi-discovery.other.example',
        nameServers: [{ name: 'ns1.other.example' }],
      },
    ];

    it("holds the zone's native identifiers only, and moves the serial on only when they change", async () => {
      const f = await open();
      const alice = generateKeyPair();
      await f.dp.accept(f.submission('mimi:alice@example.net', alice, { user: 'alice' }));
      await f.dp.accept(f.submission('mimi:bob@other.example', generateKeyPair(), { user: 'bob' }));
      await f.dp.accept(f.submission('mimi:carol@elsewhere.example', generateKeyPair(), { user: 'carol' }));
      await f.dp.accept(f.submission('mailto:alice@example.net', generateKeyPair(), { user: 'alice2' }));
      await f.dp.accept(f.submission('tel:+14155550101', generateKeyPair(), { user: 'dave' }));
      // A second holder of alice's identifier is contested, not served (R17), so not in DNS.
      await f.dp.accept(
        f.submission('mimi:alice@example.net', generateKeyPair(), { msp: 'msp2', user: 'eve' }),
      );
      const zones = new ZoneSet({ store: f.store, zones: settings, now: f.clock.now, refreshMs: 1000 });
      await zones.refresh();
      const [apex, delegated] = zones.zones();
      const owners = (z: typeof apex) => [
        ...new Set(
          z!
            .records()
            .filter((r) => r.type === 'TXT')
            .map((r) => r.name),
        ),
      ];
      expect(owners(apex)).toEqual([discoveryName('mimi:alice@example.net')]);
      expect(apex!.lookup(discoveryName('mimi:alice@example.net'), 'URI').answers).toHaveLength(1);
      expect(owners(delegated)).toEqual([discoveryName('mimi:bob@other.example')]);
      expect(zones.find(discoveryName('mimi:bob@other.example'))?.name).toBe('_mimi-discovery.other.example');
      expect(zones.find('carol.elsewhere.example')).toBeUndefined();

      const serial = apex!.serial;
      expect(await zones.refresh()).toBe(false);
      expect(zones.zones()[0]!.serial).toBe(serial);
      const inv = {
        v: 1 as const,
        csi: 'mimi:alice@example.net',
        holderKey: alice.publicKey,
        target: null,
        issuedAt: f.clock.now(),
      };
      await f.dp.invalidate({ ...inv, sig: signObject(SignPurpose.Invalidation, inv, alice.privateKey) });
      expect(await zones.refresh()).toBe(true);
      expect(zones.zones()[0]!.serial).toBeGreaterThan(serial);
      expect(zones.zones()[1]!.serial).toBe(delegated!.serial);
    });

    it('a DP answers a native identifier from its store like any CSI', async () => {
      const f = await open();
      await f.dp.accept(f.submission('mimi:alice@example.net', generateKeyPair(), { user: 'alice' }));
      const [r] = await lookupLocal(f.store, ['mimi:Alice@Example.net'], {
        format: 'verbose',
        maxBatch: 10,
        now: f.clock.now(),
      });
      expect(r).toMatchObject({ csi: 'mimi:alice@example.net', status: 'one' });
    });

    it('lists every identifier past one page of the store', async () => {
      const f = await open();
      const m = (await f.dp.accept(f.submission('mimi:u0@example.net', generateKeyPair(), { user: 'u0' })))
        .mapping;
      // Rows written straight into the store (signatures are not what is tested here).
      await f.store.write(async (tx) => {
        const row = (await tx.liveMappings('mimi:u0@example.net'))[0]!;
        for (let i = 1; i < 1205; i++) {
          const csi = `mimi:u${i}@example.net`;
          await tx.insertMapping({
            ...row,
            id: `${row.id.slice(0, 36)}${String(i).padStart(7, '0')}`,
            csi,
            bodyDigest: `${row.bodyDigest.slice(0, 36)}${String(i).padStart(7, '0')}`,
            json: JSON.stringify({ ...m, body: { ...m.body, csi } }),
          });
        }
      });
      const zones = new ZoneSet({ store: f.store, zones: [settings[0]!], now: f.clock.now, refreshMs: 1000 });
      await zones.refresh();
      expect(
        zones
          .zones()[0]!
          .records()
          .filter((r) => r.type === 'TXT'),
      ).toHaveLength(1205);
    });
  });
}
