import { blindTokenRequest } from '../crypto/privacy-pass.js';
import { fromB64u, nowSeconds } from '../protocol/encoding.js';
import { fromProblem, fromProblemBody, MimiError } from '../protocol/errors.js';
import { PrivacyPass, privateTokenHeader } from '../protocol/privacy-pass.js';
import type { Registry } from '../registry/document.js';
import { type RegistryInput, registryGetter } from './registry-input.js';

/**
 * Where {@link PrivateTokens} gets its tokens, and for which DP.
 *
 * @example
 * const opts: PrivateTokenOptions = { msp: 'msp1', dpId: 'dp1', registry, issuer: { url, credential: userSecret } };
 */
export interface PrivateTokenOptions {
  /** The user's own MSP (registry id): its issuer signs the tokens. */
  msp: string;
  /** The DP the tokens are for (its registry id, the TokenChallenge's origin_info). */
  dpId: string;
  /** The MSP's issuer: its base URL and this user's bearer credential there (the attester). */
  issuer: { url: string; credential: string; timeoutMs?: number };
  registry: RegistryInput;
  /** Unix seconds; default: the clock. */
  now?: () => number;
}

/** Issuance requests under way at once. */
const maxInFlight = 8;

/**
 * The SDK's Privacy Pass client (RFC 9578 §6): fetches tokens for one DP from the user's MSP
 * issuer and hands them out, one per private evaluation request, as Authorization header values.
 *
 * The issuer key and name come from the signed registry, never from the issuer: an issuer that
 * signed a user's tokens under a key of its own would let the DP tell that user apart (RFC 9576
 * §6.1, key consistency). Tokens are blinded, so the issuer learns how many tokens the user
 * fetched, and when, but not for which DP, nor which lookup spent which.
 *
 * @example
 * const tokens = new PrivateTokens({ msp: 'msp1', dpId: 'dp1', registry,
 *   issuer: { url: 'https://issuer.chat.example', credential: userSecret } });
 * await tokens.fetch(3);
 * const lookup = new PrivateLookupClient({ dp, registry, tokens });
 */
export class PrivateTokens {
  private readonly opts: PrivateTokenOptions & { registry: () => Registry };
  /** Tokens in hand or being fetched, in the order they are handed out; a failed fetch leaves it. */
  private readonly queue: Promise<Uint8Array>[] = [];
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(opts: PrivateTokenOptions) {
    this.opts = { ...opts, registry: registryGetter(opts.registry) };
  }

  /** Tokens fetched, or being fetched, and not spent yet. */
  get available(): number {
    return this.queue.length;
  }

  /**
   * Fetches `n` tokens (one issuance request each, RFC 9578 §6.1; several under way at once).
   * The first failure is thrown once all are settled; the tokens that came stay available.
   */
  async fetch(n: number): Promise<void> {
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new TypeError('fetch between 1 and 1000 tokens');
    const batch = this.start(n);
    const settled = await Promise.allSettled(batch);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /**
   * Starts fetching what is missing for `n` tokens in hand, without waiting: a private lookup
   * knows how many evaluation requests it will make and calls this before the first, so that
   * the issuer's round trips overlap instead of preceding each request. A failure shows at
   * {@link next}, which then fetches on demand.
   */
  prepare(n: number): void {
    const missing = Math.min(1000, n) - this.queue.length;
    if (missing > 0) this.start(missing);
  }

  /** The Authorization header value that spends the next token; fetches one when none is left. */
  async next(): Promise<string> {
    const token = await (this.queue.shift() ?? this.limited());
    return privateTokenHeader(token);
  }

  /** Queues `n` fetches; each leaves the queue if it fails. */
  private start(n: number): Promise<Uint8Array>[] {
    const batch = Array.from({ length: n }, () => {
      const p = this.limited();
      p.catch(() => {
        const at = this.queue.indexOf(p);
        if (at >= 0) this.queue.splice(at, 1);
      });
      return p;
    });
    this.queue.push(...batch);
    return batch;
  }

  /** One issuance, at most `maxInFlight` of them under way at once. */
  private async limited(): Promise<Uint8Array> {
    // A finished fetch hands its place to the next waiting one.
    if (this.inFlight < maxInFlight) this.inFlight++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await this.fetchOne();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.inFlight--;
      else next();
    }
  }

  private async fetchOne(): Promise<Uint8Array> {
    const { msp: mspId, dpId, issuer } = this.opts;
    const msp = this.opts.registry().msp(mspId);
    const now = (this.opts.now ?? nowSeconds)();
    // The newest current key the registry lists: the one every user of this MSP uses.
    const key = msp?.issuer?.tokenKeys
      .filter((k) => k.notAfter > now)
      .sort((a, b) => b.notAfter - a.notAfter)[0];
    if (msp?.issuer === undefined || key === undefined) {
      throw new MimiError('token-key-unknown', `MSP ${mspId} lists no current Privacy Pass issuer key`);
    }
    const pending = await blindTokenRequest(fromB64u(key.key, 'token key'), msp.issuer.name, dpId);
    let res: Response;
    try {
      res = await fetch(new URL('/token-request', issuer.url), {
        method: 'POST',
        headers: {
          'content-type': PrivacyPass.RequestMediaType,
          accept: PrivacyPass.ResponseMediaType,
          authorization: `Bearer ${issuer.credential}`,
        },
        body: pending.request,
        signal: AbortSignal.timeout(issuer.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new MimiError('unreachable', `${issuer.url} did not answer: ${(err as Error).message}`);
    }
    const body = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) {
      throw fromProblemBody(body, res.status) ?? fromProblem(undefined, res.status);
    }
    if (res.headers.get('content-type') !== PrivacyPass.ResponseMediaType) {
      throw new MimiError('token-invalid', `the issuer did not answer ${PrivacyPass.ResponseMediaType}`);
    }
    return pending.finalize(body);
  }
}
