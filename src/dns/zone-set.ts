import { MimiError } from '../protocol/errors.js';
import type { Mapping } from '../protocol/records.js';
import type { Store } from '../store/store.js';
import {
  buildZone,
  contentDigest,
  nextSerial,
  type Zone,
  type ZoneSettings,
  zoneHoldsIdentifier,
} from './zone.js';

/** Native mappings the node serves (active, unexpired) for identifiers inside `zones`. */
export async function nativeMappings(
  store: Store,
  zones: readonly string[],
  now: number,
): Promise<Map<string, Mapping[]>> {
  const csis: string[] = [];
  let after = 'mimi:';
  // CSIs come in byte order, so the mimi: ones are one run; stop at the first that is not.
  for (;;) {
    const page = await store.write((tx) => tx.servedCsisAfter(after, 1000, now));
    const native = page.filter((c) => c.startsWith('mimi:'));
    csis.push(...native.filter((c) => zones.some((z) => zoneHoldsIdentifier(z, c))));
    if (page.length < 1000 || native.length < page.length) break;
    after = page[page.length - 1]!;
  }
  const out = new Map<string, Mapping[]>();
  for (let i = 0; i < csis.length; i += 500) {
    const rows = await store.activeMappings(csis.slice(i, i + 500), now);
    for (const [csi, list] of rows)
      out.set(
        csi,
        list.map((r) => JSON.parse(r.json) as Mapping),
      );
  }
  return out;
}

export interface ZoneSetOptions {
  store: Store;
  zones: readonly ZoneSettings[];
  now: () => number;
  /** How often start() rebuilds the zones from the store, in ms (the node's dns.refreshMs). */
  refreshMs: number;
  onError?: (err: unknown) => void;
}

/**
 * The zones a node holds, rebuilt from its store every `refreshMs`: an acceptance or invalidation
 * on any node of the DP shows within about that long, with the SOA serial moved on (R20, R29).
 * A rebuild that finds nothing changed keeps the zone and its serial.
 */
export class ZoneSet {
  private readonly opts: ZoneSetOptions;
  private current: Zone[] = [];
  private digests: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;

  constructor(opts: ZoneSetOptions) {
    const names = new Set<string>();
    for (const z of opts.zones) {
      const n = z.name.toLowerCase().replace(/\.$/, '');
      if (names.has(n)) throw new MimiError('config-invalid', `dns.zones: ${n} is listed twice`);
      names.add(n);
    }
    this.opts = opts;
  }

  zones(): readonly Zone[] {
    return this.current;
  }

  /** The zone with the longest apex that contains `qname` (RFC 1034 §4.3.2 step 2). */
  find(qname: string): Zone | undefined {
    let best: Zone | undefined;
    for (const z of this.current)
      if (z.contains(qname) && (best === undefined || z.name.length > best.name.length)) best = z;
    return best;
  }

  /** Rebuilds every zone; true when one changed. Concurrent calls share one rebuild. */
  refresh(): Promise<boolean> {
    this.running ??= this.rebuild().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async rebuild(): Promise<boolean> {
    const now = this.opts.now();
    const mappings = await nativeMappings(
      this.opts.store,
      this.opts.zones.map((z) => z.name),
      now,
    );
    let changed = false;
    const next = this.opts.zones.map((settings, i) => {
      const previous = this.current[i];
      const candidate = buildZone(settings, mappings, previous?.serial ?? nextSerial(undefined, now));
      const digest = contentDigest(candidate);
      if (previous !== undefined && digest === this.digests[i]) return previous;
      changed = true;
      this.digests[i] = digest;
      return previous === undefined
        ? candidate
        : buildZone(settings, mappings, nextSerial(previous.serial, now));
    });
    this.current = next;
    return changed;
  }

  async start(): Promise<void> {
    await this.refresh();
    const tick = () => {
      this.refresh()
        .catch((err) => this.opts.onError?.(err))
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, this.opts.refreshMs).unref();
        });
    };
    this.timer = setTimeout(tick, this.opts.refreshMs).unref();
  }

  async close(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t !== undefined) clearTimeout(t);
    await this.running?.catch(() => undefined);
  }
}
