/**
 * A per-peer circuit breaker: after `failures` consecutive failures the peer is skipped for
 * `cooldownMs`, then one trial call decides. Hand-written because it is a dozen lines of state
 * and the well-known library (opossum) wants Node 22 and wraps calls in its own timeouts.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
    /** Milliseconds: the node's clock (src/protocol/clock.ts). */
    private readonly clock: () => number,
  ) {}

  /** May we call now? In the half-open state only one trial call is let through. */
  allow(): boolean {
    if (this.consecutive < this.failures) return true;
    if (this.clock() < this.openUntil || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.consecutive = 0;
    this.trialInFlight = false;
  }

  failure(): void {
    this.consecutive++;
    this.trialInFlight = false;
    if (this.consecutive >= this.failures) this.openUntil = this.clock() + this.cooldownMs;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.consecutive < this.failures) return 'closed';
    return this.clock() < this.openUntil ? 'open' : 'half-open';
  }
}
