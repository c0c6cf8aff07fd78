import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { KeyPair } from '../crypto/keys.js';
import { challengeName, dns01Value } from '../protocol/dns-names.js';
import { type AnyErrorCode, MimiError } from '../protocol/errors.js';
import { CsiKind, parseCsi } from '../protocol/identifiers.js';
import { type PossessionAttestation, PossessionMethod } from '../protocol/records.js';
import { type Challenge, ChallengeState, type Store, type StoreTx } from '../store/store.js';
import { signAttestation } from './attestation.js';
import type { OtpChannel } from './channels.js';
import type { TxtResolver } from './dns01.js';

export interface VerifierOptions {
  id: string;
  key: KeyPair;
  store: Store;
  /** Secret that keys the stored code hashes; a leaked database then reveals no code. */
  secret: Uint8Array;
  channels: { tel?: OtpChannel; mailto?: OtpChannel };
  /** R29: resolves `_mimi-challenge.<domain>` for dns-01; without it, no native identifier is attested. */
  dns?: TxtResolver;
  /** These five from the resolved config (src/server/config-defaults.ts). */
  codeTtlSeconds: number;
  /** Digits of a one-time code, 6 to 10 (the wire's bounds, ChallengeAnswer in records.ts). */
  codeDigits: number;
  maxAttempts: number;
  /** Challenges per CSI, and per mailbox for email, per hour: stops SMS pumping and mail bombing through us. */
  maxChallengesPerHour: number;
  attestationLifetimeSeconds: number;
  now: () => number;
  /** Random source for codes and ids (tests); defaults to node:crypto. */
  random?: { int(max: number): number; bytes(n: number): Uint8Array };
}

export interface StartedChallenge {
  challengeId: string;
  method: PossessionMethod;
  expiresAt: number;
  channel: string;
  /** dns-01 only: publish `value` as a TXT record at `name`, then ask for the check. */
  dns?: { name: string; token: string; value: string };
}

/**
 * R1: possession challenges with one-time codes. Codes are short-lived, tried a bounded number of
 * times, stored only as an HMAC and compared in constant time.
 */
export class PossessionVerifier {
  readonly id: string;
  private readonly opts: VerifierOptions;
  private readonly now: () => number;
  private readonly random: NonNullable<VerifierOptions['random']>;

  constructor(opts: VerifierOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.now = opts.now;
    this.random = opts.random ?? { int: (max) => randomInt(max), bytes: (n) => randomBytes(n) };
  }

  get maxAttempts(): number {
    return this.opts.maxAttempts;
  }

  async start(csiInput: string, holderKey: string): Promise<StartedChallenge> {
    const parsed = parseCsi(csiInput);
    if (parsed.kind === CsiKind.Native) return this.startDns01(parsed.uri, holderKey);
    const csi = parsed.uri;
    const kind = parsed.kind === CsiKind.Phone ? 'tel' : 'mailto';
    const channel = this.opts.channels[kind];
    if (channel === undefined) {
      throw new MimiError(
        'channel-unavailable',
        `this verifier sends no codes to ${kind === 'tel' ? 'phones' : 'email'}`,
      );
    }
    const method = kind === 'tel' ? PossessionMethod.SmsOtp : PossessionMethod.EmailOtp;
    const now = this.now();
    const ttl = this.opts.codeTtlSeconds;
    const digits = this.opts.codeDigits;
    const code = String(this.random.int(10 ** digits)).padStart(digits, '0');
    const id = Buffer.from(this.random.bytes(16)).toString('base64url');
    await this.insert({ id, csi, holderKey, method, codeHash: this.hash(id, code), now, ttl });
    // Sent after the commit: a code that was sent always has its challenge stored.
    await channel.send(csi, code, ttl);
    return { challengeId: id, method, expiresAt: now + ttl, channel: channel.name };
  }

  private async insert(c: {
    id: string;
    csi: string;
    holderKey: string;
    method: PossessionMethod;
    codeHash: string;
    now: number;
    ttl: number;
  }): Promise<void> {
    await this.opts.store.write(async (tx) => {
      const cap = this.opts.maxChallengesPerHour;
      // The cap counts per CSI and, for email, per mailbox too: plus-addressed variants of one
      // mailbox (bob+1@d, bob+2@d, ...) share one cap instead of one each (mailboxOf).
      const recent = c.csi.startsWith('mailto:')
        ? Math.max(
            await tx.countRecentChallenges(c.csi, c.now - 3600),
            await tx.countRecentMailboxChallenges(c.csi, c.now - 3600),
          )
        : await tx.countRecentChallenges(c.csi, c.now - 3600);
      if (recent >= cap) {
        throw new MimiError('rate-limited', 'too many challenges for this identifier; try again later', {
          retryAfter: 3600,
        });
      }
      await tx.insertChallenge({
        id: c.id,
        csi: c.csi,
        holderKey: c.holderKey,
        method: c.method,
        codeHash: c.codeHash,
        createdAt: c.now,
        expiresAt: c.now + c.ttl,
        attempts: 0,
        state: ChallengeState.Pending,
      });
    });
  }

