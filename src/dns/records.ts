import { asciiJson, discoveryName, splitTxt, TxtPrefix, type Uri } from '../protocol/dns-names.js';
import { byPreference } from '../protocol/preference.js';
import type { Mapping } from '../protocol/records.js';
import { isOptOut, mappingId } from '../registry/verify-mapping.js';

export type { Uri } from '../protocol/dns-names.js';

/**
 * R29: the records of one native identifier under `_mimi-discovery.<domain>` (docs/spec/dns.md).
 * Pure: the responder, the master-file export and the tests build them the same way.
 */
export const RecordType = { SOA: 'SOA', NS: 'NS', A: 'A', AAAA: 'AAAA', TXT: 'TXT', URI: 'URI' } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export interface Soa {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export type ZoneRecord =
  | { name: string; type: 'SOA'; ttl: number; data: Soa }
  | { name: string; type: 'NS'; ttl: number; data: string }
  | { name: string; type: 'A' | 'AAAA'; ttl: number; data: string }
  | { name: string; type: 'TXT'; ttl: number; data: Buffer[] }
  | { name: string; type: 'URI'; ttl: number; data: Uri };

/** At most this many mappings of one identifier go into DNS; a sender who wants more asks a DP. */
export const MaxMappingsPerName = 16;

export interface IdentifierRecordsOptions {
  ttl: number;
  /** The zone's label secret (R29 "hard to guess"); absent: a plain hash. */
  labelKey?: Uint8Array;
}

/**
 * URI records for the SSIs in the holder's order of preference (R7: URI priority = rank, so that a
 * plain RFC 7553 client tries them in that order; weight 1, since a sender never picks at random),
 * and one TXT record per mapping with the signed mapping, so the answer verifies without DNSSEC.
 * An opt-out has its TXT record and no URI record (R14).
 */
export function identifierRecords(
  csi: string,
  mappings: readonly Mapping[],
  opts: IdentifierRecordsOptions,
): ZoneRecord[] {
  const name = discoveryName(csi, opts.labelKey);
  const ordered = mappings
    .filter((m) => m.body.csi === csi)
    .map((m) => ({ m, key: { ...m.body, acceptedAt: m.acceptedAt, id: mappingId(m) } }))
    .sort((a, b) => byPreference(a.key, b.key))
    .slice(0, MaxMappingsPerName)
    .map((x) => x.m);
  const records: ZoneRecord[] = [];
  ordered.forEach((m, rank) => {
    if (!isOptOut(m.body) && m.body.ssi !== null) {
      records.push({
        name,
        type: 'URI',
        ttl: opts.ttl,
        data: { priority: rank, weight: 1, target: m.body.ssi },
      });
    }
  });
  for (const m of ordered) {
    records.push({
      name,
      type: 'TXT',
      ttl: opts.ttl,
      data: splitTxt(TxtPrefix + asciiJson(m)).map((s) => Buffer.from(s)),
    });
  }
  return records;
}
