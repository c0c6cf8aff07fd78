import type { KeyPair } from '../crypto/keys.js';
import { MimiError } from '../protocol/errors.js';
import { type DpKeyUsage, dpKeyUsages, type Registry } from '../registry/document.js';
import type { LoadedConfig } from './config.js';

/**
 * The DP's signing keys, one per registry usage (docs/spec/registry.md §8.1.1): `records` signs
 * mappings (dpSig) and acceptance receipts, `transport` RFC 9421 peer requests, MSP notices and the
 * sessions it opens at peers, `log` its checkpoints and the cosignatures it makes as a witness.
 */
export type DpKeys = Readonly<Record<DpKeyUsage, KeyPair>>;

/**
 * Reads `dp.keyFiles` (or, under a version 1 registry, the one `dp.keyFile` for every usage) and
 * checks each key is one the registry lists for the DP's usage: a node never signs with a key
 * that its peers and clients would refuse for that usage.
 */
export function readDpKeys(
  loaded: LoadedConfig,
  registry: Registry,
  readKeyFile: (path: string, setting: string) => KeyPair,
): DpKeys {
  const { dp } = loaded.config;
  const one = dp.keyFile === undefined ? undefined : readKeyFile(loaded.path(dp.keyFile), 'dp.keyFile');
  const keys = Object.fromEntries(
    dpKeyUsages.map((usage) => {
      const setting = one === undefined ? `dp.keyFiles.${usage}` : 'dp.keyFile';
      const pair = one ?? readKeyFile(loaded.path(dp.keyFiles![usage]), setting);
      if (!registry.dpKeys(dp.id, usage).includes(pair.publicKey)) {
        throw new MimiError(
          'config-invalid',
          one !== undefined && registry.doc.v !== 1
            ? `dp.keyFile: the registry lists ${dp.id}'s keys per usage; give dp.keyFiles (records, transport, log)`
            : `${setting}: this key is not among ${dp.id}'s ${usage} keys in the registry`,
        );
      }
      return [usage, pair];
    }),
  ) as Record<DpKeyUsage, KeyPair>;
  return keys;
}
