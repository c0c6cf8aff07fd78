import { generateKeyPair } from '../../src/crypto/keys.js';
import { buildZone, type Zone } from '../../src/dns/zone.js';
import type { ZoneSet } from '../../src/dns/zone-set.js';
import type { Mapping } from '../../src/protocol/records.js';
import { configDefaults } from '../../src/server/config.js';
import { Federation } from '../../test/support/federation.js';

/**
 * A zone of `n` native identifiers `mimi:user<i>@bench.example` for the DNS bench: one genuine
 * signed mapping (made by the test federation) copied under each identifier, so every TXT record
 * has a real mapping's size. The responder and the export never verify, so the copies serve.
 */
export async function benchZone(n: number, serial = 1): Promise<Zone> {
  const fed = new Federation();
  try {
    const m = (
      await fed.dp.accept(fed.submission('mimi:user0@bench.example', generateKeyPair(), { user: 'u0' }))
    ).mapping;
    const mappings = new Map<string, Mapping[]>();
    for (let i = 0; i < n; i++) {
      const csi = `mimi:user${i}@bench.example`;
      mappings.set(csi, [{ ...m, body: { ...m.body, csi, ssi: `mimi://chat.example/u/user${i}` } }]);
    }
    return buildZone(
      {
        name: 'bench.example',
        nameServers: [{ name: 'ns1.bench.example', addresses: ['127.0.0.1'] }],
        ttl: 300,
        negativeTtl: configDefaults.dns.zone.negativeTtl,
      },
      mappings,
      serial,
    );
  } finally {
    await fed.close();
  }
}

/** A ZoneSet stand-in holding one fixed zone. */
export function fixedZones(zone: Zone): ZoneSet {
  return {
    find: (name: string) => (zone.contains(name) ? zone : undefined),
    zones: () => [zone],
  } as unknown as ZoneSet;
}
