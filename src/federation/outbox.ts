import type { SigningKey } from '../crypto/keys.js';
import { digest } from '../crypto/sign.js';
import type { DpEvent } from '../dp/provider.js';
import { EventAck } from '../protocol/answers.js';
import type { Clock } from '../protocol/clock.js';
import { MimiError } from '../protocol/errors.js';
import type { FederationEvent, Notice } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { OutboxItem, Store, StoreTx } from '../store/store.js';
import { signPeerRequest } from './http-signature.js';
import { callPeer, PeerCallError } from './peer-client.js';

const webhookPrefix = 'webhook:';

/**
 * Turns what the DP wants said (R18 events, MSP notices) into outbox rows, in the transaction of
 * the change itself: a committed change always has its announcements queued, and a rolled-back
 * one never does.
 */
export async function enqueueDpEvent(
  tx: StoreTx,
  event: DpEvent,
  ctx: { self: string; registry: Registry; now: number },
): Promise<void> {
  const nowMs = ctx.now * 1000;
  if (event.kind === 'federation') {
    const { kind, payload, to } = event.event;
    const envelope: FederationEvent = {
      v: 1,
      // A reply to one peer is another event than the same record broadcast to all.
      id: digest({ kind, payload, to: to ?? null }),
      origin: ctx.self,
      kind,
      payload,
      issuedAt: ctx.now,
    };
    const targets = ctx.registry
      .allDps()
      .map((d) => d.id)
      .filter((id) => id !== ctx.self && (to === undefined || id === to));
    const body = JSON.stringify(envelope);
    await tx.enqueue(
      targets.map((target) => ({ target, eventId: envelope.id, body })),
      nowMs,
    );
    return;
  }
  const msp = ctx.registry.msp(event.notice.msp);
  if (msp?.webhook === undefined) return;
  const unsigned = { v: 1 as const, dp: ctx.self, ...event.notice, at: ctx.now };
  const notice: Notice = { ...unsigned, id: digest(unsigned) };
  await tx.enqueue(
    [{ target: `${webhookPrefix}${msp.id}`, eventId: notice.id, body: JSON.stringify(notice) }],
    nowMs,
  );
}

export interface OutboxOptions {
  store: Store;
  registry: () => Registry;
  self: { id: string; key: SigningKey };
  /** These four from the resolved config (federation.outbox*, src/server/config-defaults.ts). */
  intervalMs: number;
  maxBackoffMs: number;
  /** The first retry's backoff, doubled at each failure up to maxBackoffMs. */
  baseBackoffMs: number;
  /** One delivery's timeout: a peer's event or an MSP's webhook. */
  timeoutMs: number;
  onDelivered?: (item: OutboxItem, ms: number) => void;
  onError?: (item: OutboxItem, err: unknown) => void;
  /** Due times and backoff (ms), and the signatures' `created` (s). */
  clock: Clock;
}

/**
 * Delivers the outbox: each target's events in order, targets in parallel, retried with
 * exponential backoff (and jitter) until acknowledged. Receivers are idempotent by event id, so
 * a delivery that was acknowledged but not recorded here is simply sent again.
 *
 * Many nodes (R22): the worker runs only on the node leading `LeaderRole.Outbox`
 * (src/store/leadership.ts), which calls start() when the node gains the role and stop() when it
 * loses it; on the other nodes kick() does nothing and their queued rows wait for the leader's
 * next round (one interval). Should two nodes ever overlap (a leader cut off from the database
 * still finishing a round), an item is at worst delivered twice, which receivers ignore.
 */
export class OutboxWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** True between start() and stop(): only then do rounds run. */
  private active = false;
  private closed = false;
  private readonly opts: OutboxOptions;
  private readonly clock: () => number;

  constructor(opts: OutboxOptions) {
    this.opts = opts;
    this.clock = opts.clock.nowMs;
  }

  /** Delivers every interval (and on kick) until stop(). */
  start(): void {
    if (this.closed || this.active) return;
    this.active = true;
    this.timer = setInterval(() => this.kick(), this.opts.intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** No new round starts; resolves when the round under way is over. start() may follow. */
  async stop(): Promise<void> {
    this.active = false;
    this.again = false;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Run a delivery round now (after a commit that queued something), or right after the current one. */
  kick(): void {
    if (this.closed || !this.active) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.round()
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Runs a round now and resolves once no round is under way: what was due has been delivered
   * or rescheduled. Tests drive delivery with it instead of waiting for the interval.
   */
  async settled(): Promise<void> {
    this.kick();
    while (this.running !== undefined) await this.running;
  }

  /** One round: everything due, delivered. Resolves when the round is over. */
  async round(): Promise<void> {
    const due = await this.opts.store.write((tx) => tx.dueOutbox(this.clock(), 500));
    const byTarget = new Map<string, OutboxItem[]>();
    for (const item of due) byTarget.set(item.target, [...(byTarget.get(item.target) ?? []), item]);
    await Promise.all([...byTarget.values()].map((items) => this.deliverInOrder(items)));
  }

  private async deliverInOrder(items: OutboxItem[]): Promise<void> {
    for (const item of items) {
      // The delivery's latency is measured, not read from the clock (a test clock stands still).
      const started = performance.now();
      try {
        await this.deliver(item);
        await this.opts.store.write((tx) => tx.outboxDelivered(item.id, this.clock()));
        this.opts.onDelivered?.(item, Math.round(performance.now() - started));
      } catch (err) {
        const attempts = item.attempts + 1;
        const base = this.opts.baseBackoffMs;
        const backoff = Math.min(this.opts.maxBackoffMs, base * 2 ** Math.min(attempts, 20));
        const next = this.clock() + backoff / 2 + Math.random() * (backoff / 2);
        await this.opts.store.write((tx) => tx.outboxRetry(item.id, attempts, next, failureOf(err)));
        this.opts.onError?.(item, err);
        return; // keep this target's order: later events wait for this one
      }
    }
  }

  private async deliver(item: OutboxItem): Promise<void> {
    const registry = this.opts.registry();
    const { timeoutMs } = this.opts;
    if (item.target.startsWith(webhookPrefix)) {
      const msp = registry.msp(item.target.slice(webhookPrefix.length));
      if (msp?.webhook === undefined) return; // no webhook any more: nothing to deliver
      const signed = await signPeerRequest(
        { method: 'POST', url: msp.webhook, body: item.body },
        this.opts.self,
        { created: new Date(this.opts.clock.now() * 1000) },
      );
      const res = await fetch(msp.webhook, {
        method: 'POST',
        headers: signed.headers,
        body: signed.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel();
      if (!res.ok) throw new MimiError('unreachable', `webhook answered HTTP ${res.status}`);
      return;
    }
    const peer = registry.dp(item.target);
    if (peer === undefined) return; // left the federation: drop
    await callPeer(peer.endpoint, '/v1/federation/events', JSON.parse(item.body), EventAck, {
      self: this.opts.self,
      timeoutMs,
      maxAnswerBytes: 64 * 1024,
      now: this.opts.clock.now,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }
}

/** What the outbox records of a failed delivery: for a peer call, how it failed and the peer's code. */
function failureOf(err: unknown): string {
  if (err instanceof PeerCallError) return `${err.outcome} ${err.code}: ${err.message}`;
  return (err as Error).message;
}
