import { generateKeyPair, type KeyPair } from '../crypto/keys.js';
import { cryptoProvider } from '../crypto/provider.js';
import { openWithEd25519 } from '../crypto/seal.js';
import { digest, SignPurpose, signObject, verifyObject } from '../crypto/sign.js';
import {
  AcceptAnswer,
  AttestationAnswer,
  ChallengeStarted,
  InvalidationAnswer,
  type LogReceipt,
  logReceiptInfo,
  MappingAnswer,
  PseudonymAnswer,
  ReaffirmationAnswer,
  RotationAnswer,
} from '../protocol/answers.js';
import { dns01Value } from '../protocol/dns-names.js';
import { nowSeconds, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import {
  type HolderRead,
  type Invalidation,
  type KeyRotation,
  type MappingBody,
  MappingBodyVersion,
  type PossessionAttestation,
  type PseudonymRequest,
  type Reaffirmation,
} from '../protocol/records.js';
import { DpKeyUsage } from '../registry/document.js';
import { call, type HttpOptions } from './http.js';
import { type RegistryInput, registryGetter } from './registry-input.js';

/**
 * What a {@link HolderClient} needs: the DP (or verifier) it talks to; its key and clock are optional.
 *
 * @example
 * const opts: HolderClientOptions = { dp: { baseUrl: 'https://dp.example.net' }, key: keyPairFromJwk(saved) };
 */
export interface HolderClientOptions {
  /** The DP's (or the verifier's) base URL and transport options. */
  dp: HttpOptions;
  /** The holder key; default: a new one (generateKeyPair). Kept private. */
  key?: KeyPair;
  /** Unix seconds; default: the clock. */
  now?: () => number;
}

/**
 * What the holder hands to an MSP: its signed half of a mapping (R6).
 *
 * @example
 * const signed: HolderSigned = holder.signMapping({ csi, msp: 'msp1', ssi, attestation });
 */
export interface HolderSigned {
  body: MappingBody;
  attestation: PossessionAttestation;
  holderSig: string;
}

/**
 * A mapping as the holder asks for it; {@link HolderClient.signMapping} fills in the rest.
 *
 * @example
 * const draft: MappingDraft = { csi: '+14155550101', msp: 'msp1', ssi: 'mimi://msp1.example/u/bob', attestation };
 */
export interface MappingDraft {
  csi: string;
  msp: string;
  ssi: string;
  tag?: string;
  priority?: number;
  attestation: PossessionAttestation;
  lifetimeSeconds?: number;
  supersedes?: string | null;
}

/**
 * The holder's side, in the user's app: prove possession, sign mappings, opt out, invalidate,
 * rotate the key. The holder key never leaves the device.
 *
 * The key is held privately; {@link HolderClient.publicKey} is its public half. An app that keeps
 * the key across runs makes it (generateKeyPair), stores it (keyPairToJwk) and passes it in.
 *
 * @example
 * const holder = new HolderClient({ dp: { baseUrl: 'https://dp.example.net' } });
 * const { challengeId } = await holder.startChallenge('+14155550101');
 * const attestation = await holder.answerChallenge(challengeId, codeFromSms);
 * const signed = holder.signMapping({ csi: attestation.csi, msp: 'msp1', ssi: 'mimi://msp1.example/u/bob', attestation });
 */
export class HolderClient {
  #key: KeyPair;
  readonly #http: HttpOptions;
  readonly #now: () => number;

  constructor(opts: HolderClientOptions) {
    this.#http = opts.dp;
    this.#key = opts.key ?? generateKeyPair();
    this.#now = opts.now ?? nowSeconds;
  }

  /** The holder key's public half (base64url): what mappings and attestations name. */
  get publicKey(): string {
    return this.#key.publicKey;
  }

  /**
   * R1: asks the verifier to send a one-time code to the CSI.
   *
   * @example
   * const { challengeId } = await holder.startChallenge('+14155550101');
   */
  async startChallenge(csi: string): Promise<ChallengeStarted> {
    const canonical = parseCsi(csi).uri;
    const started = await call(this.#http, 'POST', '/v1/verifier/challenges', ChallengeStarted, {
      v: 1,
      csi: canonical,
      holderKey: this.#key.publicKey,
    });
    // R29, RFC 8555 §8.1: the holder makes the key authorization itself, from the token and its own key.
    if (started.dns !== undefined) started.dns.value = dns01Value(started.dns.token, this.#key.publicKey);
    return started;
  }

  /**
   * Answers with the code; returns the verifier's signed attestation for this key.
   *
   * @example
   * const attestation = await holder.answerChallenge(challengeId, '123456');
   */
  async answerChallenge(challengeId: string, code: string): Promise<PossessionAttestation> {
    const answer = await call(
      this.#http,
      'POST',
      `/v1/verifier/challenges/${encodeURIComponent(challengeId)}/answer`,
      AttestationAnswer,
      { v: 1, code },
    );
    if (answer.attestation.holderKey !== this.#key.publicKey) {
      throw new MimiError('attestation-mismatch', 'the verifier attested another key');
    }
    return answer.attestation;
  }

  /**
   * R29: after publishing the TXT record that startChallenge named for a `mimi:` identifier
   * (dns01Value(token, this key) at `_mimi-challenge.<domain>`), asks the verifier to check it.
   */
  async checkDnsChallenge(challengeId: string): Promise<PossessionAttestation> {
    const answer = await call(
      this.#http,
      'POST',
      `/v1/verifier/challenges/${encodeURIComponent(challengeId)}/check`,
      AttestationAnswer,
      { v: 1 },
    );
    if (answer.attestation.holderKey !== this.#key.publicKey) {
      throw new MimiError('attestation-mismatch', 'the verifier attested another key');
    }
    return answer.attestation;
  }

  /**
   * R6: signs a mapping body; the result goes to the MSP for its countersignature.
   *
   * @example
   * const signed = holder.signMapping({ csi, msp: 'msp1', ssi: 'mimi://msp1.example/u/bob', attestation });
   */
  signMapping(draft: MappingDraft): HolderSigned {
    const now = this.#now();
    const body: MappingBody = {
      v: MappingBodyVersion,
      csi: parseCsi(draft.csi).uri,
      msp: draft.msp,
      ssi: draft.ssi,
      tag: draft.tag ?? 'Default',
      priority: draft.priority ?? 0,
      holderKey: this.#key.publicKey,
      attestation: digest(draft.attestation),
      createdAt: now,
      expiresAt: Math.min(now + (draft.lifetimeSeconds ?? 180 * 86_400), draft.attestation.expiresAt),
      supersedes: draft.supersedes ?? null,
    };
    return {
      body,
      attestation: draft.attestation,
      holderSig: signObject(SignPurpose.MappingHolder, body, this.#key.privateKey),
    };
  }

  /**
   * R14, R25: a signed opt-out, sent straight to the DP (no MSP takes part).
   *
   * @example
   * await holder.optOut(attestation);
   */
  async optOut(attestation: PossessionAttestation, lifetimeSeconds = 180 * 86_400): Promise<AcceptAnswer> {
    const now = this.#now();
    const body: MappingBody = {
      v: MappingBodyVersion,
      csi: attestation.csi,
      msp: null,
      ssi: null,
      tag: 'Default',
      priority: 0,
      holderKey: this.#key.publicKey,
      attestation: digest(attestation),
      createdAt: now,
      expiresAt: Math.min(now + lifetimeSeconds, attestation.expiresAt),
      supersedes: null,
    };
    const holderSig = signObject(SignPurpose.MappingHolder, body, this.#key.privateKey);
    return call(this.#http, 'POST', '/v1/holder/opt-out', AcceptAnswer, { body, attestation, holderSig });
  }

  /**
   * R19, R25: withdraws one mapping (by id) or, with null, every mapping of this holder for the CSI.
   *
   * @example
   * const { invalidated } = await holder.invalidate('+14155550101', mappingId);
   */
  async invalidate(csi: string, target: string | null): Promise<InvalidationAnswer> {
    const unsigned = {
      v: 1 as const,
      csi: parseCsi(csi).uri,
      holderKey: this.#key.publicKey,
      target,
      issuedAt: this.#now(),
    };
    const inv: Invalidation = {
      ...unsigned,
      sig: signObject(SignPurpose.Invalidation, unsigned, this.#key.privateKey),
    };
    return call(this.#http, 'POST', '/v1/holder/invalidate', InvalidationAnswer, inv);
  }

  /**
   * R19: moves to a new key (signed by both); this client uses the new key from then on.
   *
   * @example
   * const next = await holder.rotateKey('+14155550101');
   */
  async rotateKey(csi: string, next: KeyPair = generateKeyPair()): Promise<KeyPair> {
    const unsigned = {
      v: 1 as const,
      csi: parseCsi(csi).uri,
      oldKey: this.#key.publicKey,
      newKey: next.publicKey,
      issuedAt: this.#now(),
    };
    const rot: KeyRotation = {
      ...unsigned,
      oldSig: signObject(SignPurpose.KeyRotation, unsigned, this.#key.privateKey),
      newSig: signObject(SignPurpose.KeyRotation, unsigned, next.privateKey),
    };
    await call(this.#http, 'POST', '/v1/holder/rotate', RotationAnswer, rot);
    this.#key = next;
    return next;
  }

  /**
   * R17: answers a contest by proving possession again with a fresh attestation.
   *
   * @example
   * const { lost } = await holder.reaffirm(freshAttestation);
   */
  async reaffirm(attestation: PossessionAttestation): Promise<ReaffirmationAnswer> {
    const unsigned = {
      v: 1 as const,
      csi: attestation.csi,
      holderKey: this.#key.publicKey,
      attestation,
      issuedAt: this.#now(),
    };
    const r: Reaffirmation = {
      ...unsigned,
      sig: signObject(SignPurpose.Reaffirmation, unsigned, this.#key.privateKey),
    };
    return call(this.#http, 'POST', '/v1/holder/reaffirm', ReaffirmationAnswer, r);
  }

  /**
   * R28: this CSI's pseudonym in the DP's transparency log, asked with a current attestation for
   * this CSI and this key. It finds every entry about the CSI, whatever holder key made it.
   *
   * @example
   * const { pseudonym } = await holder.logPseudonym(attestation);
   */
  async logPseudonym(attestation: PossessionAttestation): Promise<PseudonymAnswer> {
    const unsigned = {
      v: 1 as const,
      csi: attestation.csi,
      holderKey: this.#key.publicKey,
      attestation,
      issuedAt: this.#now(),
      nonce: toB64u(cryptoProvider().randomBytes(16)),
    };
    const r: PseudonymRequest = {
      ...unsigned,
      sig: signObject(SignPurpose.LogPseudonym, unsigned, this.#key.privateKey),
    };
    return call(this.#http, 'POST', '/v1/holder/log-pseudonym', PseudonymAnswer, r);
  }

  /**
   * R28: opens the DP's receipt in an acceptance (relayed by the MSP): checks the DP's signature
   * against the registry and that it is for this key and this mapping, then unseals the CSI's log
   * pseudonym (base64url), which only this holder can read.
   *
   * @throws {MimiError} `log-receipt-invalid` when the receipt is not the DP's, for another
   *   key or mapping, or does not open.
   * @example
   * const pseudonym = holder.openReceipt(answer.receipt!, { mappingId: answer.id, registry });
   */
  openReceipt(receipt: LogReceipt, opts: { mappingId: string; registry: RegistryInput }): string {
    const { mappingId } = opts;
    const registry = registryGetter(opts.registry)();
    const bad = (why: string) => new MimiError('log-receipt-invalid', `log receipt: ${why}`);
    const { sig, ...unsigned } = receipt;
    const keys = registry.dpKeys(receipt.dp, DpKeyUsage.Records);
    if (!keys.some((k) => verifyObject(SignPurpose.LogReceipt, unsigned, sig, k))) {
      throw bad('not signed by the DP it names');
    }
    if (receipt.holderKey !== this.#key.publicKey || receipt.mapping !== mappingId) {
      throw bad('for another holder key or mapping');
    }
    const plain = openWithEd25519(this.#key.privateKey, receipt.sealed, logReceiptInfo(mappingId));
    if (plain === undefined || plain.length !== 32) throw bad('does not open');
    return toB64u(plain);
  }

  /**
   * R28: one of this holder's mappings by id, in any state (a signed, single-use read).
   *
   * @example
   * const { state } = await holder.readMapping('+14155550101', mappingId);
   */
  async readMapping(csi: string, id: string): Promise<MappingAnswer> {
    const unsigned = {
      v: 1 as const,
      csi: parseCsi(csi).uri,
      holderKey: this.#key.publicKey,
      mapping: id,
      issuedAt: this.#now(),
      nonce: toB64u(cryptoProvider().randomBytes(16)),
    };
    const r: HolderRead = {
      ...unsigned,
      sig: signObject(SignPurpose.HolderRead, unsigned, this.#key.privateKey),
    };
    return call(this.#http, 'POST', '/v1/holder/mapping', MappingAnswer, r);
  }
}
