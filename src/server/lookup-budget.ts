import {
  effectiveBudget,
  judgeReputation,
  type LookupBudget,
  type LookupSample,
  type ReputationSettings,
  ReputationWindow,
} from '../dp/lookup-reputation.js';
import type { Registry } from '../registry/document.js';
import { type Budgets, SizedBudget } from '../store/rate-limit.js';

/** An MSP's reputation as the metrics show it (mimi_msp_lookup_*). */
export interface MspReputation {
  msp: string;
  missRatio: number;
  sequentialShare: number;
  slowed: boolean;
}

export interface LookupBudgetOptions {
  budgets: Budgets;
  /** The budget of an MSP without a registry lookupBudget. */
  fallback: LookupBudget;
  reputation: ReputationSettings;
  registry: () => Registry;
  now: () => number;
  /** Told once per transition; never given a CSI. */
  onChange?: (msp: string, slowed: boolean, verdict: { missRatio: number; sequentialShare: number }) => void;
}

/**
 * R22 on the plain lookup path: each MSP's CSIs per minute and per day (its registry tier or the
 * DP's default), counted per CSI, shared by the DP's nodes through Redis when configured; and
 * cut by `slowdownFactor` while its recent lookups look like enumeration. The reputation window
 * is this node's own (in memory, bounded by the registry's MSPs times maxSamples): behind a load
 * balancer each node sees a share of an MSP's batches, and the ratios hold in any share.
 */
export class LookupBudgets {
  private readonly minute: SizedBudget;
  private readonly day: SizedBudget;
  private readonly windows = new Map<
    string,
    { window: ReputationWindow; slowedUntil: number; slowed: boolean }
  >();

  constructor(private readonly opts: LookupBudgetOptions) {
    this.minute = new SizedBudget(opts.budgets, 'msp-lookup-minute', 60);
    this.day = new SizedBudget(opts.budgets, 'msp-lookup-day', 86_400);
  }

  /** What `msp` may spend now. */
  budgetOf(msp: string): LookupBudget {
    const tier = this.opts.registry().msp(msp)?.lookupBudget ?? this.opts.fallback;
    return effectiveBudget(tier, this.judge(msp).slowed, this.opts.reputation.slowdownFactor);
  }

  /** Charges `cost` CSIs to both of `msp`'s budgets, or nothing and throws `rate-limited`. */
  async charge(msp: string, cost: number): Promise<void> {
    const budget = this.budgetOf(msp);
    await this.minute.charge(msp, cost, budget.perMinute);
    try {
      await this.day.charge(msp, cost, budget.perDay);
    } catch (err) {
      await this.minute.refund(msp, cost);
      throw err;
    }
  }

  /** Records what `msp` looked up and what it found (after the answer). */
  observe(msp: string, samples: readonly LookupSample[]): void {
    let entry = this.windows.get(msp);
    if (entry === undefined) {
      entry = { window: new ReputationWindow(this.opts.reputation), slowedUntil: 0, slowed: false };
      this.windows.set(msp, entry);
    }
    entry.window.add(samples, this.opts.now());
    this.judge(msp);
  }

  /** Every MSP seen, for the gauges; MSPs gone from the registry are forgotten. */
  reputations(): MspReputation[] {
    const registry = this.opts.registry();
    const out: MspReputation[] = [];
    for (const msp of [...this.windows.keys()]) {
      if (registry.msp(msp) === undefined) {
        this.windows.delete(msp);
        continue;
      }
      const { missRatio, sequentialShare, slowed } = this.judge(msp);
      out.push({ msp, missRatio, sequentialShare, slowed });
    }
    return out;
  }

  private judge(msp: string): { missRatio: number; sequentialShare: number; slowed: boolean } {
    const entry = this.windows.get(msp);
    if (entry === undefined) return { missRatio: 0, sequentialShare: 0, slowed: false };
    const now = this.opts.now();
    const verdict = judgeReputation(entry.window.stats(now), this.opts.reputation, entry.slowedUntil, now);
    entry.slowedUntil = verdict.slowedUntil;
    if (verdict.slowed !== entry.slowed) {
      entry.slowed = verdict.slowed;
      this.opts.onChange?.(msp, verdict.slowed, verdict);
    }
    return verdict;
  }
}
