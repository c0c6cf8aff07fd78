import { KeyedPseudonyms } from '../dp/log-pseudonym.js';
import { TransparencyLog } from '../dp/transparency-log.js';
import { PeerProofs, Witness } from '../federation/witness.js';
import { logOrigin } from '../protocol/transparency.js';
import type { RegistrySource } from '../registry/source.js';
import { type Budgets, budgetLimiter, type RateLimiter } from '../store/rate-limit.js';
import type { Store } from '../store/store.js';
import type { LoadedConfig } from './config.js';
import type { DpKeys } from './dp-keys.js';
import { besideDpKey, readOrCreateSecretFile } from './secret-file.js';

/** The transparency log of a node, its witness of peers, and the limit on public log reads. */
export interface Transparency {
  log: TransparencyLog;
  witness: Witness | undefined;
  /** Proofs of foreign copies, from the peers that logged them. */
  peerProofs: PeerProofs;
  /** R28: the log's pseudonyms (HMAC under the DP's log-pseudonym secret), told only to holders. */
  keyed: KeyedPseudonyms;
  reads: RateLimiter;
  settings: { checkpointIntervalMs: number; witnessIntervalMs: number | null; requestsPerMinute: number };
  close(): Promise<void>;
}

/** Builds the log (undefined when `log.enabled` is false); open() and start() are the caller's. */
export function createTransparency(
  loaded: LoadedConfig,
  deps: {
    store: Store;
    dpKeys: DpKeys;
    registry: RegistrySource;
    /** R22: public log reads counted in Redis, shared by the DP's nodes, when configured. */
    budgets?: Budgets;
    now: () => number;
  },
): Transparency | undefined {
  const { config } = loaded;
  const c = config.log ?? {};
  const settings = loaded.resolved.log;
  if (!settings.enabled) return undefined;
  const keyFile =
    c.pseudonymKeyFile === undefined
      ? besideDpKey(loaded, 'log-pseudonym.key')
      : loaded.path(c.pseudonymKeyFile);
  // R28: a DP secret shared by its nodes, never derived from anything a third party can evaluate
  // (the OPRF key would let the anonymous tier follow any known number through the log).
  const keyed = new KeyedPseudonyms(readOrCreateSecretFile(keyFile, 'log.pseudonymKeyFile'));
  const origin = logOrigin(deps.registry.current().doc.federation, config.dp.id);
  const { checkpointIntervalMs, witnessIntervalMs, requestsPerMinute } = settings;
  const log = new TransparencyLog({
    store: deps.store,
    origin,
    signer: { name: origin, privateKey: deps.dpKeys.log.privateKey },
    pseudonyms: keyed,
    checkpointIntervalMs,
    subtreeCacheBytes: settings.subtreeCacheBytes,
    proofCacheBytes: settings.proofCacheBytes,
    now: deps.now,
  });
  const witness =
    witnessIntervalMs === null
      ? undefined
      : new Witness({
          store: deps.store,
          registry: () => deps.registry.current(),
          self: { id: config.dp.id, key: deps.dpKeys.transport.privateKey },
          cosignKey: deps.dpKeys.log.privateKey,
          intervalMs: witnessIntervalMs,
          timeoutMs: loaded.resolved.federation.logCallTimeoutMs,
          now: deps.now,
        });
  return {
    log,
    witness,
    peerProofs: new PeerProofs({
      registry: () => deps.registry.current(),
      self: { id: config.dp.id, key: deps.dpKeys.transport.privateKey },
      timeoutMs: loaded.resolved.federation.logCallTimeoutMs,
      now: deps.now,
    }),
    keyed,
    reads: budgetLimiter(deps.budgets ?? {}, 'log-reads', { points: requestsPerMinute, perSeconds: 60 }),
    settings: { checkpointIntervalMs, witnessIntervalMs, requestsPerMinute },
    async close() {
      await witness?.close();
      await log.close();
    },
  };
}