  /**
   * R29, RFC 8555 §8.4: a native identifier is proven by control of its domain. The token is
   * derived from the challenge id under the verifier's secret, so it need not be stored; the row
   * keeps its HMAC like a code's. The holder publishes dns01Value(token, its key) and asks for the
   * check; the record names the holder key, so it proves nothing for anyone else's key.
   */
  private async startDns01(csi: string, holderKey: string): Promise<StartedChallenge> {
    if (this.opts.dns === undefined) {
      throw new MimiError('channel-unavailable', 'this verifier runs no dns-01 challenges');
    }
    const now = this.now();
    // Long enough for a zone update to reach the authoritative servers (RFC 8555 leaves it open).
    const ttl = Math.max(this.opts.codeTtlSeconds, 600);
    const id = Buffer.from(this.random.bytes(16)).toString('base64url');
    const token = this.dnsToken(id);
    await this.insert({
      id,
      csi,
      holderKey,
      method: PossessionMethod.Dns01,
      codeHash: this.hash(id, token),
      now,
      ttl,
    });
    return {
      challengeId: id,
      method: PossessionMethod.Dns01,
      expiresAt: now + ttl,
      channel: 'dns',
      dns: { name: challengeName(csi), token, value: dns01Value(token, holderKey) },
    };
  }

  /**
   * Looks up the dns-01 record and, when one of the TXT records at the challenge name carries the
   * expected value, signs the attestation. A lookup that finds no such record spends an attempt; a
   * resolver that does not answer spends none (it is the verifier's failure, not the holder's).
   */
  async checkDns01(challengeId: string): Promise<PossessionAttestation> {
    const dns = this.opts.dns;
    const first = await this.opts.store.write((tx) => tx.challenge(challengeId));
    this.assertOpen(first, this.now());
    const c = first!;
    if (c.method !== PossessionMethod.Dns01 || dns === undefined) {
      throw new MimiError('challenge-not-found', 'this challenge is not answered through DNS');
    }
    const expected = dns01Value(this.dnsToken(challengeId), c.holderKey);
    const records = await dns.resolveTxt(challengeName(c.csi));
    // RFC 7208 §3.3 style: a TXT record's strings are one value.
    const good = records.some((strings) => strings.join('') === expected);
    const now = this.now();
    const attempts = await this.opts.store.write(async (tx) => {
      const again = await tx.challenge(challengeId);
      this.assertOpen(again, now);
      return this.spendAttempt(tx, again, good);
    });
    if (!good)
      throw this.wrongAttempt(
        attempts,
        'dns-challenge-failed',
        `no TXT record at ${challengeName(c.csi)} answers the challenge`,
      );
    return this.attest(c, now);
  }

  private assertOpen(c: Challenge | undefined, now: number): asserts c is Challenge {
    if (c === undefined) throw new MimiError('challenge-not-found', 'no such challenge');
    if (c.state === ChallengeState.Failed || c.attempts >= this.maxAttempts) {
      throw new MimiError('too-many-attempts', 'this challenge is spent; start a new one');
    }
    if (c.state === ChallengeState.Passed)
      throw new MimiError('challenge-not-found', 'this challenge was already used');
    if (c.expiresAt <= now)
      throw new MimiError('challenge-expired', 'the challenge expired; start a new one');
  }

  /**
   * R1: counts one attempt at `c`: a good one passes the challenge, a wrong one on the last allowed
   * attempt spends it. The attempts made, this one included.
   */
  private async spendAttempt(tx: StoreTx, c: Challenge, good: boolean): Promise<number> {
    const attempts = c.attempts + 1;
    const state = good
      ? ChallengeState.Passed
      : attempts >= this.maxAttempts
        ? ChallengeState.Failed
        : ChallengeState.Pending;
    await tx.updateChallenge(c.id, attempts, state);
    return attempts;
  }

  /** R1: a wrong attempt's error: `code` with the attempts left, or too-many-attempts when none is. */
  private wrongAttempt(attempts: number, code: AnyErrorCode, message: string): MimiError {
    const attemptsLeft = this.maxAttempts - attempts;
    if (attemptsLeft <= 0)
      return new MimiError('too-many-attempts', `${message}; this challenge is now spent`);
    return new MimiError(code, message, { attemptsLeft });
  }

  private dnsToken(challengeId: string): string {
    return createHmac('sha256', this.opts.secret).update(`dns-01:${challengeId}`).digest('base64url');
  }

  /** Check a code; on success returns a signed attestation binding the CSI to the holder key. */
  async answer(challengeId: string, code: string): Promise<PossessionAttestation> {
    const now = this.now();
    const outcome = await this.opts.store.write(async (tx) => {
      const c = await tx.challenge(challengeId);
      // A dns-01 challenge is answered by its record, never by a guessed code.
      if (c?.method === PossessionMethod.Dns01)
        throw new MimiError('challenge-not-found', 'this challenge is answered through DNS');
      this.assertOpen(c, now);
      const good = timingSafeEqual(Buffer.from(this.hash(challengeId, code)), Buffer.from(c.codeHash));
      return { good, attempts: await this.spendAttempt(tx, c, good), challenge: c };
    });
    if (!outcome.good) throw this.wrongAttempt(outcome.attempts, 'code-invalid', 'wrong code');
    const c = outcome.challenge;
    return this.attest(c, now);
  }

  /** R1, R5: the attestation for a challenge passed now. */
  private attest(c: Pick<Challenge, 'csi' | 'holderKey' | 'method'>, now: number): PossessionAttestation {
    return signAttestation(
      {
        csi: c.csi,
        holderKey: c.holderKey,
        method: c.method,
        issuer: this.id,
        issuedAt: now,
        lifetimeSeconds: this.opts.attestationLifetimeSeconds,
      },
      this.opts.key.privateKey,
    );
  }

  private hash(challengeId: string, code: string): string {
    return createHmac('sha256', this.opts.secret).update(`${challengeId}:${code}`).digest('base64url');
  }
}
