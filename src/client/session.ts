import type { KeyPair } from '../crypto/keys.js';
import { cryptoProvider } from '../crypto/provider.js';
import { SignPurpose, signObject } from '../crypto/sign.js';
import { SessionAnswer } from '../protocol/answers.js';
import { toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { call, type HttpOptions } from './http.js';

/**
 * How a client authenticates to a DP (R23): as a registry participant with its key (a session is
 * opened with one signed request and renewed when it expires), or with bearer tokens from a
 * function (a session another part of the app keeps, e.g. `() => agent.sessionToken()`).
 *
 * @example
 * const credential: Credential = { participant: 'msp1', key: mspKey };
 */
export type Credential = { participant: string; key: KeyPair } | (() => Promise<string> | string);

/** R23: one signed session request, then cheap bearer tokens; renewed when expired or refused. */
export class Session {
  readonly #dp: HttpOptions & { id: string };
  readonly #credential: Credential;
  readonly #now: () => number;
  #session: { token: string; expiresAt: number } | undefined;

  constructor(opts: { dp: HttpOptions & { id: string }; credential: Credential; now: () => number }) {
    this.#dp = opts.dp;
    this.#credential = opts.credential;
    this.#now = opts.now;
  }

  /** Runs `fn` with a token; a token the DP no longer takes is renewed once. */
  async authed<T>(fn: (token: string) => Promise<T>): Promise<T> {
    const token = await this.token();
    try {
      return await fn(token);
    } catch (err) {
      if (!(err instanceof MimiError) || err.code !== 'unauthenticated') throw err;
      this.#session = undefined;
      return fn(await this.token());
    }
  }

  async token(): Promise<string> {
    const credential = this.#credential;
    if (typeof credential === 'function') return credential();
    const now = this.#now();
    if (this.#session !== undefined && this.#session.expiresAt > now + 30) return this.#session.token;
    const unsigned = {
      v: 1 as const,
      participant: credential.participant,
      role: 'msp' as const,
      audience: this.#dp.id,
      issuedAt: now,
      nonce: toB64u(cryptoProvider().randomBytes(16)),
    };
    const answer = await call(this.#dp, 'POST', '/v1/session', SessionAnswer, {
      ...unsigned,
      sig: signObject(SignPurpose.Session, unsigned, credential.key.privateKey),
    });
    this.#session = { token: answer.token, expiresAt: answer.expiresAt };
    return answer.token;
  }
}
