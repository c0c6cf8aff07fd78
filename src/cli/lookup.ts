import { lookupNativeDns } from '../client/dns-lookup.js';
import type { VerifiedResult } from '../client/lookup-client.js';
import type { LookupOptions } from '../client/msp-agent.js';
import { type PrivateLookupStats, privateLookupAcross } from '../client/private-lookup.js';
import { createSodiumOprfClient } from '../crypto/oprf-client-sodium.js';
import { nowSeconds } from '../protocol/encoding.js';
import type { LookupStatus } from '../protocol/records.js';
import { csiArg, idArg, listArg, urlArg } from './args.js';
import { type DevnetAccess, openDevnet } from './devnet-access.js';
import { CliError, CliErrorCode, emit } from './io.js';

export interface CompactResult {
  csi: string;
  status: LookupStatus;
  msps: string[];
}

/** R9, R14, R15: an MSP asks on behalf of its user; every mapping is verified before it is shown. */
export async function lookupVerbose(
  net: DevnetAccess,
  as: string,
  csis: readonly string[],
  opts: LookupOptions = {},
): Promise<VerifiedResult[]> {
  return net.msp(as).lookup(csis, opts);
}

export async function lookupCompact(
  net: DevnetAccess,
  as: string,
  csis: readonly string[],
  opts: LookupOptions = {},
): Promise<CompactResult[]> {
  return net.msp(as).lookupCompact(csis, opts);
}

/**
 * R9, R26: the private lookup (RFC 9497 OPRF): the DP learns neither the CSIs nor the answers,
 * only blinded elements (charged to the MSP's credential, R22) and bucket ids.
 */
export async function lookupPrivate(
  net: DevnetAccess,
  as: string,
  csis: readonly string[],
  opts: { relay?: string } = {},
): Promise<{ results: VerifiedResult[]; stats: PrivateLookupStats }> {
  // Every DP of the devnet, in parallel; each evaluation is charged to the MSP's session there.
  const agents = new Map(net.layout.dps.map((d) => [d.id, net.msp(as, d.id)]));
  const { results, dps } = await privateLookupAcross(csis, {
    registry: () => net.registry(),
    dps: 'all',
    credential: (dp) => agents.get(dp)?.sessionToken(),
    oprf: await createSodiumOprfClient(),
    relay: opts.relay,
  });
  const failed = dps.find((d) => d.status === 'error');
  if (failed?.error !== undefined) throw failed.error;
  const all = dps.flatMap((d) => (d.stats === undefined ? [] : [{ dp: d.dp, stats: d.stats }]));
  const stats: PrivateLookupStats = {
    ...all[0]!.stats,
    evaluated: all.reduce((n, d) => n + d.stats.evaluated, 0),
    cached: all.reduce((n, d) => n + d.stats.cached, 0),
    buckets: all.reduce((n, d) => n + d.stats.buckets, 0),
    bytes: all.reduce((n, d) => n + d.stats.bytes, 0),
    bucketRequests: all.reduce((n, d) => n + d.stats.bucketRequests, 0),
    bucketIds: all.flatMap((d) => d.stats.bucketIds.map((b) => `${d.dp}:${b}`)),
  };
  return { results, stats };
}

export function privateText(stats: PrivateLookupStats, relay?: string): string {
  const via =
    relay === undefined
      ? ''
      : `; through the relay ${relay}, so the DPs saw the relay's address, not this one`;
  return `private lookup: ${stats.evaluated} evaluation(s) charged to the credential; the DPs saw buckets ${stats.bucketIds.join(', ')} and no CSI${via}`;
}

export function verboseText(results: readonly VerifiedResult[]): string {
  return results
    .map((r) => {
      const head = `${r.csi}  ${r.status}`;
      if (r.status === 'none') return `${head}  (no mapping)`;
      if (r.status === 'opt-out')
        return `${head}  (the holder signed an opt-out; do not contact through discovery)`;
      const rows = r.mappings.map((m, i) => {
        const b = m.mapping.body;
        return `  ${i + 1}. ${b.tag.padEnd(10)} ${String(b.msp).padEnd(6)} ${b.ssi}  priority ${b.priority}  verified, via ${m.dps.join(', ')}  id ${m.id}`;
      });
      return [`${head}  (${r.mappings.length} verified, in the holder's order of preference)`, ...rows].join(
        '\n',
      );
    })
    .join('\n');
}

