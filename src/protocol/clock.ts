/**
 * The one source of time (STYLE.md §17, §18). The context builds every component with the same
 * clock: the system's in production, a settable one in tests (test/support/clock.ts), so a
 * scenario moves time forward instead of sleeping. Both readers are plain functions that need no
 * `this`, so `clock.now` may be handed on alone where a component takes `now: () => number`.
 *
 * Elapsed durations (a call's latency, a timeout) are measured, not read from the clock: a test
 * clock stands still while a request runs.
 */
export interface Clock {
  /** Whole seconds since the epoch: what records, tokens and checkpoints carry. */
  readonly now: () => number;
  /** Milliseconds since the epoch: outbox due times, breaker cooldowns, replay-cache expiries. */
  readonly nowMs: () => number;
}

/**
 * How far a signed request's `issuedAt` (a holder request, a session request) may lie from the
 * DP's clock, either way, before it is refused as `request-stale` (docs/spec/records.md §2.5).
 */
export const requestMaxAgeSeconds = 300;

export const systemClock: Clock = {
  now: () => Math.floor(Date.now() / 1000),
  nowMs: () => Date.now(),
};

/** A clock that reads `now` (seconds) for both, for components given only a seconds reader. */
export function clockOfSeconds(now: () => number): Clock {
  return { now, nowMs: () => now() * 1000 };
}
