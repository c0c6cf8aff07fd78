import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { KeyPair } from '../crypto/keys.js';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { type PossessionAttestation, PossessionMethod } from '../protocol/records.js';
import { ChallengeState, type Store } from '../store/store.js';
import { signAttestation } from './attestation.js';
import type { OtpChannel } from './channels.js';

export interface VerifierOptions {
  id: string;
  key: KeyPair;
  store: Store;
  /** Secret that keys the stored code hashes; a leaked database then reveals no code. */
  secret: Uint8Array;
  channels: { tel?: OtpChannel; mailto?: OtpChannel };
  codeDigits?: number;
  codeTtlSeconds?: number;
  maxAttempts?: number;
  /** Challenges per CSI, and per mailbox for email, per hour: stops SMS pumping and mail bombing through us. */
  maxChallengesPerHour?: number;
  attestationLifetimeSeconds?: number;
  now?: () => number;
  /** Random source for codes and ids (tests); defaults to node:crypto. */
  random?: { int(max: number): number; bytes(n: number): Uint8Array };
}

export interface StartedChallenge {
  challengeId: string;
  method: PossessionMethod;
  expiresAt: number;
  channel: string;
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
    this.now = opts.now ?? nowSeconds;
    this.random = opts.random ?? { int: (max) => randomInt(max), bytes: (n) => randomBytes(n) };
  }

  get maxAttempts(): number {
    return this.opts.maxAttempts ?? 5;
  }

  async start(csiInput: string, holderKey: string): Promise<StartedChallenge> {
    const csi = parseCsi(csiInput).uri;
    const kind = csi.startsWith('tel:') ? 'tel' : 'mailto';
    const channel = this.opts.channels[kind];
    if (channel === undefined) {
      throw new MimiError(
        'channel-unavailable',
        `this verifier sends no codes to ${kind === 'tel' ? 'phones' : 'email'}`,
      );
    }
    const method = kind === 'tel' ? PossessionMethod.SmsOtp : PossessionMethod.EmailOtp;
    const now = this.now();
    const ttl = this.opts.codeTtlSeconds ?? 300;
    const digits = this.opts.codeDigits ?? 6;
    const code = String(this.random.int(10 ** digits)).padStart(digits, '0');
    const id = Buffer.from(this.random.bytes(16)).toString('base64url');
    await this.opts.store.write(async (tx) => {
      const cap = this.opts.maxChallengesPerHour ?? 5;
      // The cap counts per CSI and, for email, per mailbox too: plus-addressed variants of one
      // mailbox (bob+1@d, bob+2@d, ...) share one cap instead of one each (mailboxOf).
      const recent =
        kind === 'mailto'
          ? Math.max(
              await tx.countRecentChallenges(csi, now - 3600),
              await tx.countRecentMailboxChallenges(csi, now - 3600),
            )
          : await tx.countRecentChallenges(csi, now - 3600);
      if (recent >= cap) {
        throw new MimiError('rate-limited', 'too many challenges for this identifier; try again later', {
          retryAfter: 3600,
        });
      }
      await tx.insertChallenge({
        id,
        csi,
        holderKey,
        method,
        codeHash: this.hash(id, code),
        createdAt: now,
        expiresAt: now + ttl,
        attempts: 0,
        state: ChallengeState.Pending,
      });
    });
    // Sent after the commit: a code that was sent always has its challenge stored.
    await channel.send(csi, code, ttl);
    return { challengeId: id, method, expiresAt: now + ttl, channel: channel.name };
  }

  /** Check a code; on success returns a signed attestation binding the CSI to the holder key. */
  async answer(challengeId: string, code: string): Promise<PossessionAttestation> {
    const now = this.now();
    const outcome = await this.opts.store.write(async (tx) => {
      const c = await tx.challenge(challengeId);
      if (c === undefined) throw new MimiError('challenge-not-found', 'no such challenge');
      if (c.state === ChallengeState.Failed || c.attempts >= this.maxAttempts) {
        throw new MimiError('too-many-attempts', 'this challenge is spent; start a new one');
      }
      if (c.state === ChallengeState.Passed)
        throw new MimiError('challenge-not-found', 'this challenge was already used');
      if (c.expiresAt <= now)
        throw new MimiError('challenge-expired', 'the code expired; start a new challenge');
      const attempts = c.attempts + 1;
      const good = timingSafeEqual(Buffer.from(this.hash(challengeId, code)), Buffer.from(c.codeHash));
      const state = good
        ? ChallengeState.Passed
        : attempts >= this.maxAttempts
          ? ChallengeState.Failed
          : ChallengeState.Pending;
      await tx.updateChallenge(challengeId, attempts, state);
      return { good, attempts, challenge: c };
    });
    if (!outcome.good) {
      const attemptsLeft = this.maxAttempts - outcome.attempts;
      if (attemptsLeft <= 0)
        throw new MimiError('too-many-attempts', 'wrong code; this challenge is now spent');
      throw new MimiError('code-invalid', 'wrong code', { attemptsLeft });
    }
    const c = outcome.challenge;
    return signAttestation(
      {
        csi: c.csi,
        holderKey: c.holderKey,
        method: c.method,
        issuer: this.id,
        issuedAt: now,
        lifetimeSeconds: this.opts.attestationLifetimeSeconds ?? 365 * 86_400,
      },
      this.opts.key.privateKey,
    );
  }

  private hash(challengeId: string, code: string): string {
    return createHmac('sha256', this.opts.secret).update(`${challengeId}:${code}`).digest('base64url');
  }
}