export function compactText(results: readonly CompactResult[]): string {
  return results
    .map((r) => `${r.csi}  ${r.status}${r.msps.length > 0 ? `  reachable on ${r.msps.join(', ')}` : ''}`)
    .join('\n');
}

export async function lookupAction(
  inputs: string[],
  opts: {
    devnet: string;
    as?: string;
    dns?: boolean;
    resolver?: string;
    labelKey?: string;
    requireDnssec?: boolean;
    compact?: boolean;
    private?: boolean;
    relay?: string;
    mspFilter?: string;
    federation?: string;
    dpList?: string;
    json?: boolean;
  },
): Promise<void> {
  const csis = inputs.map((c, i) => csiArg(c, `CSI #${i + 1}`));
  if (opts.dns) {
    const viaDns = csis.filter((c) => c.startsWith('mimi:'));
    if (viaDns.length !== csis.length || opts.compact || opts.private) {
      throw new CliError(
        CliErrorCode.InvalidArgument,
        '--dns looks up mimi: identifiers only, with verbose answers',
        'leave out --compact and --private, and ask for other CSIs without --dns',
      );
    }
    const net = openDevnet(opts.devnet);
    const labelKey = opts.labelKey === undefined ? undefined : Buffer.from(opts.labelKey, 'base64url');
    if (labelKey !== undefined && labelKey.length < 16) {
      throw new CliError(CliErrorCode.InvalidArgument, '--label-key is at least 16 bytes, base64url');
    }
    const results = [];
    for (const csi of csis) {
      results.push(
        await lookupNativeDns(csi, {
          registry: net.registry(),
          policy: {},
          now: nowSeconds(),
          resolvers: opts.resolver === undefined ? undefined : listArg(opts.resolver, '--resolver'),
          labelKey,
          requireDnssec: opts.requireDnssec === true,
        }),
      );
    }
    emit(opts.json === true, {
      doc: { format: 'verbose', via: 'dns', results },
      text: results
        .map(
          (r) =>
            `${verboseText([r]).replace(/via [a-z0-9.-]+/g, 'via DNS')}\n  ${r.name}  DNSSEC ${r.dnssec}`,
        )
        .join('\n'),
    });
    return;
  }
  if (opts.as === undefined)
    throw new CliError(CliErrorCode.Usage, "required option '--as <msp>' not specified");
  const as = idArg(opts.as, '--as');
  const filter = opts.mspFilter === undefined ? undefined : listArg(opts.mspFilter, '--msp-filter');
  for (const id of filter ?? []) idArg(id, '--msp-filter');
  if (opts.federation !== undefined && !['on', 'off'].includes(opts.federation)) {
    throw new CliError(CliErrorCode.InvalidArgument, '--federation takes on or off');
  }
  const dpList =
    opts.dpList === undefined || opts.dpList === 'preferred' || opts.dpList === 'all'
      ? opts.dpList
      : listArg(opts.dpList, '--dp-list').map((id) => idArg(id, '--dp-list'));
  const params: LookupOptions = {
    ...(filter === undefined ? {} : { mspFilter: filter }),
    ...(opts.federation === undefined ? {} : { federation: opts.federation === 'on' }),
    ...(dpList === undefined ? {} : { dpList }),
  };
  if (opts.relay !== undefined && !opts.private) {
    throw new CliError(CliErrorCode.InvalidArgument, '--relay is for --private lookups', 'add --private');
  }
  const relay = opts.relay === undefined ? undefined : urlArg(opts.relay, '--relay');
  const net = openDevnet(opts.devnet);
  if (opts.private) {
    if (opts.compact || filter !== undefined) {
      throw new CliError(
        CliErrorCode.InvalidArgument,
        '--private gives verbose answers for whole CSIs',
        'leave out --compact and --msp-filter',
      );
    }
    const { results, stats } = await lookupPrivate(net, as, csis, { relay });
    emit(opts.json === true, {
      doc: { format: 'verbose', private: { ...stats, ms: undefined, relay: relay ?? null }, results },
      text: `${verboseText(results)}\n${privateText(stats, relay)}`,
    });
    return;
  }
  if (opts.compact) {
    const results = await lookupCompact(net, as, csis, params);
    emit(opts.json === true, { doc: { format: 'compact', results }, text: compactText(results) });
    return;
  }
  const results = await lookupVerbose(net, as, csis, params);
  emit(opts.json === true, { doc: { format: 'verbose', results }, text: verboseText(results) });
}
