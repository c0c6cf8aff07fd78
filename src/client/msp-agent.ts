import type { Static } from '@sinclair/typebox';
import { canonicalize } from '../crypto/jcs.js';
import type { KeyPair } from '../crypto/keys.js';
import { cryptoProvider } from '../crypto/provider.js';
import { SignPurpose, signObject, verifyObject } from '../crypto/sign.js';
import {
  type AcceptAnswer,
  AcceptAnswer as AcceptAnswerSchema,
  CompactAnswer,
  type LogReceipt,
  type PeerReports,
  SessionAnswer,
  SharedVerboseAnswer,
  SubmissionBatchAnswer,
} from '../protocol/answers.js';
import { nowSeconds, toB64u } from '../protocol/encoding.js';
import { fromProblem, MimiError } from '../protocol/errors.js';
import { parseCsi, parseSsi } from '../protocol/identifiers.js';
import type { LookupFormat, Mapping, MappingSubmission } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import { countersign, mappingId, verifyAttestation, verifyMapping } from '../registry/verify-mapping.js';
import type { HolderSigned } from './holder.js';
import { call, type HttpOptions } from './http.js';
import { decodeCompactAnswer, type VerifiedResult, verifyVerboseAnswer } from './lookup-client.js';

/** R10: the lookup parameters; absent ones take the DP's published defaults (R11). */
export interface LookupOptions {
  mspFilter?: string[];
  federation?: boolean;
  dpList?: 'preferred' | 'all' | string[];
}

export type PeerReport = Static<typeof PeerReports>[number];

/**
 * One submission's outcome in a batch: `accepted` now, `duplicate` (this exact body was accepted
 * before: resubmitting is harmless), or `rejected` with the DP's error (its stable code).
 */
export type BatchItemResult =
  | {
      status: 'accepted' | 'duplicate';
      id: string;
      state: 'active' | 'contested';
      mapping: Mapping;
      /** R28: the holder's log pseudonym, sealed to the holder key: relay it to the holder as it is. */
      receipt?: LogReceipt;
    }
  | { status: 'rejected'; error: MimiError };

export interface MspAgentOptions {
  id: string;
  key: KeyPair;
  /** The DP this MSP submits to and asks. */
  dp: HttpOptions & { id: string };
  registry: () => Registry;
  policy?: TrustPolicy;
  /** R2: does this SSI belong to a user of ours who asked for this mapping? */
  isOwnUser: (ssi: string) => boolean | Promise<boolean>;
  now?: () => number;
}

/**
 * The MSP's side, inside its own servers: confirms its users' reachability by countersigning
 * (R2, R21), submits mappings, and looks up CSIs on behalf of its users (R9) with every answer
 * verified before use.
 */
export class MspAgent {
  private readonly opts: MspAgentOptions;
  private readonly now: () => number;
  private session: { token: string; expiresAt: number } | undefined;

  constructor(opts: MspAgentOptions) {
    this.opts = opts;
    this.now = opts.now ?? nowSeconds;
  }

  private ctx() {
    return { registry: this.opts.registry(), policy: this.opts.policy ?? {}, now: this.now() };
  }

  /** R2, R21: checks the holder's half and that the user is ours, then countersigns. */
  async confirm(signed: HolderSigned): Promise<MappingSubmission> {
    const { body } = signed;
    const self = this.opts.registry().msp(this.opts.id);
    if (self === undefined)
      throw new MimiError('msp-not-registered', `${this.opts.id} is not in the registry`);
    if (body.msp !== this.opts.id || body.ssi === null || parseSsi(body.ssi).domain !== self.domain) {
      throw new MimiError('ssi-msp-mismatch', 'this mapping is not for a user of this MSP');
    }
    if (!(await this.opts.isOwnUser(body.ssi)))
      throw new MimiError('forbidden', `${body.ssi} is not our user`);
    verifyAttestation(signed.attestation, this.ctx());
    // The countersignature covers the holder's signature: it confirms this consent, so it checks it.
    if (!verifyObject(SignPurpose.MappingHolder, body, signed.holderSig, body.holderKey)) {
      throw new MimiError('holder-signature-invalid', 'the holder signature does not verify (R6)');
    }
    const mspSig = countersign(signed, this.opts.key.privateKey);
    return { body, attestation: signed.attestation, holderSig: signed.holderSig, mspSig };
  }

  /** R3: submits to the DP and checks that what comes back is our mapping, countersigned. */
  async submit(sub: MappingSubmission): Promise<AcceptAnswer> {
    const answer = await this.authed((token) =>
      call(this.opts.dp, 'POST', '/v1/mappings', AcceptAnswerSchema, sub, token),
    );
    verifyMapping(answer.mapping, this.ctx());
    if (
      canonicalize(answer.mapping.body) !== canonicalize(sub.body) ||
      mappingId(answer.mapping) !== answer.id
    ) {
      throw new MimiError('record-invalid', 'the DP returned a different mapping than the one submitted');
    }
    return answer;
  }

