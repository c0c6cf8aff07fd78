import { canonicalize } from '../crypto/jcs.js';
import type { KeyPair } from '../crypto/keys.js';
import { SignPurpose, verifyObject } from '../crypto/sign.js';
import {
  type AcceptAnswer,
  AcceptAnswer as AcceptAnswerSchema,
  type LogReceipt,
  SubmissionBatchAnswer,
} from '../protocol/answers.js';
import { nowSeconds } from '../protocol/encoding.js';
import { fromProblem, MimiError } from '../protocol/errors.js';
import { parseSsi } from '../protocol/identifiers.js';
import type { Mapping, MappingSubmission } from '../protocol/records.js';
import type { TrustPolicy } from '../registry/policy.js';
import { countersign, mappingId, verifyAttestation, verifyMapping } from '../registry/verify-mapping.js';
import type { HolderSigned } from './holder.js';
import { call, type HttpOptions } from './http.js';
import {
  type CompactResult,
  compactLookup,
  type LookupContext,
  type LookupOptions,
  type PeerReport,
  type VerifiedResult,
  verifiedLookup,
} from './lookup-client.js';
import { type RegistryInput, registryGetter } from './registry-input.js';
import { Session } from './session.js';

/**
 * One submission's outcome in a batch: `accepted` now, `duplicate` (this exact body was accepted
 * before: resubmitting is harmless), or `rejected` with the DP's error (its stable code).
 *
 * @example
 * for (const r of await agent.submitBatch(subs)) if (r.status === 'rejected') console.log(r.error.code);
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

/**
 * What an {@link MspAgent} needs: its registry id and key, its DP, the registry, and who its users are.
 *
 * @example
 * const opts: MspAgentOptions = {
 *   id: 'msp1',
 *   key: mspKey,
 *   dp: { baseUrl: 'https://dp1.example', id: 'dp1' },
 *   registry,
 *   isOwnUser: (ssi) => users.has(ssi),
 * };
 */
export interface MspAgentOptions {
  /** This MSP's registry id. */
  id: string;
  /** This MSP's registry key: it countersigns (R2) and opens sessions (R23). Kept private. */
  key: KeyPair;
  /** The DP this MSP submits to and asks. */
  dp: HttpOptions & { id: string };
  registry: RegistryInput;
  /** Strict by default (STYLE.md §6). */
  policy?: TrustPolicy;
  /** R2: does this SSI belong to a user of ours who asked for this mapping? */
  isOwnUser: (ssi: string) => boolean | Promise<boolean>;
  /** Unix seconds; default: the clock. */
  now?: () => number;
}

/**
 * The MSP's side, inside its own servers: confirms its users' reachability by countersigning
 * (R2, R21), submits mappings, and looks up CSIs on behalf of its users (R9) with every answer
 * verified before use (as a {@link LookupClient} does, on the same session).
 *
 * @example
 * const agent = new MspAgent({ id: 'msp1', key: mspKey, dp, registry, isOwnUser: (ssi) => users.has(ssi) });
 * const accepted = await agent.submit(await agent.confirm(signedByHolder));
 * const [bob] = await agent.lookup(['+14155550101']);
 */
export class MspAgent {
  readonly #id: string;
  readonly #key: KeyPair;
  readonly #dp: HttpOptions & { id: string };
  readonly #isOwnUser: MspAgentOptions['isOwnUser'];
  readonly #lookups: LookupContext;

  constructor(opts: MspAgentOptions) {
    this.#id = opts.id;
    this.#key = opts.key;
    this.#dp = opts.dp;
    this.#isOwnUser = opts.isOwnUser;
    const now = opts.now ?? nowSeconds;
    this.#lookups = {
      dp: opts.dp,
      registry: registryGetter(opts.registry),
      policy: opts.policy ?? {},
      now,
      session: new Session({ dp: opts.dp, credential: { participant: opts.id, key: opts.key }, now }),
    };
  }

  /** This MSP's public key (base64url), as the registry lists it. */
  get publicKey(): string {
    return this.#key.publicKey;
  }

  #ctx() {
    const l = this.#lookups;
    return { registry: l.registry(), policy: l.policy, now: l.now() };
  }

  /** R2, R21: checks the holder's half and that the user is ours, then countersigns. */
  async confirm(signed: HolderSigned): Promise<MappingSubmission> {
    const { body } = signed;
    const self = this.#lookups.registry().msp(this.#id);
    if (self === undefined) throw new MimiError('msp-not-registered', `${this.#id} is not in the registry`);
    if (body.msp !== this.#id || body.ssi === null || parseSsi(body.ssi).domain !== self.domain) {
      throw new MimiError('ssi-msp-mismatch', 'this mapping is not for a user of this MSP');
    }
    if (!(await this.#isOwnUser(body.ssi))) throw new MimiError('forbidden', `${body.ssi} is not our user`);
    verifyAttestation(signed.attestation, this.#ctx());
    // The countersignature covers the holder's signature: it confirms this consent, so it checks it.
    if (!verifyObject(SignPurpose.MappingHolder, body, signed.holderSig, body.holderKey)) {
      throw new MimiError('holder-signature-invalid', 'the holder signature does not verify (R6)');
    }
    const mspSig = countersign(signed, this.#key.privateKey);
    return { body, attestation: signed.attestation, holderSig: signed.holderSig, mspSig };
  }

  /** R3: submits to the DP and checks that what comes back is our mapping, countersigned. */
  async submit(sub: MappingSubmission): Promise<AcceptAnswer> {
    const answer = await this.#lookups.session.authed((token) =>
      call(this.#dp, 'POST', '/v1/mappings', AcceptAnswerSchema, sub, token),
    );
    verifyMapping(answer.mapping, this.#ctx());
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
    const answer = await this.#lookups.session.authed((token) =>
      call(
        { maxAnswerBytes: 64 * 1024 * 1024, timeoutMs: 120_000, ...this.#dp },
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
    const ctx = this.#ctx();
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

  /**
   * Looks CSIs up for our users and verifies every mapping (R9: the DP sees us, not them).
   *
   * @example
   * const [bob] = await agent.lookup(['+14155550101']);
   */
  async lookup(csis: readonly string[], opts: LookupOptions = {}): Promise<VerifiedResult[]> {
    return (await verifiedLookup(this.#lookups, csis, opts)).results;
  }

  /**
   * The same, also returning how each peer DP answered a federated lookup (R10, R15): `ok`,
   * `timeout`, `error`, `rate-limited` or `unavailable`.
   *
   * @example
   * const { results, peers } = await agent.lookupWithPeers(csis, { federation: true });
   */
  lookupWithPeers(
    csis: readonly string[],
    opts: LookupOptions = {},
  ): Promise<{ results: VerifiedResult[]; peers: PeerReport[] }> {
    return verifiedLookup(this.#lookups, csis, opts);
  }

  /**
   * Compact lookup: which MSPs each CSI is reachable on, as bits (R15). Not verifiable per mapping.
   *
   * @example
   * const [r] = await agent.lookupCompact(['+14155550101']);
   */
  lookupCompact(csis: readonly string[], opts: LookupOptions = {}): Promise<CompactResult[]> {
    return compactLookup(this.#lookups, csis, opts);
  }

  /** The current session token: the MSP's credential for the private lookup's evaluations (R22). */
  sessionToken(): Promise<string> {
    return this.#lookups.session.token();
  }
}
