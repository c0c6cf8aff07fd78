/**
 * What a test waits on instead of polling or sleeping: `until(check)` resolves once `check()`
 * holds, asked at once and again at each `changed()`, which whatever changes its inputs calls
 * (a request that ends, a role handed over, a child's output). A check that throws rejects.
 */
export class Condition {
  private readonly waiting = new Set<() => void>();

  changed(): void {
    for (const w of [...this.waiting]) w();
  }

  /** `timeoutMs` is a deadline, to fail rather than hang: nothing waits for it to pass. */
  until(check: () => boolean, opts: { timeoutMs?: number; what?: string } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      let deadline: NodeJS.Timeout | undefined;
      const finish = () => {
        this.waiting.delete(ask);
        clearTimeout(deadline);
      };
      const ask = () => {
        try {
          if (!check()) return;
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        finish();
        resolve();
      };
      if (opts.timeoutMs !== undefined) {
        const { timeoutMs, what = 'condition' } = opts;
        deadline = setTimeout(() => {
          finish();
          reject(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiting.add(ask);
      ask();
    });
  }
}
