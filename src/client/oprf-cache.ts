/**
 * The client's store of OPRF outputs (R22): a private lookup asks the DP to evaluate only the
 * CSIs whose output for a served epoch it does not hold yet.
 */

/**
 * Where a client keeps OPRF outputs, per DP and epoch, so a contact sync that repeats CSIs it
 * asked before spends no evaluation on them (R22: only new CSIs are charged, as in Signal's
 * contact discovery). Outputs are as sensitive as the CSIs they belong to: keep them on the device.
 *
 * @example
 * const client = new PrivateLookupClient({ dp, registry, cache: new MemoryOprfCache() });
 */
export interface OprfOutputCache {
  get(dp: string, epoch: number, csi: string): Uint8Array | undefined;
  set(dp: string, epoch: number, csi: string, out: Uint8Array): void;
  /** Forgets the DP's epochs that are not in `served`. */
  retain(dp: string, served: readonly number[]): void;
}

/**
 * An in-memory {@link OprfOutputCache}.
 *
 * @example
 * const cache = new MemoryOprfCache();
 * const client = new PrivateLookupClient({ dp, registry, cache });
 */
export class MemoryOprfCache implements OprfOutputCache {
  private readonly byDp = new Map<string, Map<number, Map<string, Uint8Array>>>();

  get(dp: string, epoch: number, csi: string): Uint8Array | undefined {
    return this.byDp.get(dp)?.get(epoch)?.get(csi);
  }

  set(dp: string, epoch: number, csi: string, out: Uint8Array): void {
    let epochs = this.byDp.get(dp);
    if (epochs === undefined) {
      epochs = new Map();
      this.byDp.set(dp, epochs);
    }
    let outs = epochs.get(epoch);
    if (outs === undefined) {
      outs = new Map();
      epochs.set(epoch, outs);
    }
    outs.set(csi, out);
  }

  retain(dp: string, served: readonly number[]): void {
    const epochs = this.byDp.get(dp);
    if (epochs === undefined) return;
    for (const epoch of epochs.keys()) if (!served.includes(epoch)) epochs.delete(epoch);
  }

  /** Number of outputs held for a DP (all epochs). */
  size(dp: string): number {
    let n = 0;
    for (const outs of this.byDp.get(dp)?.values() ?? []) n += outs.size;
    return n;
  }
}
