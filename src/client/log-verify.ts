import { fromB64u, toB64u } from '../protocol/encoding.js';
import { type ErrorCode, MimiError } from '../protocol/errors.js';
import type { EpochInfo } from '../protocol/private.js';
import type { Mapping } from '../protocol/records.js';
import { logOrigin, type MappingLogProof } from '../protocol/transparency.js';
import type { Registry } from '../registry/document.js';
import { logVerifiers, witnessVerifiers } from '../registry/log-keys.js';
import type { TrustPolicy } from '../registry/policy.js';
import { type Checkpoint, openCheckpoint } from '../tlog/checkpoint.js';
import { verifyCosignatures } from '../tlog/cosignature.js';
import { isTlogError, type TlogError } from '../tlog/errors.js';
import { decodeLeaf, LogLeafKind, mappingLeafKinds, oprfKeyCommitment } from '../tlog/leaf.js';
import { leafHash, verifyInclusion } from '../tlog/merkle.js';
import { type RegistryInput, registryGetter } from './registry-input.js';

/**
 * Runs one tlog check on what a DP sent. Its TlogError (the DP's text or proof did not verify)
 * becomes the SDK's code for that check (docs/spec/errors.md), with the TlogError as its cause.
 */
function tlogCheck<T>(code: ErrorCode, why: (err: TlogError) => string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isTlogError(err)) throw new MimiError(code, why(err), undefined, { cause: err });
    throw err;
  }
}

/**
 * Opens a DP's signed checkpoint against the registry (R3): its signature by one of the DP's keys,
 * its origin, and at least `minCosignatures` witness cosignatures (C2SP tlog-cosignature).
 *
 * @throws {MimiError} `log-checkpoint-invalid` or `log-cosignatures-missing`.
 * @example
 * const { checkpoint, cosignedBy } = openDpCheckpoint(note, { dp: 'dp1', registry, policy: { minCosignatures: 1 } });
 */
export function openDpCheckpoint(
  note: string,
  opts: {
    /** The DP whose log the checkpoint is of. */
    dp: string;
    registry: RegistryInput;
    policy?: Pick<TrustPolicy, 'minCosignatures' | 'witnesses'>;
  },
): { checkpoint: Checkpoint; cosignedBy: string[] } {
  const { dp, policy = {} } = opts;
  const registry = registryGetter(opts.registry)();
  const { checkpoint, cosignedBy } = tlogCheck(
    'log-checkpoint-invalid',
    (err) => `checkpoint of ${dp}: ${err.code}`,
    () => ({
      checkpoint: openCheckpoint(note, logVerifiers(registry, dp), {
        origin: logOrigin(registry.doc.federation, dp),
      }).checkpoint,
      cosignedBy: verifyCosignatures(note, witnessVerifiers(registry, dp, policy.witnesses)).map(
        (c) => c.name,
      ),
    }),
  );
  const need = policy.minCosignatures ?? 0;
  if (cosignedBy.length < need) {
    throw new MimiError(
      'log-cosignatures-missing',
      `the checkpoint of ${dp} carries ${cosignedBy.length} witness cosignatures, policy needs ${need}`,
    );
  }
  return { checkpoint, cosignedBy };
}

/**
 * R3: checks that a mapping is in the transparency log of the DP that accepted it: the leaf
 * commits to exactly this mapping (its id) at `mapping.logIndex`, and the audit path leads to the
 * root of a checkpoint signed by that DP's registry key (with the cosignatures the policy asks for).
 * Strict by default: a mapping without a proof fails unless the policy says `allowUnlogged`.
 *
 * @throws {MimiError} `log-proof-missing`, `log-proof-invalid`, `log-checkpoint-invalid`,
 *   `log-cosignatures-missing`.
 * @example
 * verifyMappingLogged({ id, mapping, log }, { registry }); // one mapping of a verbose answer
 */
