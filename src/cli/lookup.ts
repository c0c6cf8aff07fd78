import { lookupNativeDns } from '../client/dns-lookup.js';
import type { LookupOptions, VerifiedResult } from '../client/lookup-client.js';
import type { PrivateLookupStats } from '../client/private-lookup.js';
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

export function privateText(stats: PrivateLookupStats, tokensOfMsp?: string, relay?: string): string {
  const paid =
    tokensOfMsp === undefined
      ? 'charged to the credential'
      : `paid with Privacy Pass tokens (the DPs learned only that the asker is a user of ${tokensOfMsp})`;
  const via =
    relay === undefined
      ? ''
      : `; through the relay ${relay}, so the DPs saw the relay's address, not this one`;
  return `private lookup: ${stats.evaluated} evaluation(s) ${paid}; the DPs saw buckets ${stats.bucketIds.join(', ')} and no CSI${via}`;
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

/** `--tokens <msp>:<user>`: whose issuer, and which of its users. */
function tokensArg(input: string): { msp: string; user: string } {
  const m = /^([^:]+):([A-Za-z0-9._-]{1,64})$/.exec(input);
  if (m === null)
    throw new CliError(CliErrorCode.InvalidArgument, '--tokens is <msp>:<user>, e.g. msp3:alice');
  return { msp: idArg(m[1]!, '--tokens'), user: m[2]! };
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
    tokens?: string;
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
  const tokens = opts.tokens === undefined ? undefined : tokensArg(opts.tokens);
  if (tokens !== undefined && !opts.private) {
    throw new CliError(CliErrorCode.Usage, '--tokens pays for a private lookup: add --private');
  }
  if (opts.as === undefined && tokens === undefined)
    throw new CliError(CliErrorCode.Usage, "required option '--as <msp>' not specified");
  const as = opts.as === undefined ? '' : idArg(opts.as, '--as');
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
    // Loaded only here: the OPRF client (libsodium's WebAssembly build) and Privacy Pass.
    const { lookupPrivate } = await import('./lookup-private.js');
    const { results, stats } = await lookupPrivate(
      net,
      tokens === undefined ? { msp: as } : { tokens },
      csis,
      { relay },
    );
    emit(opts.json === true, {
      doc: {
        format: 'verbose',
        private: {
          ...stats,
          ms: undefined,
          relay: relay ?? null,
          ...(tokens === undefined ? {} : { paidWith: 'privacy-pass', msp: tokens.msp }),
        },
        results,
      },
      text: `${verboseText(results)}\n${privateText(stats, tokens?.msp, relay)}`,
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
