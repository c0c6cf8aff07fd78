import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { Type } from '@sinclair/typebox';
import { HolderClient, type HolderSigned } from '../client/holder.js';
import { call, type HttpOptions } from '../client/http.js';
import { openDpCheckpoint } from '../client/log-verify.js';
import { MspAgent } from '../client/msp-agent.js';
import { PrivateLookupClient } from '../client/private-lookup.js';
import { generateKeyPair, importPublicKey, type KeyPair } from '../crypto/keys.js';
import { SignPurpose, signingInput, signObject, verifyInput } from '../crypto/sign.js';
import {
  AcceptAnswer,
  InvalidationAnswer,
  MappingAnswer,
  SessionAnswer,
  VerboseAnswer,
} from '../protocol/answers.js';
import { fromB64u, nowSeconds, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import type { HolderRead, Mapping, MappingSubmission, PossessionAttestation } from '../protocol/records.js';
import { ConsistencyAnswer, logOrigin } from '../protocol/transparency.js';
import { type DpKeyUsage, dpKeyUsages, Registry } from '../registry/document.js';
import {
  countersign as mspCountersign,
  unsignedMapping,
  verifyAttestation,
} from '../registry/verify-mapping.js';
import { type Checkpoint, openCheckpoint } from '../tlog/checkpoint.js';
import { verifyConsistency } from '../tlog/merkle.js';
import { publicKeyOrFileArg, readJson, readKeyFile, readText } from './args.js';
import { CliError, CliErrorCode } from './io.js';

/**
 * The conformance kit: every check a client can make of a DP, over HTTP with the SDK only (never
 * the server's code), so that it judges any implementation of the protocol. The kit acts as one
 * registered MSP (the key given) and as a fresh holder of a CSI in a test range.
 */

/** A check's verdict when it does not pass: `skip` for a feature the DP does not offer. */
class Skip extends CliError {
  constructor(why: string) {
    super(CliErrorCode.CheckSkipped, why);
  }
}

/** A check failed for a reason that has no protocol code (the DP answered, but wrongly). */
class Fail extends CliError {
  constructor(why: string) {
    super(CliErrorCode.CheckFailed, why);
  }
}

interface Check {
  name: string;
  run: (s: State) => Promise<void>;
}

/** What the checks share, in order. */
interface State {
  dp: HttpOptions & { id: string };
  registry: Registry;
  registryBytes: Buffer;
  registryKey: string;
  msp: { id: string; key: KeyPair; domain: string };
  agent: MspAgent;
  otpFile: string | undefined;
  csi: string;
  holder: HolderClient;
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

const Metadata = Type.Object({
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
interface Metadata {
  id: string;
  federation: string;
  keys: string[];
  keysByUsage: Record<DpKeyUsage, string>;
  registrySerial: number;
  modes: string[];
  verifier: { id: string } | null;
  transparency: object | null;
}

function expect(ok: boolean, why: string): asserts ok {
  if (!ok) throw new Fail(why);
}

/** Runs `fn`, which must be refused with `code`. */
async function refused(code: string, fn: () => Promise<unknown>): Promise<void> {
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

async function getText(
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
async function codeFor(file: string | undefined, csi: string, after: number): Promise<string> {
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

function lineCount(file: string | undefined): number {
  if (file === undefined || !existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').length - 1;
}

/** A SessionRequest of the kit's MSP for this DP, signed. */
function sessionRequest(s: State) {
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

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Fail(`${what} is missing (an earlier check failed)`);
  return value;
}

/** The holder's half of a new mapping of the kit's MSP, under `tag`. */
function signed(s: State, tag: string): HolderSigned {
  return s.holder.signMapping({
    csi: s.csi,
    msp: s.msp.id,
    ssi: `mimi://${s.msp.domain}/u/conformance-${tag.toLowerCase()}`,
    tag,
    attestation: need(s.attestation, 'the attestation'),
  });
}

/** Posts a submission as it is, with the kit's session. */
function submitRaw(s: State, sub: MappingSubmission) {
  return call(s.dp, 'POST', '/v1/mappings', AcceptAnswer, sub, need(s.token, 'the session'));
}

/** The same half with another body, signed again by the holder: only the change is wrong. */
function resigned(s: State, h: HolderSigned, body: HolderSigned['body']): HolderSigned {
  return { ...h, body, holderSig: signObject(SignPurpose.MappingHolder, body, s.holder.key.privateKey) };
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
  const seed = Buffer.from(key.privateKey.export({ format: 'jwk' }).d as string, 'base64url');
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

function countersign(s: State, h: HolderSigned, key = s.msp.key): MappingSubmission {
  return { ...h, mspSig: mspCountersign(h, key.privateKey) };
}

/** The verbose lookup of the kit's CSI, retried while the DP's log has not yet covered a new mapping. */
async function lookupOwn(s: State) {
  for (let i = 0; ; i++) {
    try {
      return await s.agent.lookup([s.csi]);
    } catch (err) {
      if (!(err instanceof MimiError) || err.code !== 'log-proof-missing' || i >= 30) throw err;
      await sleep(200);
    }
  }
}

async function latestCheckpoint(s: State): Promise<Checkpoint> {
  const r = await getText(s.dp, '/v1/log/checkpoint');
  expect(r.status === 200, `GET /v1/log/checkpoint: HTTP ${r.status}`);
  return openDpCheckpoint(r.text, s.dp.id, s.registry).checkpoint;
}

export const checks: readonly Check[] = [
  {
    name: 'metadata is served and agrees with the registry',
    async run(s) {
      const m = await call(s.dp, 'GET', '/.well-known/mimi-discovery', Metadata);
      // Later checks read its modes; what it says is held against the registry here.
      s.metadata = m;
      const entry = s.registry.dp(m.id);
      expect(entry !== undefined, `the metadata names ${m.id}, which is not a DP of the registry`);
      expect(m.id === s.dp.id, `the metadata names ${m.id}, the kit talks to ${s.dp.id}`);
      expect(m.federation === s.registry.doc.federation, `federation ${m.federation} is not the registry's`);
      const listed = dpKeyUsages.flatMap((u) => entry.keys[u]);
      expect(
        m.keys.length > 0 && m.keys.every((k) => listed.includes(k)),
        `keys ${m.keys.join(', ')} are not the registry's keys of ${m.id}`,
      );
      for (const usage of dpKeyUsages) {
        expect(
          entry.keys[usage].includes(m.keysByUsage[usage]),
          `its ${usage} key ${m.keysByUsage[usage]} is not among the registry's ${usage} keys of ${m.id}`,
        );
      }
      expect(
        m.registrySerial === s.registry.serial,
        `registry serial ${m.registrySerial}, the file has ${s.registry.serial}`,
      );
      s.metadata = m;
    },
  },
  {
    name: 'GET /v1/registry verifies under the registry key and is the file',
    async run(s) {
      const r = await getText(s.dp, '/v1/registry');
      expect(r.status === 200, `HTTP ${r.status}`);
      Registry.open(JSON.parse(r.text), s.registryKey, { now: nowSeconds() });
      expect(Buffer.from(r.text).equals(s.registryBytes), 'the bytes served differ from the file');
      const etag = `"${createHash('sha256').update(r.text).digest('base64url')}"`;
      expect(r.etag === etag, `ETag ${r.etag}, expected ${etag}`);
    },
  },
  {
    name: 'session opened; its replay refused',
    async run(s) {
      const req = sessionRequest(s);
      const a = await call(s.dp, 'POST', '/v1/session', SessionAnswer, req);
      expect(a.participant === s.msp.id && a.role === 'msp', 'the session is for someone else');
      expect(a.expiresAt > nowSeconds(), 'the session has expired already');
      s.token = a.token;
      // The same request again must be refused.
      await refused('replayed', () => call(s.dp, 'POST', '/v1/session', SessionAnswer, req));
    },
  },
  {
    name: 'session for another audience refused',
    async run(s) {
      const unsigned = { ...sessionRequest(s), audience: `${s.dp.id}x` };
      const { sig: _, ...body } = unsigned;
      const req = { ...body, sig: signObject(SignPurpose.Session, body, s.msp.key.privateKey) };
      await refused('unauthenticated', () => call(s.dp, 'POST', '/v1/session', SessionAnswer, req));
    },
  },
  {
    name: 'challenge answered from the OTP file; a wrong code refused',
    async run(s) {
      const verifier = s.verifier ?? s.holder;
      expect(
        s.verifier !== undefined || s.metadata?.verifier != null,
        'the DP runs no verifier (give --verifier)',
      );
      const before = lineCount(s.otpFile);
      const { challengeId } = await verifier.startChallenge(s.csi);
      const code = await codeFor(s.otpFile, s.csi, before);
      const wrong = String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');
      await refused('code-invalid', () => verifier.answerChallenge(challengeId, wrong));
      const attestation = await verifier.answerChallenge(challengeId, code);
      verifyAttestation(attestation, { registry: s.registry, policy: {}, now: nowSeconds() });
      expect(attestation.csi === s.csi, `the attestation is for ${attestation.csi}`);
      s.attestation = attestation;
      await refused('challenge-not-found', () => verifier.answerChallenge(challengeId, code));
    },
  },
  {
    name: 'mapping published and countersigned',
    async run(s) {
      if (s.metadata?.transparency != null) s.firstCheckpoint = await latestCheckpoint(s);
      // submit() checks that the DP signed exactly the body we sent (R3).
      const answer = await s.agent.submit(await s.agent.confirm(signed(s, 'Default')));
      expect(answer.state === 'active', `state ${answer.state}`);
      expect(answer.mapping.dp === s.dp.id, `accepted by ${answer.mapping.dp}`);
      s.mappingId = answer.id;
      s.mapping = answer.mapping;
    },
  },
  {
    name: 'each DP signature is made with the registry key of its usage',
    async run(s) {
      const m = need(s.metadata, 'the metadata');
      const mapping = need(s.mapping, 'the mapping');
      const separate = s.registry.doc.v !== 1;
      // The DP signature of a mapping: its records key, and (keys per usage) no other of its keys.
      const input = signingInput(SignPurpose.MappingDp, unsignedMapping(mapping));
      const signs = (k: string) => verifyInput(input, mapping.dpSig ?? '', k);
      expect(signs(m.keysByUsage.records), 'the mapping is not signed with its records key');
      if (separate) {
        expect(
          !signs(m.keysByUsage.transport) && !signs(m.keysByUsage.log),
          'the mapping is signed with a transport or log key',
        );
      }
      if (m.transparency == null) return;
      // Its checkpoint: its log key, under the log origin, and no other of its keys.
      const note = (await getText(s.dp, '/v1/log/checkpoint')).text;
      const origin = logOrigin(s.registry.doc.federation, s.dp.id);
      const opens = (k: string) => {
        try {
          openCheckpoint(note, [{ name: origin, publicKey: importPublicKey(k) }], { origin });
          return true;
        } catch {
          return false;
        }
      };
      expect(opens(m.keysByUsage.log), 'the checkpoint is not signed with its log key');
      if (separate) {
        expect(
          !opens(m.keysByUsage.records) && !opens(m.keysByUsage.transport),
          'the checkpoint is signed with a records or transport key',
        );
      }
    },
  },
  {
    name: 'verbose lookup verifies, with its inclusion proof',
    async run(s) {
      const id = need(s.mappingId, 'the mapping');
      // verifyVerboseAnswer (inside lookup) checks every signature and the inclusion proof.
      const [r] = await lookupOwn(s);
      expect(r?.status === 'one' && r.mappings[0]?.id === id, `status ${r?.status}, not our mapping`);
      const answer = await call(
        s.dp,
        'POST',
        '/v1/lookup',
        VerboseAnswer,
        {
          v: 1,
          csis: [s.csi],
          format: 'verbose',
        },
        need(s.token, 'the session'),
      );
      const log = answer.results[0]?.mappings[0]?.log;
      if (log !== undefined)
        s.lookupCheckpoint = openDpCheckpoint(log.checkpoint, s.dp.id, s.registry).checkpoint;
    },
  },
  {
    name: "compact lookup sets the MSP's bit",
    async run(s) {
      const [r] = await s.agent.lookupCompact([s.csi, otherCsi(s.csi)]);
      expect(r?.status === 'one', `status ${r?.status}`);
      expect(r.msps.length === 1 && r.msps[0] === s.msp.id, `bits name ${r.msps.join(', ') || 'no MSP'}`);
    },
  },
  {
    name: 'the log is consistent between two checkpoints',
    async run(s) {
      if (s.metadata?.transparency == null) throw new Skip('the DP keeps no log');
      const a = need(s.firstCheckpoint, 'the first checkpoint');
      const b = need(s.lookupCheckpoint, "the lookup's checkpoint");
      expect(b.size > a.size, `the log did not grow (${a.size} then ${b.size})`);
      const answer = await call(
        s.dp,
        'GET',
        `/v1/log/proof/consistency?from=${a.size}&to=${b.size}`,
        ConsistencyAnswer,
      );
      try {
        verifyConsistency(
          a.size,
          b.size,
          a.rootHash,
          b.rootHash,
          answer.proof.map((p) => fromB64u(p, 'proof')),
        );
      } catch (err) {
        throw new Fail(`no consistency from ${a.size} to ${b.size}: ${(err as Error).message}`);
      }
    },
  },
  {
    name: 'GET /v1/mappings/{id}: its own mapping, and not-found for another id',
    async run(s) {
      const id = need(s.mappingId, 'the mapping');
      const token = need(s.token, 'the session');
      const a = await call(s.dp, 'GET', `/v1/mappings/${id}`, MappingAnswer, undefined, token);
      expect(a.id === id && a.state === 'active', `id ${a.id}, state ${a.state}`);
      const other = toB64u(randomBytes(32));
      await refused('not-found', () =>
        call(s.dp, 'GET', `/v1/mappings/${other}`, MappingAnswer, undefined, token),
      );
    },
  },
  {
    name: 'changed holder signature refused',
    async run(s) {
      const h = signed(s, 'Work');
      const sig = fromB64u(h.holderSig, 'holderSig');
      sig[5]! ^= 1;
      await refused('holder-signature-invalid', () =>
        submitRaw(s, countersign(s, { ...h, holderSig: toB64u(sig) })),
      );
    },
  },
  {
    name: 'MSP signature by another key refused',
    async run(s) {
      await refused('msp-signature-invalid', () =>
        submitRaw(s, countersign(s, signed(s, 'Work'), generateKeyPair())),
      );
    },
  },
  {
    name: 'MSP signature moved onto another holder signature of the same body refused',
    async run(s) {
      const h = signed(s, 'Work');
      const sub = countersign(s, h);
      const other = secondSignature(signingInput(SignPurpose.MappingHolder, h.body), s.holder.key);
      expect(other !== h.holderSig, 'the second holder signature is the first');
      await refused('msp-signature-invalid', () => submitRaw(s, { ...sub, holderSig: other }));
    },
  },
  {
    name: 'new mapping at body version 1 refused',
    async run(s) {
      const h = signed(s, 'Work');
      const body = { ...h.body, v: 1 as const };
      const holderSig = signObject(SignPurpose.MappingHolder, body, s.holder.key.privateKey);
      const mspSig = signObject(SignPurpose.MappingMsp, body, s.msp.key.privateKey);
      await refused('version-retired', () => submitRaw(s, { ...h, body, holderSig, mspSig }));
    },
  },
  {
    name: 'changed attestation refused',
    async run(s) {
      const h = signed(s, 'Work');
      const a = { ...h.attestation, expiresAt: h.attestation.expiresAt + 86_400 };
      await refused('attestation-signature-invalid', () =>
        submitRaw(s, countersign(s, { ...h, attestation: a })),
      );
    },
  },
  {
    name: "mapping for a CSI other than the attestation's refused",
    async run(s) {
      const h = signed(s, 'Work');
      await refused('attestation-mismatch', () =>
        submitRaw(s, countersign(s, resigned(s, h, { ...h.body, csi: otherCsi(s.csi) }))),
      );
    },
  },
  {
    name: 'expired mapping refused',
    async run(s) {
      const h = signed(s, 'Work');
      const now = nowSeconds();
      await refused('mapping-expired', () =>
        submitRaw(
          s,
          countersign(s, resigned(s, h, { ...h.body, createdAt: now - 7200, expiresAt: now - 3600 })),
        ),
      );
    },
  },
  {
    name: 'mapping living longer than the registry allows refused',
    async run(s) {
      const h = signed(s, 'Work');
      const expiresAt = nowSeconds() + s.registry.doc.policy.maxMappingLifetime + 86_400;
      await refused('mapping-lifetime-too-long', () =>
        submitRaw(s, countersign(s, resigned(s, h, { ...h.body, expiresAt }))),
      );
    },
  },
  {
    name: 'holder read answered once; its replay refused',
    async run(s) {
      const unsigned = {
        v: 1 as const,
        csi: s.csi,
        holderKey: s.holder.key.publicKey,
        mapping: need(s.mappingId, 'the mapping'),
        issuedAt: nowSeconds(),
        nonce: randomBytes(16).toString('base64url'),
      };
      const r: HolderRead = {
        ...unsigned,
        sig: signObject(SignPurpose.HolderRead, unsigned, s.holder.key.privateKey),
      };
      const a = await call(s.dp, 'POST', '/v1/holder/mapping', MappingAnswer, r);
      expect(a.id === s.mappingId, 'another mapping came back');
      await refused('replayed', () => call(s.dp, 'POST', '/v1/holder/mapping', MappingAnswer, r));
    },
  },
  {
    name: 'private lookup end to end (VOPRF proof, logged key)',
    async run(s) {
      if (!s.metadata?.modes.includes('private')) throw new Skip('the DP offers no private lookup');
      const client = new PrivateLookupClient({
        dp: s.dp,
        registry: () => s.registry,
        credential: () => s.agent.sessionToken(),
      });
      try {
        // The DP may publish a new entry in its buckets a little after accepting it.
        for (let i = 0; ; i++) {
          const [r] = await client.lookup([s.csi]);
          if (r?.mappings.some((m) => m.id === s.mappingId)) return;
          expect(i < 50, `status ${r?.status}: our mapping is not in the private answer`);
          await sleep(200);
        }
      } finally {
        await client.close();
      }
    },
  },
  {
    name: 'invalidation withdraws the mapping; its replay refused',
    async run(s) {
      const id = need(s.mappingId, 'the mapping');
      const unsigned = {
        v: 1 as const,
        csi: s.csi,
        holderKey: s.holder.key.publicKey,
        target: id,
        issuedAt: nowSeconds(),
      };
      const inv = {
        ...unsigned,
        sig: signObject(SignPurpose.Invalidation, unsigned, s.holder.key.privateKey),
      };
      const r = await call(s.dp, 'POST', '/v1/holder/invalidate', InvalidationAnswer, inv);
      expect(r.invalidated.includes(id), `invalidated ${r.invalidated.join(', ') || 'nothing'}`);
      // The same signed request again is a replay, whatever it would now do.
      await refused('replayed', () => call(s.dp, 'POST', '/v1/holder/invalidate', InvalidationAnswer, inv));
      const [after] = await lookupOwn(s);
      expect(after?.status === 'none', `the lookup still says ${after?.status}`);
      const a = await call(
        s.dp,
        'GET',
        `/v1/mappings/${id}`,
        MappingAnswer,
        undefined,
        need(s.token, 'the session'),
      );
      expect(a.state === 'invalidated', `state ${a.state}`);
    },
  },
  {
    name: 'opt-out served as opt-out',
    async run(s) {
      const answer = await s.holder.optOut(need(s.attestation, 'the attestation'));
      s.optOutId = answer.id;
      const [r] = await lookupOwn(s);
      expect(r?.status === 'opt-out' && r.mappings[0]?.id === answer.id, `the lookup says ${r?.status}`);
    },
  },
  {
    name: 'key rotation: the old key refused, the new key works',
    async run(s) {
      s.oldKey = s.holder.key;
      const oldHolder = new HolderClient(s.dp, { key: s.oldKey });
      await s.holder.rotateKey(s.csi);
      await refused('holder-key-retired', () => oldHolder.invalidate(s.csi, null));
      const r = await s.holder.invalidate(s.csi, null);
      expect(
        r.invalidated.includes(need(s.optOutId, 'the opt-out')),
        'the new key did not withdraw the opt-out',
      );
      const [after] = await lookupOwn(s);
      expect(after?.status === 'none', `the lookup says ${after?.status}`);
    },
  },
];

/** Another address of the same test domain, which nobody holds. */
function otherCsi(csi: string): string {
  return csi.replace(/^mailto:conformance-/, `mailto:other-${randomBytes(3).toString('hex')}-`);
}

export interface ConformanceResult {
  passed: number;
  failed: number;
  skipped: number;
  lines: string[];
}

/** Runs every check in order; each prints PASS, FAIL or SKIP as it ends. */
export async function runConformance(
  s: State,
  say: (line: string) => void = () => undefined,
): Promise<ConformanceResult> {
  const result: ConformanceResult = { passed: 0, failed: 0, skipped: 0, lines: [] };
  const out = (line: string) => {
    result.lines.push(line);
    say(line);
  };
  for (const check of checks) {
    try {
      await check.run(s);
      result.passed++;
      out(`PASS ${check.name}`);
    } catch (err) {
      if (err instanceof Skip) {
        result.skipped++;
        out(`SKIP ${check.name}: ${err.message}`);
        continue;
      }
      result.failed++;
      const why =
        err instanceof MimiError && !(err instanceof Fail)
          ? `${err.code} (${err.message})`
          : (err as Error).message;
      out(`FAIL ${check.name}: ${why}`);
    }
  }
  out(`${result.passed} passed, ${result.failed} failed`);
  return result;
}

function urlArg(input: string, option: string): string {
  try {
    const url = new URL(input);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // below
  }
  throw new CliError(CliErrorCode.InvalidArgument, `${option} "${input}" is not an http(s) URL`);
}

export async function conformanceAction(opts: {
  dp: string;
  registry: string;
  registryKey: string;
  mspKey: string;
  otpFile?: string;
  dpId?: string;
  verifier?: string;
}): Promise<void> {
  const baseUrl = urlArg(opts.dp, '--dp');
  const registryKey = publicKeyOrFileArg(opts.registryKey, '--registry-key');
  const registryBytes = Buffer.from(readText(opts.registry, '--registry'));
  const registry = Registry.open(readJson(opts.registry, '--registry'), registryKey, { now: nowSeconds() });
  const verifierUrl = opts.verifier === undefined ? undefined : urlArg(opts.verifier, '--verifier');
  const key = readKeyFile(opts.mspKey, '--msp-key');
  const msp = registry.allMsps().find((m) => m.keys.includes(key.publicKey));
  if (msp === undefined) {
    throw new CliError(CliErrorCode.InvalidArgument, '--msp-key is the key of no MSP of the registry');
  }
  // The DP's id: given, else the registry DP at this endpoint, else the one its metadata names
  // (which the first check then holds against the registry).
  let dpId = opts.dpId ?? registry.allDps().find((d) => new URL(d.endpoint).toString() === baseUrl)?.id;
  if (dpId === undefined) {
    const m = await call(
      { baseUrl },
      'GET',
      '/.well-known/mimi-discovery',
      Type.Object({ id: Type.String() }),
    );
    dpId = m.id;
  }
  const dp = { baseUrl, id: dpId };
  // A fresh address on every run: runs against one DP never meet each other's holders.
  const csi = `mailto:conformance-${randomBytes(6).toString('hex')}@example.org`;
  const holder = new HolderClient(dp);
  const state: State = {
    dp,
    registry,
    registryBytes,
    registryKey,
    msp: { id: msp.id, key, domain: msp.domain },
    agent: new MspAgent({
      id: msp.id,
      key,
      dp,
      registry: () => registry,
      // The kit confirms its own holder's mapping on the kit's own users (R2).
      isOwnUser: (ssi) => ssi.startsWith(`mimi://${msp.domain}/u/conformance-`),
    }),
    otpFile: opts.otpFile,
    csi,
    holder,
    verifier:
      verifierUrl === undefined ? undefined : new HolderClient({ baseUrl: verifierUrl }, { key: holder.key }),
  };
  const r = await runConformance(state, (line) => process.stdout.write(`${line}\n`));
  if (r.failed > 0) process.exitCode = 1;
}
