import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { PrivateIndex } from '../dp/private-index.js';
import type { TransparencyLog } from '../dp/transparency-log.js';
import { MimiError } from '../protocol/errors.js';
import {
  type Budget,
  type Budgets,
  budgetLimiter,
  type RateLimiter,
  redisLimiter,
} from '../store/rate-limit.js';
import type { Store } from '../store/store.js';
import type { LoadedConfig, ResolvedConfig } from './config.js';
import { TokenRedeemer, type TokenRedeemerOptions } from './private-tokens.js';
import { besideDpKey, readOrCreateSecretFile } from './secret-file.js';

/** Settings of the private lookup path, defaults filled in; published in the metadata (R11, R22). */
export type PrivateLookupSettings = NonNullable<ResolvedConfig['privateLookup']> & { kekFile: string };

export function privateLookupSettings(loaded: LoadedConfig): PrivateLookupSettings | undefined {
  const resolved = loaded.resolved.privateLookup;
  if (resolved === undefined) return undefined;
  const kekFile = loaded.config.privateLookup?.kekFile;
  return {
    // Next to the DP key, deployed and protected the same way.
    kekFile: kekFile === undefined ? besideDpKey(loaded, 'oprf.kek') : loaded.path(kekFile),
    ...resolved,
  };
}

/**
 * R22: an evaluation budget charges a whole batch or nothing. (A plain consume would burn what
 * is left of a budget on a batch it then refuses.) Counted in memory on one node, in Redis
 * under `<keyPrefix>:<name>` when `shared` is given, so every node of the DP draws on one budget.
 */
export class EvaluationBudget {
  private readonly limiter: RateLimiterAbstract;
  readonly budget: Budget;
  /** Told of each refusal (the rate-limit metrics by budget). */
  private readonly onLimited: (() => void) | undefined;

  constructor(budget: Budget, name: string, { shared, onLimited }: Budgets = {}) {
    this.budget = budget;
    this.limiter =
      shared === undefined
        ? new RateLimiterMemory({ points: budget.points, duration: budget.perSeconds })
        : redisLimiter(shared.redis, budget, `${shared.keyPrefix}:${name}`);
    this.onLimited = onLimited && (() => onLimited(name));
  }

  async charge(key: string, cost: number): Promise<void> {
    try {
      await this.limiter.consume(key, cost);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      await this.limiter.reward(key, cost);
      this.onLimited?.();
      throw new MimiError('rate-limited', 'evaluation budget exhausted for this credential', {
        retryAfter: Math.ceil(res.msBeforeNext / 1000),
        remaining: Math.max(0, this.budget.points - (res.consumedPoints - cost)),
      });
    }
  }

  /** Gives back a charge for work that was refused before it was done. */
  async refund(key: string, cost: number): Promise<void> {
    await this.limiter.reward(key, cost);
  }
}

export interface PrivateLookup {
  index: PrivateIndex;
  settings: PrivateLookupSettings;
  evaluations: { msp: EvaluationBudget; anonymous: EvaluationBudget; tokens: EvaluationBudget };
  buckets: RateLimiter;
  /** Privacy Pass redemption (RFC 9577): tokens of the MSPs' issuers in place of a credential. */
  tokens: TokenRedeemer;
}

/**
 * Builds the private lookup path; the caller opens its index (`index.open()`, which builds the
 * first epoch if needed) once the transparency log exists, since every epoch's key is logged when
 * the epoch is created (`log`). Privacy Pass tokens are checked against the registry's issuer
 * keys (`tokens`). With `shared`, its budgets are counted in Redis, like the HTTP rate limits
 * (context.ts rateLimiters()), and spent tokens are checked there first.
 */
export async function createPrivateLookup(
  loaded: LoadedConfig,
  store: Store,
  now: () => number,
  budgets: Budgets = {},
  log: () => TransparencyLog | undefined,
  tokens: Pick<TokenRedeemerOptions, 'registry' | 'onOutcome'>,
): Promise<PrivateLookup | undefined> {
  const settings = privateLookupSettings(loaded);
  if (settings === undefined) return undefined;
  const index = new PrivateIndex({
    store,
    dpId: loaded.config.dp.id,
    kek: readOrCreateSecretFile(settings.kekFile, 'privateLookup.kekFile'),
    kAnonymity: settings.kAnonymity,
    rotationSeconds: settings.rotationSeconds,
    overlapSeconds: settings.overlapSeconds,
    buildBatch: settings.buildBatch,
    maxEvaluateBatch: settings.maxEvaluateBatch,
    now,
    log,
  });
  return {
    index,
    settings,
    evaluations: {
      msp: new EvaluationBudget(settings.budgets.msp, 'private-msp', budgets),
      anonymous: new EvaluationBudget(settings.budgets.anonymous, 'private-anonymous', budgets),
      tokens: new EvaluationBudget(settings.budgets.tokens, 'private-tokens', budgets),
    },
    tokens: new TokenRedeemer({ ...tokens, dpId: loaded.config.dp.id, store, now, shared: budgets.shared }),
    buckets: budgetLimiter(budgets, 'private-buckets', {
      points: settings.bucketRequestsPerMinute,
      perSeconds: 60,
    }),
  };
}