export function verifyMappingLogged(
  entry: { mapping: Mapping; id: string; log?: MappingLogProof | undefined },
  ctx: { registry: RegistryInput; policy?: TrustPolicy; opened?: Map<string, Checkpoint> },
): void {
  const { mapping, id, log } = entry;
  const policy = ctx.policy ?? {};
  if (log === undefined || mapping.logIndex === null) {
    if (policy.allowUnlogged) return;
    throw new MimiError('log-proof-missing', `mapping ${id} comes without a transparency-log proof`);
  }
  // `opened`: checkpoints already opened for this DP (one answer's mappings share a few).
  const memo = `${mapping.dp}\n${log.checkpoint}`;
  let checkpoint = ctx.opened?.get(memo);
  if (checkpoint === undefined) {
    checkpoint = openDpCheckpoint(log.checkpoint, {
      dp: mapping.dp,
      registry: ctx.registry,
      policy,
    }).checkpoint;
    ctx.opened?.set(memo, checkpoint);
  }
  const invalid = (why: string) => new MimiError('log-proof-invalid', `mapping ${id}: ${why}`);
  let bytes: Uint8Array;
  let proof: Uint8Array[];
  try {
    bytes = fromB64u(log.leaf, 'log.leaf');
    proof = log.proof.map((p, i) => fromB64u(p, `log.proof[${i}]`, 32));
  } catch {
    throw invalid('the proof is not base64url');
  }
  let leaf: ReturnType<typeof decodeLeaf>;
  try {
    leaf = decodeLeaf(bytes);
  } catch {
    throw invalid('the leaf is malformed');
  }
  if (!mappingLeafKinds.includes(leaf.kind) || leaf.commitment !== id) {
    throw invalid('the leaf does not commit to this mapping');
  }
  const index = mapping.logIndex;
  tlogCheck(
    'log-proof-invalid',
    () => `mapping ${id}: the inclusion proof does not verify`,
    () => verifyInclusion(leafHash(bytes), index, checkpoint.size, proof, checkpoint.rootHash),
  );
}

/**
 * R9, R26: checks that an epoch's public key is the one the DP committed in its transparency log
 * for that epoch: an `oprf-key` leaf for this epoch id whose commitment is over this key, included
 * at `keyLog.index` in a checkpoint signed by the DP's registry key (with the cosignatures the
 * policy asks for). A DP that evaluates one client under a key of its own (a per-client key, which
 * would let it tell that client's lookups apart) must then log that key for the epoch too, where
 * every client and monitor sees it. Without a log the key is refused unless `allowUnlogged`.
 *
 * @throws {MimiError} `oprf-key-unlogged`, `log-checkpoint-invalid`, `log-cosignatures-missing`.
 */
export function verifyEpochKeyLogged(
  epoch: EpochInfo,
  dp: string,
  ctx: { registry: Registry; policy: TrustPolicy },
): void {
  const unlogged = (why: string) =>
    new MimiError('oprf-key-unlogged', `the key of epoch ${epoch.id} of ${dp}: ${why}`);
  const log = epoch.keyLog;
  if (log === undefined) {
    if (ctx.policy.allowUnlogged) return;
    throw unlogged('no transparency-log proof');
  }
  const { checkpoint } = openDpCheckpoint(log.checkpoint, { dp, registry: ctx.registry, policy: ctx.policy });
  let bytes: Uint8Array;
  let proof: Uint8Array[];
  let publicKey: Uint8Array;
  let leaf: ReturnType<typeof decodeLeaf>;
  try {
    bytes = fromB64u(log.leaf, 'keyLog.leaf');
    proof = log.proof.map((p, i) => fromB64u(p, `keyLog.proof[${i}]`, 32));
    publicKey = fromB64u(epoch.publicKey, 'publicKey', 32);
    leaf = decodeLeaf(bytes);
  } catch {
    throw unlogged('the proof is malformed');
  }
  if (
    leaf.kind !== LogLeafKind.OprfKey ||
    leaf.epoch !== epoch.id ||
    leaf.commitment !== toB64u(oprfKeyCommitment(epoch.id, publicKey))
  ) {
    throw unlogged('the leaf does not commit to this key for this epoch');
  }
  tlogCheck(
    'oprf-key-unlogged',
    () => `the key of epoch ${epoch.id} of ${dp}: the inclusion proof does not verify`,
    () => verifyInclusion(leafHash(bytes), log.index, checkpoint.size, proof, checkpoint.rootHash),
  );
}
