import type { Clock } from '../../src/protocol/clock.js';

/**
 * A clock that moves only when a test moves it (STYLE.md §18): every component of a node built
 * with it, and every node of an in-process federation sharing it, sees the same time. It starts
 * at the wall clock's whole second, so certificates and registries made for "now" are valid.
 */
export class TestClock implements Clock {
  /** Milliseconds since the epoch. */
  ms = Math.floor(Date.now() / 1000) * 1000;
  readonly now = (): number => Math.floor(this.ms / 1000);
  readonly nowMs = (): number => this.ms;
  /** Moves time forward by `seconds` (fractions allowed). */
  advance(seconds: number): void {
    this.ms += Math.round(seconds * 1000);
  }
  /** Into the next whole second: records carry whole seconds, so a newer record needs one. */
  nextSecond(): void {
    this.ms = (Math.floor(this.ms / 1000) + 1) * 1000;
  }
}
