import { createHmac } from 'node:crypto';
import { createOprfServer, type OprfServer, ready } from '../crypto/oprf-server.js';
import { OprfEpochState, type StoreTx } from '../store/store.js';
import { pseudonymFromOprfOutput } from '../tlog/leaf.js';
import { openKey } from './private-index.js';

/** A CSI's pseudonymous index in the transparency log, and the key epoch it was computed under. */
export interface LogPseudonym {
  /** OPRF key epoch; 0 for the DP's keyed hash. */
  epoch: number;
  pseudonym: Uint8Array;
}

/**
 * R28: the one place that turns a CSI into its log pseudonym. A holder recomputes it for their own
 * CSI (through the OPRF evaluation endpoint when the private lookup is on); nobody else can link a
 * pseudonym to a CSI without asking the DP, which rate-limits every evaluation (R22).
 */
export interface PseudonymSource {
  pseudonymFor(tx: StoreTx, csi: string): Promise<LogPseudonym>;
}

const label = 'mimi-discovery/v1/log-pseudonym\n';
const encoder = new TextEncoder();

/**
 * Without the private lookup: HMAC-SHA256 under a key only the DP holds (epoch 0). Holders cannot
 * recompute it themselves; the DP tells a holder their pseudonym on a holder-signed request.
 */
export class KeyedPseudonyms implements PseudonymSource {
  private readonly key: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.length < 32) throw new TypeError('the pseudonym key must be at least 32 bytes');
    this.key = key;
  }

  async pseudonymFor(_tx: StoreTx | undefined, csi: string): Promise<LogPseudonym> {
    return this.of(csi);
  }

  of(csi: string): LogPseudonym {
    const pseudonym = Uint8Array.from(createHmac('sha256', this.key).update(label).update(csi).digest());
    return { epoch: 0, pseudonym };
  }
}

/**
 * With the private lookup: the OPRF output of the CSI under the DP's active epoch key (RFC 9497
 * Evaluate), hashed once more with its own label (pseudonymFromOprfOutput) because the output
 * itself keys the private index. A holder gets the same output by a blinded evaluation.
 * Outputs are cached per epoch (a CSI changes many times in a busy log, and one evaluation costs
 * about 100 µs).
 */
export class OprfPseudonyms implements PseudonymSource {
  private readonly kek: Uint8Array;
  private readonly fallback: KeyedPseudonyms;
  private readonly servers = new Map<number, OprfServer>();
  private readonly cache = new Map<string, LogPseudonym>();
  private readonly cacheSize: number;

  constructor(kek: Uint8Array, fallback: KeyedPseudonyms, cacheSize = 100_000) {
    this.kek = kek;
    this.fallback = fallback;
    this.cacheSize = cacheSize;
  }

  async pseudonymFor(tx: StoreTx, csi: string): Promise<LogPseudonym> {
    const active = (await tx.oprfEpochs()).find((e) => e.state === OprfEpochState.Active);
    // Only before the first epoch is built (never once the node serves): the keyed hash.
    if (active === undefined) return this.fallback.of(csi);
    const key = `${active.id}:${csi}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let server = this.servers.get(active.id);
    if (server === undefined) {
      await ready();
      const secret = openKey(this.kek, active.id, active.sealedKey);
      server = await createOprfServer(secret);
      secret.fill(0);
      this.servers.set(active.id, server);
    }
    const out = server.evaluate(encoder.encode(csi));
    const result = { epoch: active.id, pseudonym: pseudonymFromOprfOutput(out) };
    out.fill(0);
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(key, result);
    return result;
  }
}
