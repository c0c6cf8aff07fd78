import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resignDevnetRegistry } from '../../src/cli/devnet-files.js';
import type { MspAgent } from '../../src/client/msp-agent.js';
import { Fanout, forwardBudget } from '../../src/federation/fanout.js';
import { parseCsi } from '../../src/protocol/identifiers.js';
import { Registry, signRegistry } from '../../src/registry/document.js';
import { configDefaults } from '../../src/server/config.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';
import { DpNodes } from '../support/dp-nodes.js';
import { Federation, freshDpKeys } from '../support/federation.js';

/** One sample's value from the exposition text, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The code of a refused lookup, or 'ok'. */
async function outcome(msp: MspAgent, csis: string[]): Promise<string> {
  return msp.lookup(csis).then(
    () => 'ok',
    (err: { code: string }) => err.code,
  );
}

/** `n` numbers of one range, +1 415 555 <from>... (a scan). */
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => `tel:+1415555${from + i}`);

/** A deterministic spread of valid US numbers (a contact book, not a range). */
function scattered(
  n: number,
  seed: number,
  areas = [212, 202, 305, 312, 415, 503, 617, 702, 718, 808],
): string[] {
  const out: string[] = [];
  let x = seed;
  while (out.length < n) {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    const csi = `tel:+1${areas[out.length % areas.length]}${200 + (x % 800)}${String(x % 10_000).padStart(4, '0')}`;
    try {
      out.push(parseCsi(csi).uri);
    } catch {
      // not a valid number in that area: draw again
    }
  }
  return out;
}

describe('R12, R13: separate budgets for non-default and forwarded queries', () => {
  let net: DpNodes;
  const csi = 'tel:+14155550181';
  beforeAll(async () => {
    net = await DpNodes.start(2, {
      configure: (dp, config) => ({
        ...config,
        limits:
          dp === 'dp2'
            ? { nonDefaultPointsPerMinute: 3 } // R12 at dp2
            : { peerPointsPerMinute: 5 }, // R13 at dp1: what dp2 may ask of it
      }),
    });
    const holder = net.holder();
    await net.publish(holder, await net.prove(holder, csi), 'msp1', 'bob');
  });
  afterAll(() => net.close());

  it('non-default lookups run out of their own budget while default ones go on (R12)', async () => {
    const msp2 = net.msp('msp2');
    for (let i = 0; i < 3; i++) await msp2.lookup([csi], { federation: true, dpList: ['dp1'] });
    await expect(msp2.lookup([csi], { federation: true, dpList: ['dp1'] })).rejects.toMatchObject({
      code: 'rate-limited',
    });
    // The default (the devnet's federation default with the preferred peers) is still served.
    expect((await msp2.lookup([csi]))[0]?.status).toBe('one');
  });

  it('a DP limits what each peer may ask of it; the asker reports the peer as rate-limited (R13)', async () => {
    const msp2 = net.msp('msp2');
    let last: string | undefined;
    for (let i = 0; i < 8 && last !== 'rate-limited'; i++) {
      const { peers } = await msp2.lookupWithPeers([csi]);
      last = peers.find((p) => p.dp === 'dp1')?.status;
    }
    expect(last).toBe('rate-limited');
    const meta = (await (await fetch(`${net.endpoint('dp1')}/.well-known/mimi-discovery`)).json()) as {
      peering: { peerPointsPerMinute: number; forwardBudgetPerMinute: Record<string, number> };
    };
    expect(meta.peering.peerPointsPerMinute).toBe(5);
    expect(meta.peering.forwardBudgetPerMinute).toEqual(forwardBudget);
  });

  it('forwarding to a low-throughput peer stops at its class budget, without calling it (R13)', async () => {
    const fed = new Federation();
    const unsigned = {
      ...fed.unsigned,
      dps: [
        ...fed.unsigned.dps,
        {
          ...fed.unsigned.dps[0]!,
          keys: freshDpKeys(),
          id: 'slowdp',
          endpoint: 'http://127.0.0.1:9',
          throughputClass: 'low' as const,
        },
      ],
    };
    const registry = Registry.open(
      signRegistry(unsigned, fed.registryKey.privateKey),
      fed.registryKey.publicKey,
      { now: fed.clock.now() },
    );
    const fanout = new Fanout({
      self: { id: 'dp1', key: fed.dpKeys.transport.privateKey },
      registry: () => registry,
      policy: {},
      clock: fed.clock,
      timeoutMs: configDefaults.federation.peerTimeoutMs,
      maxAnswerBytesPerCsi: configDefaults.federation.maxAnswerBytesPerCsi,
      breakerCooldownMs: configDefaults.federation.breakerCooldownMs,
      breakerFailures: 1_000_000,
    });
    const batch = Array.from({ length: 100 }, (_, i) => `tel:+1415555${String(3000 + i)}`);
    let statuses: string[] = [];
    for (let i = 0; i < forwardBudget.low / 100 + 1; i++)
      statuses = (await fanout.lookup(batch, ['slowdp'])).peers.map((p) => p.status);
    expect(statuses).toEqual(['rate-limited']);
    await fed.close();
  });
});

