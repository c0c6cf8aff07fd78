/**
 * The benches' timing loop: call a function for a time or a number of calls, after an optional
 * warm-up, and give the rate per wall second and per CPU second of this process, and the time per
 * operation. A call that returns a number did that many operations (a batch, a wave of appends);
 * any other call counts as one.
 */

/** What a timed run gave. CPU time is this process's, every thread (process.cpuUsage). */
export interface Timing {
  readonly ops: number;
  readonly calls: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  /** Operations per wall second. */
  readonly perSecond: number;
  /** Operations per CPU second: on a shared machine others stretch wall time, not this. */
  readonly perCpuSecond: number;
  /** Wall milliseconds per operation. */
  readonly msPerOp: number;
  /** CPU milliseconds per operation. */
  readonly cpuMsPerOp: number;
}

export interface TimingOptions {
  /** Run until this much time has passed on `clock` (default 1 s unless `calls` is given). */
  readonly seconds?: number;
  /** Or run exactly this many calls. */
  readonly calls?: number;
  /** The clock `seconds` is counted on: `wall` (default) or `cpu`, this process's CPU time. */
  readonly clock?: 'wall' | 'cpu';
  /** Unmeasured calls first, for this many wall seconds ... */
  readonly warmupSeconds?: number;
  /** ... or this many calls. */
  readonly warmupCalls?: number;
  /** Calls between two looks at the clock, for calls so short that reading it would count (default 1). */
  readonly chunk?: number;
}

const cpuSecondsNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** One timed run: counts calls and operations and says when the budget is spent. */
class Run {
  private readonly wall0 = performance.now() / 1000;
  private readonly cpu0 = cpuSecondsNow();
  private ops = 0;
  private calls = 0;

  constructor(
    private readonly seconds: number | undefined,
    private readonly maxCalls: number | undefined,
    private readonly clock: 'wall' | 'cpu',
    private readonly chunk: number,
  ) {}

  /** How many calls to make before looking again: 0 when the budget is spent. */
  next(): number {
    if (this.maxCalls !== undefined) return Math.min(this.chunk, this.maxCalls - this.calls);
    const elapsed =
      this.clock === 'cpu' ? cpuSecondsNow() - this.cpu0 : performance.now() / 1000 - this.wall0;
    return elapsed < (this.seconds ?? 1) ? this.chunk : 0;
  }

  /** A call is done: `ops` is what it returned, the number of operations it did if a number. */
  done(ops: unknown): void {
    this.calls++;
    this.ops += typeof ops === 'number' ? ops : 1;
  }

  result(): Timing {
    const wallSeconds = performance.now() / 1000 - this.wall0;
    const cpuSeconds = cpuSecondsNow() - this.cpu0;
    const { ops, calls } = this;
    return {
      ops,
      calls,
      wallSeconds,
      cpuSeconds,
      perSecond: ops / wallSeconds,
      perCpuSecond: ops / cpuSeconds,
      msPerOp: (wallSeconds * 1000) / ops,
      cpuMsPerOp: (cpuSeconds * 1000) / ops,
    };
  }
}

function runs(o: TimingOptions): { warmup: Run | undefined; measured: () => Run } {
  const chunk = o.chunk ?? 1;
  if (o.seconds !== undefined && o.calls !== undefined)
    throw new TypeError('time: seconds or calls, not both');
  const warm = o.warmupSeconds !== undefined || o.warmupCalls !== undefined;
  return {
    warmup: warm ? new Run(o.warmupSeconds, o.warmupCalls, 'wall', chunk) : undefined,
    measured: () => new Run(o.seconds, o.calls, o.clock ?? 'wall', chunk),
  };
}

/**
 * Times `f`.
 *
 * @example
 * const t = time(() => createHash('sha256').update(input).digest(), { seconds: 1, chunk: 1000 });
 * console.log(`sha256_64B: ${Math.round(t.perSecond)} hashes/s`);
 */
export function time(f: () => unknown, o: TimingOptions = {}): Timing {
  const { warmup, measured } = runs(o);
  const loop = (run: Run) => {
    for (let k = run.next(); k > 0; k = run.next()) for (; k > 0; k--) run.done(f());
    return run;
  };
  if (warmup !== undefined) loop(warmup);
  return loop(measured()).result();
}

/** Times `f` as `time` does, awaiting each call before the next. */
export async function timeAsync(f: () => Promise<unknown>, o: TimingOptions = {}): Promise<Timing> {
  const { warmup, measured } = runs(o);
  const loop = async (run: Run) => {
    for (let k = run.next(); k > 0; k = run.next()) for (; k > 0; k--) run.done(await f());
    return run;
  };
  if (warmup !== undefined) await loop(warmup);
  return (await loop(measured())).result();
}
