import type { StoreTx } from '../store/store.js';
import { LogLeafKind } from '../tlog/leaf.js';
import type { DpCore } from './dp-core.js';
import { promotionIfVacant, resolveContest } from './precedence.js';

/** R17: contests whose window passed without a new proof are won by the newer holder. */
export async function resolveContests(core: DpCore): Promise<number> {
  const now = core.now();
  const { store } = core.opts;
  const due = await store.write((tx) => tx.csisWithDueContests(now));
  let resolved = 0;
  for (const csi of due) {
    resolved += await store.write(async (tx) => {
      const outcome = resolveContest({
        live: await core.liveOf(tx, csi, now),
        now,
        contestWindow: core.contestWindow,
      });
      if (outcome === undefined) return 0;
      await core.apply(tx, outcome, now);
      await core.logStatement(tx, LogLeafKind.ContestResolution, csi, now, {
        event: 'contest-won',
        winner: outcome.winner,
        displaced: outcome.displaced,
      });
      await core.servedChanged(tx, csi, now);
      return 1;
    });
  }
  return resolved;
}

/** When no holder is served any more, the oldest contender takes over (R17). */
export async function promoteIfVacant(core: DpCore, tx: StoreTx, csi: string, now: number): Promise<void> {
  await core.apply(tx, { transitions: promotionIfVacant(await core.liveOf(tx, csi, now)), notices: [] }, now);
}
