import { importPublicKey } from '../crypto/keys.js';
import { logOrigin, witnessName } from '../protocol/transparency.js';
import type { NoteVerifier } from '../tlog/checkpoint.js';
import { DpKeyUsage, type Registry } from './document.js';

/** The log keys of `dp` in the registry as note verifiers of its checkpoints (key name = log origin). */
export function logVerifiers(registry: Registry, dp: string): NoteVerifier[] {
  const name = logOrigin(registry.doc.federation, dp);
  return registry.dpKeys(dp, DpKeyUsage.Log).map((k) => ({ name, publicKey: importPublicKey(k) }));
}

/** The registry's other DPs, by their log keys, as cosigners (C2SP tlog-cosignature), optionally only those in `only`. */
export function witnessVerifiers(
  registry: Registry,
  logDp: string,
  only?: readonly string[],
): NoteVerifier[] {
  return registry
    .allDps()
    .filter((d) => d.id !== logDp && (only === undefined || only.includes(d.id)))
    .flatMap((d) =>
      d.keys.log.map((k) => ({
        name: witnessName(registry.doc.federation, d.id),
        publicKey: importPublicKey(k),
      })),
    );
}
