import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { SignPurpose, verifyObject } from '../crypto/sign.js';
import { requestMaxAgeSeconds } from '../protocol/clock.js';
import { MimiError } from '../protocol/errors.js';
import { ParticipantId, ParticipantRole, type SessionRequest } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';

const checkedLimit = 4096;

/**
 * R23: what `issue` MACs, [participant, role, expiresAt]. A payload under a valid MAC is still
 * checked against it: a leaked or reused secret, or a token of another format version, must
 * answer `unauthenticated`, never reach the handlers with another shape.
 */
const TokenPayload = TypeCompiler.Compile(
  Type.Tuple([
    ParticipantId,
    Type.Union(Object.values(ParticipantRole).map((r) => Type.Literal(r))),
    Type.Integer({ minimum: 0 }),
  ]),
);

export interface Caller {
  participant: string;
  role: ParticipantRole;
  expiresAt: number;
}

/**
 * R23: callers authenticate with their registry key once, by signing a session request; they
 * get a short-lived token that the DP checks with one HMAC. An Ed25519 verify costs ~70 us, an
 * HMAC ~1 us, so a request never pays for a signature check.
 *
 * Many nodes (R22): a token carries no node; every node of a DP is given the same secret
 * (`sessions.secretFile`), so any node accepts what another issued. Without a secret (tests)
 * each instance draws its own.
 */
export class SessionAuthority {
  private readonly secret: Buffer;
  readonly ttlSeconds: number;
  /** Tokens already checked, with their callers; bounded, emptied when full. */
  private readonly checked = new Map<string, Caller>();

  /** `ttlSeconds` from the resolved config (sessions.ttlSeconds, src/server/config-defaults.ts). */
  constructor(opts: { secret?: Uint8Array; ttlSeconds: number }) {
    this.secret = Buffer.from(opts.secret ?? randomBytes(32));
    this.ttlSeconds = opts.ttlSeconds;
  }

  /** Check a signed session request against the registry; the caller checks replay. */
  open(
    req: SessionRequest,
    registry: Registry,
    dpId: string,
    now: number,
  ): { token: string; caller: Caller } {
    if (req.audience !== dpId)
      throw new MimiError('unauthenticated', 'the session request is for another DP');
    if (Math.abs(now - req.issuedAt) > requestMaxAgeSeconds)
      throw new MimiError('request-stale', 'the session request is stale');
    // A DP asks for a session with its transport keys (registry.md §8.1.1), an MSP with its keys.
    const keys =
      req.role === 'msp' ? registry.msp(req.participant)?.keys : registry.dp(req.participant)?.keys.transport;
    if (keys === undefined) {
      throw new MimiError('unauthenticated', `${req.participant} is not a registered ${req.role}`);
    }
    const { sig, ...unsigned } = req;
    if (!keys.some((k) => verifyObject(SignPurpose.Session, unsigned, sig, k))) {
      throw new MimiError('unauthenticated', 'the session request signature does not verify');
    }
    const caller: Caller = { participant: req.participant, role: req.role, expiresAt: now + this.ttlSeconds };
    return { token: this.issue(caller), caller };
  }

  issue(caller: Caller): string {
    const payload = Buffer.from(JSON.stringify([caller.participant, caller.role, caller.expiresAt])).toString(
      'base64url',
    );
    return `${payload}.${this.mac(payload)}`;
  }

  /** The caller behind a bearer token, or an `unauthenticated` error. */
  check(token: string, now: number): Caller {
    // A token whose MAC checked once maps to its caller until it expires: the secret never
    // changes, so the answer cannot either (the HMAC is a few percent of a small lookup).
    const known = this.checked.get(token);
    if (known !== undefined) {
      if (known.expiresAt <= now)
        throw new MimiError('unauthenticated', 'the session expired; open a new one');
      return { ...known };
    }
    const caller = this.verify(token, now);
    if (this.checked.size >= checkedLimit) this.checked.clear();
    this.checked.set(token, { ...caller });
    return caller;
  }

  private verify(token: string, now: number): Caller {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 512) throw new MimiError('unauthenticated', 'malformed session token');
    const payload = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.mac(payload));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
      throw new MimiError('unauthenticated', 'invalid session token');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString());
    } catch {
      throw new MimiError('unauthenticated', 'malformed session token');
    }
    if (!TokenPayload.Check(parsed)) throw new MimiError('unauthenticated', 'malformed session token');
    const [participant, role, expiresAt] = parsed;
    if (expiresAt <= now) throw new MimiError('unauthenticated', 'the session expired; open a new one');
    return { participant, role, expiresAt };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}
