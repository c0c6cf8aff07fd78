import { createHash } from 'node:crypto';
import { DiscoveryLabel } from '../protocol/dns-names.js';
import { MimiError } from '../protocol/errors.js';
import { domainOfCsi } from '../protocol/identifiers.js';
import type { Mapping } from '../protocol/records.js';
import { identifierRecords, type Soa, type ZoneRecord } from './records.js';

/**
 * R29: one zone a node holds, built from its accepted native mappings (docs/spec/dns.md). The
 * zone is data only: the responder answers from it and the export writes it out.
 */
export interface ZoneSettings {
  /** The zone's apex: the domain itself, or `_mimi-discovery.<domain>` when only that is delegated. */
  name: string;
  nameServers: readonly { name: string; addresses?: readonly string[] }[];
  /** SOA RNAME as a mailbox domain (RFC 1035 §3.3.13), default `hostmaster.<zone>`. */
  hostmaster?: string;
  /** TTL of the identifier records, in seconds (the node's dns.zones[].ttl). */
  ttl: number;
  /** Negative-answer TTL (RFC 2308), the SOA MINIMUM, in seconds (the node's dns.zones[].negativeTtl). */
  negativeTtl: number;
  labelKey?: Uint8Array;
  /**
   * Other records the zone holds, read at every rebuild: a self-hosting holder's
   * `_mimi-challenge` TXT record for dns-01, say.
   */
  extra?: readonly ZoneRecord[];
}

export type Lookup =
  | { rcode: 'NOERROR'; answers: ZoneRecord[]; authority: ZoneRecord[] }
  | { rcode: 'NXDOMAIN'; answers: []; authority: ZoneRecord[] };

const lower = (n: string) => n.toLowerCase().replace(/\.$/, '');

export class Zone {
  readonly name: string;
  readonly soa: ZoneRecord & { type: 'SOA' };
  private readonly byName = new Map<string, ZoneRecord[]>();
  /** Every name that exists, empty non-terminals included (RFC 8020: they are NODATA, not NXDOMAIN). */
  private readonly names = new Set<string>();

  constructor(name: string, soa: Soa, records: readonly ZoneRecord[]) {
    this.name = lower(name);
    this.soa = { name: this.name, type: 'SOA', ttl: soa.minimum, data: soa };
    for (const r of [this.soa, ...records]) {
      const n = lower(r.name);
      if (!this.contains(n)) throw new MimiError('config-invalid', `${n} is outside zone ${this.name}`);
      const list = this.byName.get(n) ?? [];
      list.push({ ...r, name: n } as ZoneRecord);
      this.byName.set(n, list);
      for (let cut = n; cut.length >= this.name.length; cut = cut.slice(cut.indexOf('.') + 1)) {
        this.names.add(cut);
        if (cut === this.name || !cut.includes('.')) break;
      }
    }
  }

  get serial(): number {
    return this.soa.data.serial;
  }

  contains(name: string): boolean {
    const n = lower(name);
    return n === this.name || n.endsWith(`.${this.name}`);
  }

  /** Every record, the SOA first (for the master file). */
  records(): ZoneRecord[] {
    return [...this.byName.values()].flat();
  }

  /** RFC 1034 §4.3.2 for a zone without delegations or wildcards: answer, NODATA or NXDOMAIN. */
  lookup(qname: string, qtype: string): Lookup {
    const n = lower(qname);
    if (!this.names.has(n)) return { rcode: 'NXDOMAIN', answers: [], authority: [this.soa] };
    const here = this.byName.get(n) ?? [];
    const answers = qtype === 'ANY' ? here : here.filter((r) => r.type === qtype);
    return { rcode: 'NOERROR', answers, authority: answers.length === 0 ? [this.soa] : [] };
  }
}

/** Identifiers whose records fall inside a zone: `<label>._mimi-discovery.<domain>` under its apex. */
export function zoneHoldsIdentifier(zoneName: string, csi: string): boolean {
  const owner = `${DiscoveryLabel}.${domainOfCsi(csi)}`;
  const z = lower(zoneName);
  return owner === z || owner.endsWith(`.${z}`);
}

/**
 * The zone's records from the mappings the node serves (active, unexpired), grouped per
 * identifier. The serial is the caller's (see ZoneSerials).
 */
export function buildZone(
  settings: ZoneSettings,
  mappings: ReadonlyMap<string, readonly Mapping[]>,
  serial: number,
): Zone {
  const name = lower(settings.name);
  if (name.length > 253 || !name.split('.').every((l) => /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/.test(l))) {
    throw new MimiError('config-invalid', `dns zone ${settings.name} is not a domain name`);
  }
  const { ttl } = settings;
  const records: ZoneRecord[] = [];
  for (const ns of settings.nameServers) {
    records.push({ name, type: 'NS', ttl: 3600, data: lower(ns.name) });
    if (!lower(ns.name).endsWith(`.${name}`) && lower(ns.name) !== name) continue;
    // Glue for an in-zone name server, so the zone loads in NSD, Knot or BIND as it is.
    for (const a of ns.addresses ?? []) {
      records.push({ name: lower(ns.name), type: a.includes(':') ? 'AAAA' : 'A', ttl: 3600, data: a });
    }
  }
  records.push(...(settings.extra ?? []));
  for (const csi of [...mappings.keys()].sort()) {
    if (!zoneHoldsIdentifier(name, csi)) continue;
    records.push(...identifierRecords(csi, mappings.get(csi) ?? [], { ttl, labelKey: settings.labelKey }));
  }
  const soa: Soa = {
    mname: lower(settings.nameServers[0]?.name ?? `ns.${name}`),
    rname: lower(settings.hostmaster ?? `hostmaster.${name}`),
    serial,
    refresh: 300,
    retry: 60,
    expire: 86_400,
    minimum: settings.negativeTtl,
  };
  return new Zone(name, soa, records);
}

/** A digest of the records without the SOA: equal digests, same zone, same serial. */
export function contentDigest(zone: Zone): string {
  const h = createHash('sha256');
  for (const r of zone.records()) {
    if (r.type === 'SOA') continue;
    h.update(
      JSON.stringify([
        r.name,
        r.type,
        r.ttl,
        r.type === 'TXT' ? r.data.map((b) => b.toString('hex')) : r.data,
      ]),
    );
  }
  return h.digest('hex');
}

/**
 * RFC 1982 serials that move on with every change: the Unix time when it is ahead, else one more
 * than before (several changes in one second). A node that restarts starts from the clock, which
 * is ahead of any serial it gave unless it changed the zone more than once a second for long.
 */
export function nextSerial(previous: number | undefined, nowSeconds: number): number {
  const next = previous === undefined ? nowSeconds : Math.max(previous + 1, nowSeconds);
  return next >>> 0;
}
