import type { VerifiedResult } from '../client/lookup-client.js';
import type { PrivateLookupStats } from '../client/private-lookup.js';
import { privateLookupAcross } from '../client/private-lookup-across.js';
import { PrivateTokens } from '../client/private-tokens.js';
import { createSodiumOprfClient } from '../crypto/oprf-client-sodium.js';
import type { DevnetAccess } from './devnet-access.js';
import { CliError, CliErrorCode } from './io.js';

/**
 * R9, R26: the private lookup (RFC 9497 OPRF): the DP learns neither the CSIs nor the answers,
 * only blinded elements (charged to the MSP's credential, R22) and bucket ids.
 */
export async function lookupPrivate(
  net: DevnetAccess,
  as: { msp: string } | { tokens: { msp: string; user: string } },
  csis: readonly string[],
  opts: { relay?: string } = {},
): Promise<{ results: VerifiedResult[]; stats: PrivateLookupStats }> {
  // Every DP of the devnet, in parallel; each evaluation is charged to the MSP's session there,
  // or paid with a Privacy Pass token from the user's MSP issuer (one token per request per DP).
  const agents = 'msp' in as ? new Map(net.layout.dps.map((d) => [d.id, net.msp(as.msp, d.id)])) : undefined;
  const { results, dps } = await privateLookupAcross(csis, {
    registry: () => net.registry(),
    dps: 'all',
    ...(agents === undefined
      ? { tokens: tokensOf(net, (as as { tokens: { msp: string; user: string } }).tokens) }
      : { credential: (dp: string) => agents.get(dp)?.sessionToken() }),
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

/** R9, R26: tokens of `user` at `msp`'s devnet issuer, one PrivateTokens per DP (tokens are bound to a DP). */
function tokensOf(net: DevnetAccess, who: { msp: string; user: string }): (dp: string) => PrivateTokens {
  const issuer = net.layout.msps.find((m) => m.id === who.msp)?.issuer;
  const credential = issuer?.users[who.user];
  if (issuer === undefined || credential === undefined) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--tokens ${who.msp}:${who.user}: the devnet has no issuer user ${who.user} at ${who.msp}`,
      `users: ${net.layout.msps.flatMap((m) => Object.keys(m.issuer?.users ?? {}).map((u) => `${m.id}:${u}`)).join(', ') || 'none (a devnet made before issuers: --reset)'}`,
    );
  }
  return (dp) =>
    new PrivateTokens({
      msp: who.msp,
      dpId: dp,
      issuer: { url: issuer.url, credential },
      registry: () => net.registry(),
    });
}
