import type pg from 'pg';

/**
 * One write's statements on its connection, in pg's pipeline mode (the pool's clients are made
 * with `pipeline: true`): a statement is written to the socket as soon as it is issued, and the
 * answers come back in order. A statement whose answer nobody needs is sent and not awaited, so
 * it travels with the next one that is awaited, or with COMMIT: one round trip for the lot, each
 * of which costs the node a socket write and read (issue 16).
 *
 * Errors keep their meaning (the races PostgresStore.write retries, store-unavailable for a lost
 * connection), and a write still commits whole or not at all (R3: a mapping with its log leaf).
 * A statement that fails aborts the transaction; every statement after it then fails with 25P02
 * (in_failed_sql_transaction), and COMMIT of an aborted transaction answers ROLLBACK without an
 * error. So the first failure is kept, and whatever is awaited afterwards throws it, not its own
 * 25P02: the caller sees the error it saw when every statement was awaited.
 */
export class Pipeline {
  /** Statements sent and not yet awaited. */
  private readonly unsettled: Promise<unknown>[] = [];
  /** The first statement of this write that failed. */
  private failed: { error: unknown } | undefined;

  constructor(private readonly c: pg.PoolClient) {}

  /** Sends a statement and waits for its answer; throws the write's first failure. */
  async ask<R extends object>(
    name: string | undefined,
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R & Record<string, unknown>>> {
    try {
      return await this.query<R & Record<string, unknown>>(name, text, values);
    } catch (err) {
      throw await this.firstFailure(err);
    }
  }

  /** Sends a statement whose answer nobody needs; its failure is thrown by what is awaited next. */
  send(name: string | undefined, text: string, values: unknown[] = []): void {
    this.unsettled.push(this.query(name, text, values).catch(() => undefined));
  }

  /**
   * Sends COMMIT behind the statements not awaited yet; settle() then waits for them all. After a
   * failed statement the transaction is aborted and its COMMIT rolls back: nothing of the write is
   * committed. A statement pg refused to send aborted nothing on the server: then no COMMIT is
   * sent, and the caller rolls back. pg reports some refusals at once (a value it cannot bind),
   * others on the next tick (a statement name reused with another text): one tick is waited
   * first, so that those are known too. True when sent.
   */
  async commit(): Promise<boolean> {
    await new Promise<void>((resolve) => process.nextTick(resolve));
    if (this.failed !== undefined) return false;
    this.send(undefined, 'COMMIT');
    return true;
  }

  /** Waits for every statement sent; throws the first that failed. */
  async settle(): Promise<void> {
    await Promise.all(this.unsettled.splice(0));
    if (this.failed !== undefined) throw this.failed.error;
  }

  /** Waits for every statement sent; the first that failed, or `otherwise` when none did. */
  async firstFailure(otherwise: unknown): Promise<unknown> {
    // Answers come in order: the statements sent before a failed one have all been answered.
    await Promise.all(this.unsettled.splice(0));
    return this.failed === undefined ? otherwise : this.failed.error;
  }

  /** pg's callback form, so a failure is recorded when pg reports it, before anything else runs. */
  private query<R extends Record<string, unknown>>(
    name: string | undefined,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return new Promise((resolve, reject) => {
      const config = name === undefined ? { text, values } : { name, text, values };
      this.c.query<R>(config, (err, result) => {
        if (err) {
          this.failed ??= { error: err };
          reject(err);
        } else resolve(result);
      });
    });
  }
}
