import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** A checkpoint is asked for after this many committed writes (about 1,000 WAL pages of accepts). */
const checkpointEvery = 200;
/** SQLite's own checkpoint, at commit, when the checkpointer falls this far behind (pages). */
const backstopPages = 8000;

const checkpointerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {}
  parentPort.postMessage('done');
});
`;

/** The checkpointer thread: one PASSIVE checkpoint at a time, one more queued at most. */
class CheckpointThread {
  readonly worker: Worker;
  private busy = false;
  private again = false;
  private readonly exited: Promise<void>;

  constructor(path: string) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(checkpointerSource, { eval: true, workerData: { driver, path } });
    this.worker.unref();
    this.worker.on('message', () => {
      this.busy = this.again;
      if (this.again) this.worker.postMessage('checkpoint');
      this.again = false;
    });
    this.exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('error', () => undefined);
  }

  request(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.worker.postMessage('checkpoint');
  }

  async close(): Promise<void> {
    // Held while closing: an unref'd thread would let the process end with close() pending.
    this.worker.ref();
    this.worker.postMessage('close');
    await this.exited;
  }
}

/**
 * WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the COMMIT
 * that crosses wal_autocheckpoint pages and blocks the event loop on its two fsyncs; a busy
 * store instead asks a checkpointer thread with its own connection for a PASSIVE checkpoint
 * (which never blocks the writer) every checkpointEvery writes. The thread only copies WAL
 * pages and waits on fsync; the automatic checkpoint stays on, at a higher mark, as a backstop.
 * Started on first need, so a store that writes little never starts it.
 */
export class Checkpointer {
  private thread: CheckpointThread | undefined;
  private writesSinceCheckpoint = 0;
  private closed = false;

  constructor(
    private readonly writer: Database.Database,
    private readonly path: string,
  ) {}

  /** Counts committed writes; asks for a checkpoint every checkpointEvery of them. */
  committed(writes: number): void {
    this.writesSinceCheckpoint += writes;
    if (this.writesSinceCheckpoint < checkpointEvery) return;
    this.writesSinceCheckpoint = 0;
    this.checkpoint();
  }

  private checkpoint(): void {
    if (this.closed) return;
    if (this.thread === undefined) {
      try {
        this.thread = new CheckpointThread(this.path);
      } catch {
        return; // the automatic checkpoint keeps doing the work
      }
      this.thread.worker.once('error', () => {
        this.thread = undefined;
        if (!this.closed) this.writer.pragma('wal_autocheckpoint = 1000');
      });
      this.writer.pragma(`wal_autocheckpoint = ${backstopPages}`);
    }
    this.thread.request();
  }

  /** Stops the thread; call before closing the writer. */
  async close(): Promise<void> {
    this.closed = true;
    await this.thread?.close();
  }
}
