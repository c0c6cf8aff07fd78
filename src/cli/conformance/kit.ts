import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { Type } from '@sinclair/typebox';
import type { HolderClient, HolderSigned } from '../../client/holder.js';
import { call, type HttpOptions } from '../../client/http.js';
import { openDpCheckpoint } from '../../client/log-verify.js';
import type { MspAgent } from '../../client/msp-agent.js';
import { type KeyPair, seedOf } from '../../crypto/keys.js';
import { SignPurpose, signObject } from '../../crypto/sign.js';
import { AcceptAnswer } from '../../protocol/answers.js';
import { nowSeconds } from '../../protocol/encoding.js';
import { MimiError } from '../../protocol/errors.js';
import type { Mapping, MappingSubmission, PossessionAttestation } from '../../protocol/records.js';
import type { DpKeyUsage, Registry } from '../../registry/document.js';
import { countersign as mspCountersign } from '../../registry/verify-mapping.js';
import type { Checkpoint } from '../../tlog/checkpoint.js';
import { CliError, CliErrorCode } from '../io.js';

/**
 * What the conformance checks share: the state they build up in order, the verdicts Skip and
 * Fail, and the helpers that sign, submit and read as the kit's MSP and holder.
 */
/**
 * The conformance kit: every check a client can make of a DP, over HTTP with the SDK only (never
 * the server's code), so that it judges any implementation of the protocol. The kit acts as one
 * registered MSP (the key given) and as a fresh holder of a CSI in a test range.
 */

/** A check's verdict when it does not pass: `skip` for a feature the DP does not offer. */
export class Skip extends CliError {
  constructor(why: string) {
    super(CliErrorCode.CheckSkipped, why);
  }
}

/** A check failed for a reason that has no protocol code (the DP answered, but wrongly). */
export class Fail extends CliError {
  constructor(why: string) {
    super(CliErrorCode.CheckFailed, why);
  }
}

export interface Check {
  name: string;
  run: (s: State) => Promise<void>;
}

/** What the checks share, in order. */
export interface State {
  dp: HttpOptions & { id: string };
  registry: Registry;
  registryBytes: Buffer;
  registryKey: string;
  msp: { id: string; key: KeyPair; domain: string };
  agent: MspAgent;
  otpFile: string | undefined;
  csi: string;
  holder: HolderClient;
  /** The holder's key, for the requests the kit signs by hand (a changed body, a raw read). */
  holderKey: KeyPair;
  /** Where the holder proves possession: the DP, or the verifier given apart. */
  verifier: HolderClient | undefined;
  metadata?: Metadata;
  token?: string;
  attestation?: PossessionAttestation;
  mappingId?: string;
  mapping?: Mapping;
  optOutId?: string;
  firstCheckpoint?: Checkpoint;
  lookupCheckpoint?: Checkpoint;
  oldKey?: KeyPair;
}

export const Metadata = Type.Object({
  v: Type.Literal(1),
  id: Type.String(),
  federation: Type.String(),
  keys: Type.Array(Type.String()),
  keysByUsage: Type.Object({ records: Type.String(), transport: Type.String(), log: Type.String() }),
  registrySerial: Type.Integer(),
  modes: Type.Array(Type.String()),
  verifier: Type.Union([Type.Null(), Type.Object({ id: Type.String() })]),
  transparency: Type.Union([Type.Null(), Type.Object({})]),
});
export interface Metadata {
  id: string;
  federation: string;
  keys: string[];
  keysByUsage: Record<DpKeyUsage, string>;
  registrySerial: number;
  modes: string[];
  verifier: { id: string } | null;
  transparency: object | null;
}

export function expect(ok: boolean, why: string): asserts ok {
  if (!ok) throw new Fail(why);
}

/** Runs `fn`, which must be refused with `code`. */
export async function refused(code: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof MimiError) {
      expect(err.code === code, `refused with ${err.code}, expected ${code}`);
      return;
    }
    throw err;
  }
  throw new Fail(`accepted, expected ${code}`);
}

export async function getText(
  dp: HttpOptions,
  path: string,
): Promise<{ status: number; text: string; etag: string | null }> {
  let res: Response;
  try {
    res = await fetch(new URL(path, dp.baseUrl), { signal: AbortSignal.timeout(dp.timeoutMs ?? 10_000) });
  } catch (err) {
    throw new MimiError('unreachable', `${dp.baseUrl} did not answer: ${(err as Error).message}`);
  }
  return { status: res.status, text: await res.text(), etag: res.headers.get('etag') };
}

