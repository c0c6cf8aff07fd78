import { closeSync, existsSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { HolderClient } from '../client/holder.js';
import { generateKeyPair, keyPairToJwk } from '../crypto/keys.js';
import { MimiError } from '../protocol/errors.js';
import { formatSsi } from '../protocol/identifiers.js';
import { decodeRecord, type Mapping, PossessionAttestation } from '../protocol/records.js';
import { countersign, verifyAttestation } from '../registry/verify-mapping.js';
import { signAttestation } from '../verifier/attestation.js';
import { csiArg, readJson, readKeyFile, writeJson } from './args.js';
import { codeFromOutbox, type DevnetAccess } from './devnet-access.js';
import { CliError, CliErrorCode, isoTime, table } from './io.js';

/**
 * The holder's side against a devnet: the holder key lives in DIR/holders/<csi>.jwk (or --key),
 * the attestation next to it. Publishing plays the MSP too, with the MSP key from the devnet.
 */
export interface HolderFiles {
  client: HolderClient;
  keyFile: string;
  attestationFile: string;
  challengeFile: string;
  created: boolean;
}

/** A path as a person would type it: relative when under the working folder. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.length > 0 && !rel.startsWith('..') ? rel : path;
}

export function openHolder(
  net: DevnetAccess,
  csi: string,
  opts: { keyFile?: string; create: boolean },
): HolderFiles {
  const keyFile = opts.keyFile ?? net.holderKeyFile(csi);
  const base = keyFile.replace(/\.jwk$/, '');
  const files = {
    keyFile,
    attestationFile: `${base}.attestation.json`,
    challengeFile: `${base}.challenge.json`,
  };
  const http = { baseUrl: net.endpoint };
  if (existsSync(keyFile)) {
    return {
      ...files,
      client: new HolderClient({ dp: http, key: readKeyFile(keyFile, 'holder key') }),
      created: false,
    };
  }
  if (!opts.create) {
    throw new CliError(
      CliErrorCode.FileNotFound,
      `no holder key for ${csi} (looked for ${shown(keyFile)})`,
      'a holder key is made by holder prove, holder publish or holder opt-out',
    );
  }
  const key = generateKeyPair();
  writeJson(keyFile, keyPairToJwk(key), { mode: 0o600, exclusive: true, what: 'holder key' });
  return { ...files, client: new HolderClient({ dp: http, key }), created: true };
}

/** The saved attestation, when it is for this CSI and key, verifies, and has a day left. */
export function savedAttestation(
  net: DevnetAccess,
  h: HolderFiles,
  csi: string,
): PossessionAttestation | undefined {
  if (!existsSync(h.attestationFile)) return undefined;
  try {
    const att = decodeRecord(
      PossessionAttestation,
      readJson(h.attestationFile, 'attestation'),
      'attestation',
    );
    const now = Math.floor(Date.now() / 1000);
    if (att.csi !== csi || att.holderKey !== h.client.publicKey || att.expiresAt < now + 86_400)
      return undefined;
    verifyAttestation(att, { registry: net.registry(), policy: {}, now });
    return att;
  } catch {
    return undefined;
  }
}

export interface ProveOutcome {
  attestation: PossessionAttestation;
  challengeId: string;
  code: string;
  codeFrom: 'outbox' | 'option' | 'dns';
  holder: HolderFiles;
}

/** R1: a possession challenge at the devnet's verifier, answered from the outbox or with --code. */
export async function prove(
  net: DevnetAccess,
  opts: { csi: string; code?: string; challenge?: string; keyFile?: string },
): Promise<ProveOutcome> {
  const csi = csiArg(opts.csi);
  const holder = openHolder(net, csi, { keyFile: opts.keyFile, create: true });
  if (opts.code !== undefined && !/^[0-9]{6,10}$/.test(opts.code)) {
    throw new CliError(CliErrorCode.InvalidArgument, `--code must be 6 to 10 digits, got "${opts.code}"`);
  }
  if (opts.challenge !== undefined && !/^[A-Za-z0-9_-]{16,64}$/.test(opts.challenge)) {
    throw new CliError(CliErrorCode.InvalidArgument, `--challenge "${opts.challenge}" is not a challenge id`);
  }
  if (csi.startsWith('mimi:')) return proveDns01(holder, csi, opts.challenge);
  if (opts.challenge !== undefined && opts.code === undefined) {
    throw new CliError(CliErrorCode.Usage, '--challenge needs --code: the code that answers it');
  }
  const challengeId = opts.challenge ?? (await holder.client.startChallenge(csi)).challengeId;
  const code = opts.code ?? codeFromOutbox(net.outboxFile, csi);
  if (code === undefined) {
    throw new CliError(
      CliErrorCode.FileNotFound,
      `the code for ${csi} is not in the devnet outbox ${shown(net.outboxFile)}`,
      `when it reaches you, run: holder prove --csi ${csi} --challenge ${challengeId} --code <code>`,
    );
  }
  let attestation: PossessionAttestation;
  try {
    attestation = await holder.client.answerChallenge(challengeId, code);
  } catch (err) {
    if (err instanceof MimiError && err.code === 'code-invalid') {
      throw new MimiError(
        'code-invalid',
        `${err.message} (${String(err.extra?.attemptsLeft ?? '?')} attempts left)`,
        {
          ...err.extra,
          challengeId,
          hint: `answer again with: holder prove --csi ${csi} --challenge ${challengeId} --code <code>`,
        },
      );
    }
    throw err;
  }
  writeJson(holder.attestationFile, attestation);
  return { attestation, challengeId, code, codeFrom: opts.code === undefined ? 'outbox' : 'option', holder };
}

/**
 * R29: a native identifier is proven by dns-01. The first run starts the challenge and says which
 * TXT record to publish (a `dns-challenge-failed` problem carrying the name, value and challenge
 * id); once it is published, `--challenge <id>` asks the verifier to check it.
 */
async function proveDns01(
  holder: HolderFiles,
  csi: string,
  challenge: string | undefined,
): Promise<ProveOutcome> {
  if (challenge === undefined) {
    const started = await holder.client.startChallenge(csi);
    const dns = started.dns!;
    throw new MimiError('dns-challenge-failed', `publish TXT ${dns.name} "${dns.value}" first`, {
      challengeId: started.challengeId,
      name: dns.name,
      value: dns.value,
      hint: `once it is published, run: holder prove --csi ${csi} --challenge ${started.challengeId}`,
    });
  }
  const attestation = await holder.client.checkDnsChallenge(challenge);
  writeJson(holder.attestationFile, attestation);
  return { attestation, challengeId: challenge, code: '', codeFrom: 'dns', holder };
}

export function proveText(p: ProveOutcome): string {
  const a = p.attestation;
  return [
    `proved possession of ${a.csi} (${p.codeFrom === 'dns' ? 'dns-01 record' : `code from ${p.codeFrom === 'outbox' ? 'the devnet outbox' : '--code'}`})`,
    table([
      ['attestation', `${a.method} by ${a.issuer}, level ${a.level}, valid until ${isoTime(a.expiresAt)}`],
      ['holder key', a.holderKey],
      ['files', `${shown(p.holder.keyFile)}, ${shown(p.holder.attestationFile)}`],
    ]),
  ].join('\n');
}

/** The saved attestation, or a fresh proof through the outbox. */
async function attestationFor(
  net: DevnetAccess,
  csi: string,
  keyFile: string | undefined,
): Promise<{ holder: HolderFiles; attestation: PossessionAttestation; proved?: ProveOutcome }> {
  csi = csiArg(csi);
  const holder = openHolder(net, csi, { keyFile, create: true });
  const saved = savedAttestation(net, holder, csi);
  if (saved !== undefined) return { holder, attestation: saved };
  const proved = await prove(net, { csi, keyFile: holder.keyFile });
  return { holder: proved.holder, attestation: proved.attestation, proved };
}

export interface PublishOptions {
  csi: string;
  msp: string;
  user: string;
  tag?: string;
  priority?: number;
  supersedes?: string;
  keyFile?: string;
}

export interface Published {
  id: string;
  state: 'active' | 'contested';
  duplicate: boolean;
  mapping: Mapping;
  file: string;
  proved: ProveOutcome | undefined;
}

/** R2, R3, R6, R7: the holder signs, the MSP confirms and submits, the DP countersigns. */
export async function publish(net: DevnetAccess, opts: PublishOptions): Promise<Published> {
  const msp = net.registry().msp(opts.msp);
  const agent = net.msp(opts.msp);
  const ssi = formatSsi(msp!.domain, opts.user);
  const { holder, attestation, proved } = await attestationFor(net, opts.csi, opts.keyFile);
  const signed = holder.client.signMapping({
    csi: attestation.csi,
    msp: opts.msp,
    ssi,
    tag: opts.tag,
    priority: opts.priority,
    attestation,
    supersedes: opts.supersedes ?? null,
  });
  return kept(net, await agent.submit(await agent.confirm(signed)), proved);
}

/** An accepted mapping, kept in the devnet's mappings/ folder. */
function kept(
  net: DevnetAccess,
  answer: Pick<Published, 'id' | 'state' | 'duplicate' | 'mapping'>,
  proved: ProveOutcome | undefined,
): Published {
  const file = net.mappingFile(answer.id);
  writeJson(file, answer.mapping);
  return {
    id: answer.id,
    state: answer.state,
    duplicate: answer.duplicate,
    mapping: answer.mapping,
    file,
    proved,
  };
}

export function publishedText(p: Published, what = 'published mapping'): string {
  const b = p.mapping.body;
  const lines = [
    ...(p.proved === undefined ? [] : [proveText(p.proved), '']),
    `${what} ${p.id}  state ${p.state}${p.duplicate ? ' (already accepted before)' : ''}`,
    table([
      ['csi', b.csi],
      ...(b.msp === null ? [] : ([['msp', `${b.msp}  ${b.ssi}`]] as [string, string][])),
      ['tag', `${b.tag} (priority ${b.priority})`],
      ['expires', isoTime(b.expiresAt)],
      ['file', shown(p.file)],
    ]),
  ];
  if (p.state === 'contested') {
    lines.push(
      'contested: another holder published this identifier first and keeps precedence (R17). This',
      'mapping is not served unless that holder fails to prove possession again within the contest window.',
    );
  }
  return lines.join('\n');
}

/** R14, R25: a signed opt-out, straight to the DP. */
export async function optOut(net: DevnetAccess, opts: { csi: string; keyFile?: string }): Promise<Published> {
  const { holder, attestation, proved } = await attestationFor(net, opts.csi, opts.keyFile);
  return kept(net, await holder.client.optOut(attestation), proved);
}

/** R19, R25: withdraw one mapping, or all of them. */
export async function invalidate(
  net: DevnetAccess,
  opts: { csi: string; id: string | null; keyFile?: string },
): Promise<string[]> {
  const csi = csiArg(opts.csi);
  const holder = openHolder(net, csi, { keyFile: opts.keyFile, create: false });
  return (await holder.client.invalidate(csi, opts.id)).invalidated;
}

/** R19: move to a new key; the old one is kept aside as <name>.retired-<time>.jwk. */
export async function rotate(
  net: DevnetAccess,
  opts: { csi: string; keyFile?: string },
): Promise<{ oldKey: string; newKey: string; keyFile: string; retiredFile: string }> {
  const csi = csiArg(opts.csi);
  const holder = openHolder(net, csi, { keyFile: opts.keyFile, create: false });
  const oldKey = holder.client.publicKey;
  const next = generateKeyPair();
  // The new key is on disk before the DP hears of it, so a crash cannot leave us without it.
  const nextFile = holder.keyFile.replace(/\.jwk$/, '.next.jwk');
  writeJson(nextFile, keyPairToJwk(next), { mode: 0o600 });
  await holder.client.rotateKey(csi, next);
  const retiredFile = holder.keyFile.replace(/\.jwk$/, `.retired-${Math.floor(Date.now() / 1000)}.jwk`);
  renameSync(holder.keyFile, retiredFile);
  renameSync(nextFile, holder.keyFile);
  // The attestation named the old key; the next publish proves possession again.
  rmSync(holder.attestationFile, { force: true });
  return { oldKey, newKey: next.publicKey, keyFile: holder.keyFile, retiredFile };
}

/**
 * Sample data for bulk onboarding (`import`): `count` signed submissions for consecutive phone
 * numbers from `first`, each with its own new holder key, a possession token from the devnet's
 * CSIP (R1, R5, R16: method csip-token), the holder's signature (R6) and the MSP's countersignature
 * (R2, R21), one JSON submission per line: what POST /v1/mappings takes. The holder keys are not
 * kept: these holders can publish nothing more.
 */
export function exportSubmissions(
  net: DevnetAccess,
  opts: { msp: string; count: number; first: string; out: string; force?: boolean },
): { file: string; count: number; first: string; last: string } {
  const registry = net.registry();
  const msp = registry.msp(opts.msp);
  if (msp === undefined) throw new MimiError('msp-not-registered', `MSP ${opts.msp} is not in the registry`);
  const csip = net.layout.csip;
  const csipKey = readKeyFile(csip.keyFile, `key of ${csip.id}`);
  const mspKey = readKeyFile(join(net.dir, 'keys', `${opts.msp}.jwk`), `key of ${opts.msp}`);
  const first = csiArg(opts.first, '--first');
  if (!first.startsWith('tel:+')) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--first must be a phone number (the CSIP's scope), got ${first}`,
    );
  }
  const start = BigInt(first.slice(5));
  const csiAt = (i: number) => csiArg(`+${start + BigInt(i)}`, `number #${i + 1} from --first`);
  const last = csiAt(opts.count - 1);
  let fd: number;
  try {
    fd = openSync(opts.out, opts.force ? 'w' : 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError(
        CliErrorCode.FileExists,
        `--out: ${opts.out} exists already`,
        'pass --force to replace it',
      );
    }
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--out: cannot write ${opts.out}: ${(err as Error).message}`,
    );
  }
  try {
    const now = Math.floor(Date.now() / 1000);
    let chunk: string[] = [];
    for (let i = 0; i < opts.count; i++) {
      const csi = csiAt(i);
      const holder = new HolderClient({ dp: { baseUrl: net.endpoint } });
      const attestation = signAttestation(
        {
          csi,
          holderKey: holder.publicKey,
          method: 'csip-token',
          issuer: csip.id,
          issuedAt: now,
          lifetimeSeconds: 365 * 86_400,
        },
        csipKey.privateKey,
      );
      const signed = holder.signMapping({
        csi,
        msp: opts.msp,
        ssi: formatSsi(msp.domain, `u${csi.slice(5)}`),
        attestation,
      });
      const sub = { ...signed, mspSig: countersign(signed, mspKey.privateKey) };
      chunk.push(JSON.stringify(sub));
      if (chunk.length === 1000 || i === opts.count - 1) {
        writeSync(fd, `${chunk.join('\n')}\n`);
        chunk = [];
      }
    }
  } finally {
    closeSync(fd);
  }
  return { file: opts.out, count: opts.count, first: csiAt(0), last };
}