  /**
   * Bulk onboarding: submits many mappings in one request (at most the DP's maxSubmissionBatch;
   * the request may take a while, so it waits up to 2 minutes unless `dp.timeoutMs` says otherwise).
   * Each is accepted or rejected on its own; the results come in the order of `subs`. Every
   * accepted mapping is checked as in submit (R3): ours, countersigned by the DP. A DP answer that
   * fails those checks throws (the DP misbehaves), as does a refusal of the whole request
   * (`batch-too-large`, `body-too-large`, `rate-limited`, ...).
   */
  async submitBatch(subs: readonly MappingSubmission[]): Promise<BatchItemResult[]> {
    const answer = await this.authed((token) =>
      call(
        { maxAnswerBytes: 64 * 1024 * 1024, timeoutMs: 120_000, ...this.opts.dp },
        'POST',
        '/v1/mappings/batch',
        SubmissionBatchAnswer,
        { v: 1, submissions: subs },
        token,
      ),
    );
    if (answer.results.length !== subs.length || answer.results.some((r, i) => r.index !== i)) {
      throw new MimiError('record-invalid', 'the DP answered a batch with results out of order');
    }
    const ctx = this.ctx();
    return answer.results.map((r, i): BatchItemResult => {
      if (r.status === 'rejected')
        return { status: 'rejected', error: fromProblem(r.problem, r.problem.status) };
      verifyMapping(r.mapping, ctx);
      if (canonicalize(r.mapping.body) !== canonicalize(subs[i]!.body) || mappingId(r.mapping) !== r.id) {
        throw new MimiError('record-invalid', `the DP returned a different mapping than submission ${i}`);
      }
      return {
        status: r.status,
        id: r.id,
        state: r.state,
        mapping: r.mapping,
        ...(r.receipt === undefined ? {} : { receipt: r.receipt }),
      };
    });
  }

  /** Looks CSIs up for our users and verifies every mapping (R9: the DP sees us, not them). */
  async lookup(csis: readonly string[], opts: LookupOptions = {}): Promise<VerifiedResult[]> {
    return (await this.lookupWithPeers(csis, opts)).results;
  }

  /**
   * The same, also returning how each peer DP answered a federated lookup (R10, R15): `ok`,
   * `timeout`, `error`, `rate-limited` or `unavailable`.
   */
  async lookupWithPeers(
    csis: readonly string[],
    opts: LookupOptions = {},
  ): Promise<{ results: VerifiedResult[]; peers: PeerReport[] }> {
    const body = {
      v: 1,
      csis: csis.map((c) => parseCsi(c).uri),
      format: 'verbose' satisfies LookupFormat,
      // What the mappings' proofs have in common comes once (checkpoints, upper tree hashes).
      proofs: 'shared' as const,
      ...opts,
    };
    const answer = await this.authed((token) =>
      call(this.opts.dp, 'POST', '/v1/lookup', SharedVerboseAnswer, body, token),
    );
    return { results: verifyVerboseAnswer(answer, body.csis, this.ctx()), peers: answer.peers ?? [] };
  }

  /** Compact lookup: which MSPs each CSI is reachable on, as bits (R15). Not verifiable per mapping. */
  async lookupCompact(csis: readonly string[], opts: LookupOptions = {}) {
    const body = {
      v: 1,
      csis: csis.map((c) => parseCsi(c).uri),
      format: 'compact' satisfies LookupFormat,
      ...opts,
    };
    const answer = await this.authed((token) =>
      call(this.opts.dp, 'POST', '/v1/lookup', CompactAnswer, body, token),
    );
    return decodeCompactAnswer(answer, this.opts.registry());
  }

  /** The current session token: the MSP's credential for the private lookup's evaluations (R22). */
  sessionToken(): Promise<string> {
    return this.token();
  }

  /** R23: one signed session request, then cheap bearer tokens; renewed when expired. */
  private async authed<T>(fn: (token: string) => Promise<T>): Promise<T> {
    const token = await this.token();
    try {
      return await fn(token);
    } catch (err) {
      if (!(err instanceof MimiError) || err.code !== 'unauthenticated') throw err;
      this.session = undefined;
      return fn(await this.token());
    }
  }

  private async token(): Promise<string> {
    const now = this.now();
    if (this.session !== undefined && this.session.expiresAt > now + 30) return this.session.token;
    const unsigned = {
      v: 1 as const,
      participant: this.opts.id,
      role: 'msp' as const,
      audience: this.opts.dp.id,
      issuedAt: now,
      nonce: toB64u(cryptoProvider().randomBytes(16)),
    };
    const answer = await call(this.opts.dp, 'POST', '/v1/session', SessionAnswer, {
      ...unsigned,
      sig: signObject(SignPurpose.Session, unsigned, this.opts.key.privateKey),
    });
    this.session = { token: answer.token, expiresAt: answer.expiresAt };
    return answer.token;
  }
}
