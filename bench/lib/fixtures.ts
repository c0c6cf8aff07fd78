import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDevnet } from '../../src/cli/devnet-access.js';
import { readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import type { DevnetLayout } from '../../src/cli/devnet-layout.js';
import { HolderClient } from '../../src/client/holder.js';
import { canonicalize } from '../../src/crypto/jcs.js';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { digest, SignPurpose, signObject } from '../../src/crypto/sign.js';
import { parseCsi } from '../../src/protocol/identifiers.js';
import type { Mapping, MappingSubmission } from '../../src/protocol/records.js';
import type { Registry } from '../../src/registry/document.js';
import { countersign } from '../../src/registry/verify-mapping.js';
import { MappingState, type StoredMapping } from '../../src/store/store.js';
import { signAttestation } from '../../src/verifier/attestation.js';

/**
 * Bench fixtures: distinct phone-number CSIs, fully signed mapping submissions (verifier
 * attestation, holder and MSP signatures), and stored rows countersigned by the DP exactly as
 * DiscoveryProvider.accept builds them.
 */

// Real US area codes; exchanges from 200 up, so every number is valid for libphonenumber-js/max.
const areas = [212, 415, 646, 202, 312, 617, 305, 206, 213, 718, 303, 404, 512, 602, 702, 713];

/** The i-th bench CSI, canonical (`tel:+1...`). Distinct for i below 16 * 800 * 10,000. */
export function benchCsi(i: number): string {
  const area = areas[i % areas.length]!;
  const rest = Math.floor(i / areas.length);
  const exchange = 200 + Math.floor(rest / 10_000);
  const line = rest % 10_000;
  return `tel:+1${area}${exchange}${String(line).padStart(4, '0')}`;
}

export interface Signers {
  verifierId: string;
  verifier: KeyPair;
  dpId: string;
  /** The DP's `records` key: it signs dpSig (registry v2 names each DP key's usage). */
  dp: KeyPair;
  msps: { id: string; domain: string; key: KeyPair }[];
}

/** The devnet's private keys, read from its folder. */
export function devnetSigners(dir: string): Signers {
  const layout = readDevnet(dir);
  return {
    verifierId: 'verifier1',
    verifier: readJwkFile(`${dir}/keys/verifier1.jwk`),
    dpId: 'dp1',
    dp: readJwkFile(`${dir}/keys/dp1.records.jwk`),
    msps: layout.msps.map((m) => ({ id: m.id, domain: m.domain, key: readJwkFile(m.keyFile) })),
  };
}

/** A devnet of one DP in a temp folder, for the in-process benches. */
export interface TempDevnet {
  dir: string;
  layout: DevnetLayout;
  /** Its registry, opened and checked against the pinned key as a client does. */
  registry: Registry;
  signers: Signers;
  /** Deletes the folder. */
  remove(): void;
}

/** Writes a devnet of one DP into a fresh temp folder named `<prefix>XXXXXX`. */
export function tempDevnet(prefix: string): TempDevnet {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const layout = writeDevnet(dir, { port: 1 });
    return { dir, layout, registry: openDevnet(dir).registry(), signers: devnetSigners(dir), remove };
  } catch (e) {
    remove();
    throw e;
  }
}

/**
 * A submission as an MSP would POST it: a fresh holder key, an attestation minted with the
 * verifier's key (what a passed OTP challenge returns), the holder's and the MSP's signatures.
 */
export function signedSubmission(signers: Signers, i: number, now: number): MappingSubmission {
  const csi = parseCsi(benchCsi(i)).uri;
  const msp = signers.msps[i % signers.msps.length]!;
  const holder = new HolderClient({
    dp: { baseUrl: 'http://unused.invalid' },
    key: generateKeyPair(),
    now: () => now,
  });
  const attestation = signAttestation(
    {
      csi,
      holderKey: holder.publicKey,
      method: 'sms-otp',
      issuer: signers.verifierId,
      issuedAt: now - 60,
      lifetimeSeconds: 90 * 86_400,
    },
    signers.verifier.privateKey,
  );
  const signed = holder.signMapping({
    csi,
    msp: msp.id,
    ssi: `mimi://${msp.domain}/u/user${i}`,
    attestation,
  });
  // R2: the MSP countersigns the body and the holder's signature (mapping body v2).
  return { ...signed, mspSig: countersign(signed, msp.key.privateKey) };
}

/**
 * The row DiscoveryProvider.accept stores for a first-holder submission, countersigned by the DP.
 * `logIndex` is the index of the mapping's transparency-log leaf (null without a log), signed
 * with the rest as accept does.
 */
export function acceptedRow(
  signers: Signers,
  sub: MappingSubmission,
  now: number,
  logIndex: number | null = null,
): StoredMapping {
  const { body, attestation } = sub;
  const unsigned: Mapping = {
    v: 1,
    body,
    attestation,
    holderSig: sub.holderSig,
    mspSig: sub.mspSig,
    dp: signers.dpId,
    acceptedAt: now,
    logIndex,
  };
  const mapping: Mapping = {
    ...unsigned,
    dpSig: signObject(SignPurpose.MappingDp, unsigned, signers.dp.privateKey),
  };
  const json = canonicalize(mapping);
  return {
    id: createHash('sha256').update(json).digest('base64url'),
    csi: body.csi,
    holderGroup: body.holderKey,
    holderKey: body.holderKey,
    msp: body.msp,
    tag: body.tag,
    priority: body.priority,
    optOut: false,
    level: attestation.level,
    state: MappingState.Active,
    acceptedAt: now,
    expiresAt: body.expiresAt,
    contestDeadline: null,
    bodyDigest: digest(body),
    json,
  };
}