/** The newest code the OTP file (one JSON object a line, `{to, code}`) holds for `csi`. */
export async function codeFor(file: string | undefined, csi: string, after: number): Promise<string> {
  if (file === undefined) throw new Skip('no --otp-file');
  for (let i = 0; i < 50; i++) {
    if (existsSync(file)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      for (let j = lines.length - 1; j >= 0; j--) {
        try {
          const e = JSON.parse(lines[j]!) as { to?: unknown; code?: unknown };
          if (e.to === csi && typeof e.code === 'string' && j >= after) return e.code;
        } catch {
          // a blank or torn line
        }
      }
    }
    await sleep(100);
  }
  throw new Fail(`no code for ${csi} in ${file}`);
}

export function lineCount(file: string | undefined): number {
  if (file === undefined || !existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').length - 1;
}

/** A SessionRequest of the kit's MSP for this DP, signed. */
export function sessionRequest(s: State) {
  const unsigned = {
    v: 1 as const,
    participant: s.msp.id,
    role: 'msp' as const,
    audience: s.dp.id,
    issuedAt: nowSeconds(),
    nonce: randomBytes(16).toString('base64url'),
  };
  return { ...unsigned, sig: signObject(SignPurpose.Session, unsigned, s.msp.key.privateKey) };
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Fail(`${what} is missing (an earlier check failed)`);
  return value;
}

/** The holder's half of a new mapping of the kit's MSP, under `tag`. */
export function signed(s: State, tag: string): HolderSigned {
  return s.holder.signMapping({
    csi: s.csi,
    msp: s.msp.id,
    ssi: `mimi://${s.msp.domain}/u/conformance-${tag.toLowerCase()}`,
    tag,
    attestation: need(s.attestation, 'the attestation'),
  });
}

/** Posts a submission as it is, with the kit's session. */
export function submitRaw(s: State, sub: MappingSubmission) {
  return call(s.dp, 'POST', '/v1/mappings', AcceptAnswer, sub, need(s.token, 'the session'));
}

/** The same half with another body, signed again by the holder: only the change is wrong. */
export function resigned(s: State, h: HolderSigned, body: HolderSigned['body']): HolderSigned {
  return { ...h, body, holderSig: signObject(SignPurpose.MappingHolder, body, s.holderKey.privateKey) };
}

/**
 * A second valid Ed25519 signature of `message` by `key`, with a random nonce r: R = rB,
 * S = r + SHA-512(R || A || M)·a mod L (RFC 8032 §5.1.6 with r drawn at random). RFC 8032 signers
 * derive r from the key and the message, so they make one signature per message, but verifiers
 * cannot tell and hedged signers exist; the kit needs two holder signatures of one body to check
 * that an MSP signature does not move from one to the other. No library signs with a chosen or
 * random nonce (libsodium, node:crypto and @noble/curves are all deterministic), so the two
 * lines are written here over @noble/curves' point arithmetic. Only for building test inputs.
 */
export function secondSignature(message: Uint8Array, key: KeyPair): string {
  const seed = seedOf(key.privateKey);
  const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(seed);
  const n = ed25519.Point.CURVE().n;
  const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
  const r = le(randomBytes(64)) % n;
  const R = ed25519.Point.BASE.multiply(r).toBytes();
  const s = (r + (le(sha512(Buffer.concat([R, pointBytes, message]))) % n) * scalar) % n;
  return Buffer.concat([R, Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse()]).toString(
    'base64url',
  );
}

export function countersign(s: State, h: HolderSigned, key = s.msp.key): MappingSubmission {
  return { ...h, mspSig: mspCountersign(h, key.privateKey) };
}

/** The verbose lookup of the kit's CSI, retried while the DP's log has not yet covered a new mapping. */
export async function lookupOwn(s: State) {
  for (let i = 0; ; i++) {
    try {
      return await s.agent.lookup([s.csi]);
    } catch (err) {
      if (!(err instanceof MimiError) || err.code !== 'log-proof-missing' || i >= 30) throw err;
      await sleep(200);
    }
  }
}

export async function latestCheckpoint(s: State): Promise<Checkpoint> {
  const r = await getText(s.dp, '/v1/log/checkpoint');
  expect(r.status === 200, `GET /v1/log/checkpoint: HTTP ${r.status}`);
  return openDpCheckpoint(r.text, { dp: s.dp.id, registry: s.registry }).checkpoint;
}

/** Another address of the same test domain, which nobody holds. */
export function otherCsi(csi: string): string {
  return csi.replace(/^mailto:conformance-/, `mailto:other-${randomBytes(3).toString('hex')}-`);
}