describe('R22: plain-path lookup budgets per MSP (registry tier, strict default)', {
  timeout: 60_000,
}, () => {
  let net: RunningDevnet;
  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          // Small numbers; the reputation is off here (its own suite below).
          c.limits = {
            ...c.limits,
            mspLookupPerMinute: 30,
            mspLookupPerDay: 50,
            lookupReputation: { minSamples: 1_000_000 },
          };
        },
      },
    );
    // msp2 and msp3 get registry tiers; msp1 has none.
    resignDevnetRegistry(net.layout, (doc) => ({
      ...doc,
      msps: doc.msps.map((m) =>
        m.id === 'msp2'
          ? { ...m, lookupBudget: { perMinute: 60, perDay: 100 } }
          : m.id === 'msp3'
            ? { ...m, lookupBudget: { perMinute: 1000, perDay: 25 } }
            : m,
      ),
    }));
    await net.ctx.registry.load();
  });
  afterAll(() => net?.close());

  it('an MSP without a tier is refused past the default, counted per CSI, a refused batch costing nothing', async () => {
    const msp1 = net.msp('msp1');
    expect(await outcome(msp1, range(1000, 10))).toBe('ok');
    expect(await outcome(msp1, range(1010, 10))).toBe('ok');
    // 20 + 15 > 30: refused whole; the 10 after it still fit.
    expect(await outcome(msp1, range(1020, 15))).toBe('rate-limited');
    expect(await outcome(msp1, range(1020, 10))).toBe('ok');
    expect(await outcome(msp1, range(1030, 1))).toBe('rate-limited');
  });

  it("a registry tier raises an MSP's minute budget, and the day budget binds too", async () => {
    const msp2 = net.msp('msp2');
    for (let i = 0; i < 6; i++) expect(await outcome(msp2, range(2000 + i * 10, 10))).toBe('ok');
    expect(await outcome(msp2, range(2060, 10))).toBe('rate-limited');
    // msp3: 1,000 a minute but 25 a day; the refusal's retry hint is the day window's.
    const msp3 = net.msp('msp3');
    expect(await outcome(msp3, range(3000, 10))).toBe('ok');
    expect(await outcome(msp3, range(3010, 10))).toBe('ok');
    const refused = await fetch(new URL('/v1/lookup', net.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await msp3.sessionToken()}` },
      body: JSON.stringify({ v: 1, csis: range(3020, 10) }),
    });
    expect(refused.status).toBe(429);
    const problem = (await refused.json()) as { code: string; retryAfter: number; limit: number };
    expect(problem).toMatchObject({ code: 'rate-limited', limit: 25 });
    expect(problem.retryAfter).toBeGreaterThan(3600);
  });

  it('publishes the default and the reputation settings in the metadata (R11)', async () => {
    const meta = (await (await fetch(new URL('/.well-known/mimi-discovery', net.url))).json()) as {
      limits: { mspLookup: { default: unknown; reputation: { slowdownFactor: number } } };
    };
    expect(meta.limits.mspLookup.default).toEqual({ perMinute: 30, perDay: 50 });
    expect(meta.limits.mspLookup.reputation.slowdownFactor).toBe(10);
  });
});

describe('R22: an MSP whose lookups look like enumeration is slowed down', { timeout: 60_000 }, () => {
  let net: RunningDevnet;
  const lines: string[] = [];
  const known = scattered(5, 11);
  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        app: { logger: { level: 'info', stream: { write: (l: string) => lines.push(l) } } },
        configure: (c) => {
          c.limits = {
            ...c.limits,
            mspLookupPerMinute: 1000,
            mspLookupPerDay: 10_000,
            lookupReputation: { minSamples: 50, slowdownFactor: 100 },
          };
        },
      },
    );
    // A few of msp1's contacts are known: a contact sync finds some of what it asks.
    const msp1 = net.msp('msp1');
    for (const [i, csi] of known.entries()) {
      const holder = net.holder();
      const attestation = await net.prove(holder, csi);
      await msp1.submit(
        await msp1.confirm(
          holder.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/u${i}`, attestation }),
        ),
      );
    }
  });
  afterAll(() => net?.close());

  it('a sequential scan cuts the budget, shows in the gauges and logs one warning without a CSI', async () => {
    const msp2 = net.msp('msp2');
    expect(await outcome(msp2, range(2000, 100))).toBe('ok');
    // Now slowed: 1,000 / 100 = 10 a minute, of which it has spent 100.
    expect(await outcome(msp2, range(2100, 5))).toBe('rate-limited');
    const text = (await net.ctx.metrics.render()).body;
    expect(sample(text, 'mimi_msp_lookup_slowed', { msp: 'msp2' })).toBe(1);
    expect(sample(text, 'mimi_msp_lookup_sequential_share', { msp: 'msp2' })).toBeGreaterThan(0.9);
    expect(sample(text, 'mimi_msp_lookup_miss_ratio', { msp: 'msp2' })).toBe(1);
    const warnings = lines
      .map((l) => JSON.parse(l) as { level: number; msp?: string; msg: string })
      .filter((l) => l.level === 40 && l.msp === 'msp2');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain('enumeration');
    expect(lines.join('')).not.toMatch(/415555\d{4}/);
    expect(sample(text, 'mimi_rate_limited_total', { budget: 'msp-lookup-minute' })).toBe(1);
  });

  it('a normal mix (scattered contacts, some found, repeats) is not slowed', async () => {
    const msp1 = net.msp('msp1');
    for (let batch = 0; batch < 4; batch++) {
      const results = await msp1.lookup([
        ...known,
        ...scattered(20, 100 + batch, [206, 303, 404, 512, 614, 713, 801, 919]),
      ]);
      expect(results.filter((r) => r.status === 'one')).toHaveLength(known.length);
    }
    const text = (await net.ctx.metrics.render()).body;
    expect(sample(text, 'mimi_msp_lookup_slowed', { msp: 'msp1' })).toBe(0);
    expect(sample(text, 'mimi_msp_lookup_sequential_share', { msp: 'msp1' })).toBeLessThan(0.1);
    expect(sample(text, 'mimi_msp_lookup_miss_ratio', { msp: 'msp1' })).toBeCloseTo(0.8, 5);
    expect(net.ctx.lookupBudgets.budgetOf('msp1')).toEqual({ perMinute: 1000, perDay: 10_000 });
  });
});
