import { canonicalize } from '../crypto/jcs.js';
import type { SigningKey } from '../crypto/keys.js';
import {
  digest,
  SignPurpose,
  sha256,
  signingInput,
  signingInputOf,
  signObject,
  verifyInput,
  verifyObject,
} from '../crypto/sign.js';
import { nowSeconds, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { assertCanonicalCsi, parseSsi } from '../protocol/identifiers.js';
import {
  levelOfMethod,
  type Mapping,
  type MappingBody,
  MappingBodyVersion,
  type MappingSubmission,
  type PossessionAttestation,
} from '../protocol/records.js';
import { csipCovers, type Registry } from './document.js';
import { defaultClockSkew, meetsLevel, type TrustPolicy, trustsIssuer } from './policy.js';

/**
 * The one verification function shared by the DP, the SDK and the CLI (DESIGN.md "The
 * verifiable mapping"). Each failure throws a MimiError whose code names the first check that
 * failed, and nothing else.
 *
 * @example
 * verifyMapping(mapping, { registry, policy: {}, now: Math.floor(Date.now() / 1000) });
 */
export interface VerifyContext {
  registry: Registry;
  policy: TrustPolicy;
  now: number;
}

/**
 * What verifyMapping takes: the registry, with the policy (strict by default) and the time
 * (Unix seconds, default the clock) optional.
 *
 * @example
 * verifyMapping(mapping, { registry } satisfies VerifyOptions);
 */
export type VerifyOptions = Pick<VerifyContext, 'registry'> & Partial<Pick<VerifyContext, 'policy' | 'now'>>;

function resolved(opts: VerifyOptions): VerifyContext {
  return { registry: opts.registry, policy: opts.policy ?? {}, now: opts.now ?? nowSeconds() };
}

export function isOptOut(body: MappingBody): boolean {
  return body.msp === null && body.ssi === null;
}

/** R1, R5: the possession attestation is signed by a trusted verifier or CSIP, and still valid. */
export function verifyAttestation(att: PossessionAttestation, ctx: VerifyContext): void {
  const issuer = ctx.registry.issuer(att.issuer);
  if (issuer === undefined || !trustsIssuer(ctx.policy, att.issuer)) {
    throw new MimiError('verifier-not-trusted', `attestation issuer ${att.issuer} is not trusted`);
  }
  const allowed =
    issuer.kind === 'csip'
      ? att.method === 'csip-token' && csipCovers(issuer.entry, att.csi)
      : issuer.entry.methods.includes(att.method);
  // R29: control of a domain proves a native identifier and nothing else, and nothing else proves
  // one (a code sent to a phone or mailbox says nothing about who holds mimi:alice@example.net).
  if (
    !allowed ||
    (att.method === 'dns-01') !== att.csi.startsWith('mimi:') ||
    levelOfMethod[att.method] !== att.level ||
    !meetsLevel(ctx.policy, att.level)
  ) {
    throw new MimiError(
      'verifier-not-trusted',
      `${att.issuer} may not attest ${att.method} at level ${att.level} here`,
    );
  }
  const { sig, ...unsigned } = att;
  if (!issuer.entry.keys.some((k) => verifyObject(SignPurpose.Attestation, unsigned, sig, k))) {
    throw new MimiError('attestation-signature-invalid', 'the attestation signature does not verify');
  }
  const skew = ctx.policy.clockSkew ?? defaultClockSkew;
  if (att.issuedAt > ctx.now + skew || att.expiresAt <= att.issuedAt) {
    throw new MimiError('attestation-expired', 'the attestation validity window is not sane');
  }
  if (!ctx.policy.allowExpired && att.expiresAt <= ctx.now) {
    throw new MimiError('attestation-expired', `the attestation expired at ${att.expiresAt}`);
  }
}

/**
 * Everything about a mapping that does not involve the DP: R1-R6, R21. The DP runs this before
 * it accepts; verifyMapping runs it and then checks the DP's part.
 */
/** The canonical JSON (RFC 8785) of a checked mapping's parts, for callers that sign or store them. */
export interface CanonicalParts {
  body: string;
  attestation: string;
}

/**
 * What the MSP signs of a version 2 body (purpose `mapping-countersign`): the body's digest and the
 * holder's signature, so its confirmation holds for this holder signature and no other. A version 1
 * body's MSP signature (purpose `mapping-msp`) covers the body alone.
 */
export function countersignedPart(
  canonicalBody: string,
  holderSig: string,
): { body: string; holderSig: string } {
  return { body: toB64u(sha256(canonicalBody)), holderSig };
}

function mspSigningInput(body: MappingBody, canonicalBody: string, holderSig: string): Uint8Array {
  return body.v === MappingBodyVersion
    ? signingInput(SignPurpose.MappingCountersign, countersignedPart(canonicalBody, holderSig))
    : signingInputOf(SignPurpose.MappingMsp, canonicalBody);
}

/** R2: the MSP's countersignature of a holder-signed version 2 body (the only kind an MSP makes now). */
export function countersign(signed: { body: MappingBody; holderSig: string }, key: SigningKey): string {
  if (signed.body.v !== MappingBodyVersion) {
    throw new MimiError('version-retired', `mapping bodies are countersigned at v${MappingBodyVersion} only`);
  }
  return signObject(
    SignPurpose.MappingCountersign,
    countersignedPart(canonicalize(signed.body), signed.holderSig),
    key,
  );
}

/**
 * `submission`: the DP's accept path for a new mapping or opt-out, which refuses a version 1 body
 * (`version-retired`); a mapping accepted before (stored, served, replicated) is verified at either.
 */
export function verifyHolderAndMsp(
  sub: Pick<MappingSubmission, 'body' | 'attestation' | 'holderSig' | 'mspSig'>,
  ctx: VerifyContext,
  opts: { submission?: boolean } = {},
): CanonicalParts {
  const { body, attestation } = sub;
  if (opts.submission === true && body.v !== MappingBodyVersion) {
    throw new MimiError(
      'version-retired',
      `new mappings are accepted at body v${MappingBodyVersion} only (the MSP signature covers the holder's)`,
    );
  }
  assertCanonicalCsi(body.csi);
  if (sub.holderSig === undefined) {
    throw new MimiError('holder-signature-missing', 'the mapping carries no holder signature (R4, R6)');
  }
  verifyAttestation(attestation, ctx);
  if (attestation.csi !== body.csi || attestation.holderKey !== body.holderKey) {
    throw new MimiError('attestation-mismatch', 'the attestation is for another CSI or holder key');
  }
  const canonicalAttestation = canonicalize(attestation);
  if (toB64u(sha256(canonicalAttestation)) !== body.attestation) {
    throw new MimiError('attestation-mismatch', 'the mapping names a different attestation');
  }
  const canonicalBody = canonicalize(body);
  if (!verifyInput(signingInputOf(SignPurpose.MappingHolder, canonicalBody), sub.holderSig, body.holderKey)) {
    throw new MimiError('holder-signature-invalid', 'the holder signature does not verify (R6)');
  }
  if (isOptOut(body)) {
    if (sub.mspSig !== undefined && sub.mspSig !== null) {
      throw new MimiError('record-invalid', 'an opt-out carries no MSP signature');
    }
  } else {
    if (body.msp === null || body.ssi === null) {
      throw new MimiError('record-invalid', 'a mapping names both an MSP and an SSI, or neither (opt-out)');
    }
    const msp = ctx.registry.msp(body.msp);
    if (msp === undefined)
      throw new MimiError('msp-not-registered', `MSP ${body.msp} is not in the registry (R21)`);
    // R21: an MSP can only speak for users of its own domain.
    if (parseSsi(body.ssi).domain !== msp.domain) {
      throw new MimiError('ssi-msp-mismatch', `SSI ${body.ssi} is not on ${msp.domain} (R21)`);
    }
    if (sub.mspSig === undefined || sub.mspSig === null) {
      throw new MimiError('msp-signature-missing', 'the mapping carries no MSP signature (R2, R4)');
    }
    const input = mspSigningInput(body, canonicalBody, sub.holderSig);
    const mspSig = sub.mspSig;
    if (!msp.keys.some((k) => verifyInput(input, mspSig, k))) {
      throw new MimiError('msp-signature-invalid', 'the MSP signature does not verify (R2)');
    }
  }
  const skew = ctx.policy.clockSkew ?? defaultClockSkew;
  if (body.createdAt > ctx.now + skew || body.expiresAt <= body.createdAt) {
    throw new MimiError('mapping-expired', 'the mapping validity window is not sane');
  }
  if (!ctx.policy.allowExpired && body.expiresAt <= ctx.now) {
    throw new MimiError('mapping-expired', `the mapping expired at ${body.expiresAt}`);
  }
  return { body: canonicalBody, attestation: canonicalAttestation };
}

export function unsignedMapping(m: Mapping): Omit<Mapping, 'dpSig'> {
  const { dpSig: _dpSig, ...rest } = m;
  return rest;
}

/**
 * Full offline verification of a mapping a DP served (R3): possession, holder, MSP and DP.
 *
 * @example
 * verifyMapping(mapping, { registry });
 */
export function verifyMapping(mapping: Mapping, opts: VerifyOptions): void {
  const ctx = resolved(opts);
  verifyHolderAndMsp(mapping, ctx);
  const dp = ctx.registry.dp(mapping.dp);
  if (dp === undefined) throw new MimiError('dp-not-registered', `DP ${mapping.dp} is not in the registry`);
  if (mapping.dpSig === undefined)
    throw new MimiError('dp-signature-invalid', 'the mapping has no DP signature');
  const input = signingInputOf(SignPurpose.MappingDp, canonicalize(unsignedMapping(mapping)));
  const dpSig = mapping.dpSig;
  // Only the DP's records keys: its transport or log keys sign no mapping (registry.md §8.1.1).
  if (!dp.keys.records.some((k) => verifyInput(input, dpSig, k))) {
    throw new MimiError('dp-signature-invalid', 'the DP signature does not verify (R3)');
  }
  if (ctx.policy.requireIndependentVerifier) {
    const issuer = ctx.registry.issuer(mapping.attestation.issuer);
    if (issuer?.entry.operator === dp.operator) {
      throw new MimiError('verifier-not-independent', 'the verifier is run by the DP operator');
    }
  }
}

/**
 * The mapping id: SHA-256 of its canonical signed form.
 *
 * @example
 * const id = mappingId(mapping);
 */
export function mappingId(mapping: Mapping): string {
  return digest(mapping);
}
