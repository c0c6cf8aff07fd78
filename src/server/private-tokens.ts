import type { webcrypto } from 'node:crypto';
import { createHash } from 'node:crypto';
import { importTokenKey, verifyTokenSignature } from '../crypto/privacy-pass.js';
import { type PeerNonces, RedisNonceCache } from '../federation/nonce-cache.js';
import { MimiError, wireCodeOf } from '../protocol/errors.js';
import {
  decodeToken,
  PrivacyPass,
  parsePrivateTokenHeader,
  tokenChallengeFor,
} from '../protocol/privacy-pass.js';
import type { Registry } from '../registry/document.js';
import type { SharedCounters } from '../store/rate-limit.js';
import type { Store } from '../store/store.js';

/**
 * The DP as Privacy Pass origin (RFC 9577 §2.2.2, RFC 9578 §6.4) on POST /v1/private/evaluate.
 * A token is checked against the registry: its key must be a current token key of an MSP's
 * issuer, its challenge the one this DP issues for that issuer (origin_info = this DP's id),
 * its signature valid, and its nonce unspent. All the DP learns is which MSP issued it.
 *
 * Nothing here sees the client: the outcome counter has no label but the outcome, the spent
 * table holds (key id, nonce, key expiry), and no log line names the token or its MSP.
 */

function padded(bytes: Buffer): string {
  const text = bytes.toString('base64url');
  return text + '='.repeat((4 - (text.length % 4)) % 4);
}

/** Spent tokens in the store (spent_tokens), as a nonce set keyed `<key id>.<nonce>`. */
class StoreSpentTokens implements PeerNonces {
  constructor(private readonly store: Store) {}

  add(id: string, keepUntil: number): Promise<boolean> {
    const [keyId, nonce] = id.split('.') as [string, string];
    return this.store.write((tx) => tx.spendToken(keyId, nonce, keepUntil));
  }
}

export interface RedeemedToken {
  /** The MSP whose issuer signed the token: all the DP learns of the client. */
  msp: string;
}

export interface TokenRedeemerOptions {
  dpId: string;
  registry: () => Registry;
  store: Store;
  /** Redis shared by the DP's nodes: a double spend at any node is refused without a store write. */
  shared?: SharedCounters;
  now: () => number;
  /** Told of each outcome: `redeemed` or the refusal's code (mimi_private_tokens_total). */
  onOutcome?: (outcome: string) => void;
}

export class TokenRedeemer {
  private readonly opts: TokenRedeemerOptions;
  private readonly spent: PeerNonces;
  /** Imported keys by hex key id; bounded by the registry (two keys per MSP). */
  private readonly keys = new Map<string, Promise<webcrypto.CryptoKey>>();
  private readonly digests = new Map<string, Buffer>();

  constructor(opts: TokenRedeemerOptions) {
    this.opts = opts;
    const durable = new StoreSpentTokens(opts.store);
    // Like peer nonces (federation/nonce-cache.ts): Redis first when shared, the store decides.
    this.spent =
      opts.shared === undefined
        ? durable
        : new RedisNonceCache(
            opts.shared.redis,
            `${opts.shared.keyPrefix}:spent-token`,
            durable,
            () => opts.now() * 1000,
          );
  }

  /** Checks and spends the token of a PrivateToken Authorization header; refusals have token-* codes. */
  async redeem(header: string): Promise<RedeemedToken> {
    try {
      const token = parsePrivateTokenHeader(header);
      if (token === undefined) throw new MimiError('token-malformed', 'not a PrivateToken header');
      const redeemed = await this.check(token);
      this.opts.onOutcome?.('redeemed');
      return redeemed;
    } catch (err) {
      this.opts.onOutcome?.(wireCodeOf(err));
      throw err;
    }
  }

  private async check(bytes: Uint8Array): Promise<RedeemedToken> {
    const token = decodeToken(bytes);
    const keyId = Buffer.from(token.tokenKeyId).toString('hex');
    const found = this.opts.registry().tokenKey(keyId);
    const now = this.opts.now();
    // Unknown (another federation's issuer, a key never listed) and expired or rotated out
    // (notAfter passed, or gone from the registry) are one code: the client fetches anew.
    if (found === undefined || found.key.notAfter <= now) {
      throw new MimiError('token-key-unknown', 'the token key is not a current issuer key in the registry');
    }
    // RFC 9577 §2.2: the token is for this DP's challenge for that issuer; another DP's (origin)
    // or another issuer's challenge gives another digest.
    if (!Buffer.from(token.challengeDigest).equals(this.digestFor(found.issuerName))) {
      throw new MimiError(
        'token-challenge-mismatch',
        'the token was made for another challenge (origin or issuer)',
      );
    }
    const key = await this.key(keyId, found.key.key);
    if (!(await verifyTokenSignature(token, key))) {
      throw new MimiError('token-invalid', 'the token signature does not verify');
    }
    // Only a verified token reaches the store: garbage cannot fill the spent table.
    const nonce = Buffer.from(token.nonce).toString('hex');
    if (!(await this.spent.add(`${keyId}.${nonce}`, found.key.notAfter))) {
      throw new MimiError('token-spent', 'this token was spent before');
    }
    return { msp: found.msp.id };
  }

  private digestFor(issuerName: string): Buffer {
    let d = this.digests.get(issuerName);
    if (d === undefined) {
      const challenge = tokenChallengeFor(issuerName, this.opts.dpId).serialize();
      d = createHash('sha256').update(challenge).digest();
      this.digests.set(issuerName, d);
    }
    return d;
  }

  private key(keyId: string, encoded: string): Promise<webcrypto.CryptoKey> {
    let k = this.keys.get(keyId);
    if (k === undefined) {
      k = importTokenKey(Buffer.from(encoded, 'base64url'));
      // A key that does not import is not cached: the registry may be fixed.
      k.catch(() => this.keys.delete(keyId));
      this.keys.set(keyId, k);
    }
    return k;
  }

  /**
   * RFC 9577 §2.1: one challenge per issuer in the registry, with its newest current key, for
   * WWW-Authenticate on a 401. Empty when no MSP issues tokens.
   */
  challenges(): string {
    const now = this.opts.now();
    const parts: string[] = [];
    for (const msp of this.opts.registry().allMsps()) {
      const key = msp.issuer?.tokenKeys
        .filter((k) => k.notAfter > now)
        .sort((a, b) => b.notAfter - a.notAfter)[0];
      if (msp.issuer === undefined || key === undefined) continue;
      const challenge = Buffer.from(tokenChallengeFor(msp.issuer.name, this.opts.dpId).serialize());
      // Padded base64url, as other implementations (privacypass-ts, pat-go) write and expect it.
      parts.push(`${PrivacyPass.AuthScheme} challenge="${padded(challenge)}", token-key="${key.key}"`);
    }
    return parts.join(', ');
  }
}
