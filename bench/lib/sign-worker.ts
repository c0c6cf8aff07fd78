/**
 * A worker thread of bench/lib/signer-pool.ts: signs slices of the bench fixtures, either stored
 * rows exactly as DiscoveryProvider.accept writes them (`rows`, leaf i of the log for mapping i)
 * or submissions as an MSP posts them (`submissions`). It never touches a database.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { acceptedRow, devnetSigners, signedSubmission } from './fixtures.js';

export interface SignJob {
  id: number;
  kind: 'rows' | 'submissions';
  from: number;
  to: number;
}

const { dir, now } = workerData as { dir: string; now: number };
const signers = devnetSigners(dir);

parentPort!.on('message', (job: SignJob) => {
  try {
    const out: unknown[] = [];
    for (let i = job.from; i < job.to; i++) {
      const sub = signedSubmission(signers, i, now);
      out.push(job.kind === 'rows' ? acceptedRow(signers, sub, now, i) : sub);
    }
    parentPort!.postMessage({ id: job.id, items: out });
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).stack ?? String(err) });
  }
});
