import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HolderClient } from '../client/holder.js';
import { openDpCheckpoint } from '../client/log-verify.js';
import { canonicalize } from '../crypto/jcs.js';
import type { KeyPair } from '../crypto/keys.js';
import { fromB64u, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { decodeRecord, Mapping, PossessionAttestation } from '../protocol/records.js';
import { ConsistencyAnswer, LeavesAnswer, MAX_LEAVES_PER_REQUEST } from '../protocol/transparency.js';
import { checkAppendOnly, consistencyDue } from '../tlog/append-only.js';
import type { Checkpoint } from '../tlog/checkpoint.js';
import { decodeLeaf, type LogLeaf, leafIsAbout, mappingLeafKinds } from '../tlog/leaf.js';
import { leafHash, MerkleAccumulator } from '../tlog/merkle.js';
import { readJson, readKeyFile, writeJson } from './args.js';
import { openDevnet } from './devnet-access.js';
import { CliError, CliErrorCode, type CommandResult, emit } from './io.js';
import { getJson, getText, type LogSource, progress, sourceOf } from './log-source.js';

/** What an auditor or monitor keeps between runs: the last verified checkpoint, and the tree edge. */
interface AuditState {
  v: 1;
  dp: string;
  origin: string;
  size: number;
  rootHash: string;
  checkpoint: string;
  /** Compact range at `size` (present once the tree was recomputed from leaves). */
  edge?: string[];
}

export interface FollowResult {
  checkpoint: Checkpoint;
  note: string;
  previous: AuditState | undefined;
  /** Why the log is not an extension of what was seen before; undefined when it is. */
  fork: string | undefined;
  consistency: string[] | null;
  edge: Uint8Array[] | undefined;
  leavesRead: number;
}

/**
 * Follows a DP's log from a saved state (DESIGN.md "Transparency log"): the latest checkpoint,
 * signed by the DP's registry key; its consistency with the last one seen (RFC 9162 §2.1.4.2);
 * and, with `recompute`, every new leaf fetched, checked and hashed into the tree, whose root must
 * be the checkpoint's. `onLeaf` sees each new leaf (the monitor uses it).
 */
export async function followLog(
  src: LogSource,
  previous: AuditState | undefined,
  opts: { recompute: boolean; onLeaf?: (index: number, leaf: LogLeaf) => void; showProgress: boolean },
): Promise<FollowResult> {
  const note = await getText(`${src.baseUrl}/v1/log/checkpoint`);
  const { checkpoint } = openDpCheckpoint(note, { dp: src.dp, registry: src.registry });
  const result: FollowResult = {
    checkpoint,
    note,
    previous,
    fork: undefined,
    consistency: null,
    edge: undefined,
    leavesRead: 0,
  };
  if (previous !== undefined) {
    const last = { size: previous.size, rootHash: fromB64u(previous.rootHash, 'state.rootHash', 32) };
    if (consistencyDue(last, checkpoint)) {
      const answer = await getJson<ConsistencyAnswer>(
        `${src.baseUrl}/v1/log/proof/consistency?from=${previous.size}&to=${checkpoint.size}`,
        ConsistencyAnswer,
        'consistency proof',
      );
      result.consistency = answer.proof;
    }
    // RFC 9162 §2.1.4.2: the same append-only check as a witness's.
    result.fork = checkAppendOnly(last, checkpoint, result.consistency)?.reason;
  }
  if (result.fork !== undefined || !opts.recompute) return result;
  // Recompute from the saved edge when there is one, else from the first leaf.
  const resume = previous?.edge !== undefined && previous.size <= checkpoint.size;
  const acc = resume
    ? MerkleAccumulator.fromState({
        size: previous!.size,
        edge: previous!.edge!.map((h, i) => fromB64u(h, `state.edge[${i}]`, 32)),
      })
    : new MerkleAccumulator();
  const bar = progress(opts.showProgress, checkpoint.size - acc.size);
  const from = acc.size;
  while (acc.size < checkpoint.size) {
    const end = Math.min(checkpoint.size, acc.size + MAX_LEAVES_PER_REQUEST);
    const page = await getJson<LeavesAnswer>(
      `${src.baseUrl}/v1/log/leaves?start=${acc.size}&end=${end}`,
      LeavesAnswer,
      'leaves',
    );
    if (page.start !== acc.size || page.leaves.length !== end - acc.size) {
      throw new MimiError('record-invalid', `the DP sent the wrong leaves for [${acc.size}, ${end})`);
    }
    for (const l of page.leaves) {
      const bytes = fromB64u(l, 'leaf');
      const leaf = decodeLeaf(bytes); // R28: schema-checked, so nothing but the six fields
      opts.onLeaf?.(acc.size, leaf);
      acc.append(leafHash(bytes));
    }
    result.leavesRead = acc.size - from;
    bar.update(result.leavesRead);
  }
  bar.end();
  if (toB64u(acc.root()) !== toB64u(checkpoint.rootHash)) {
    result.fork = `the leaves served do not hash to the signed root of ${checkpoint.size} leaves`;
  }
  result.edge = acc.state().edge.slice();
  return result;
}

function stateOf(src: LogSource, r: FollowResult): AuditState {
  return {
    v: 1,
    dp: src.dp,
    origin: r.checkpoint.origin,
    size: r.checkpoint.size,
    rootHash: toB64u(r.checkpoint.rootHash),
    checkpoint: r.note,
    ...(r.edge === undefined ? {} : { edge: r.edge.map(toB64u) }),
  };
}

function readState(file: string | undefined, dp: string): AuditState | undefined {
  if (file === undefined || !existsSync(file)) return undefined;
  const s = readJson(file, 'state') as AuditState;
  if (s.v !== 1 || s.dp !== dp || typeof s.size !== 'number' || typeof s.rootHash !== 'string') {
    throw new CliError(CliErrorCode.InvalidArgument, `${file} is not a log state of ${dp}`);
  }
  return s;
}

/** Keeps the evidence of a fork next to the state file, and reports it. */
function forkResult(src: LogSource, r: FollowResult, stateFile: string | undefined): CommandResult {
  const evidence = {
    dp: src.dp,
    reason: r.fork,
    previous: r.previous?.checkpoint ?? null,
    presented: r.note,
    consistency: r.consistency,
    detectedAt: Math.floor(Date.now() / 1000),
  };
  const file = stateFile === undefined ? undefined : `${stateFile}.fork.json`;
  if (file !== undefined) writeJson(file, evidence);
  return {
    doc: { ok: false, fork: true, ...evidence, evidenceFile: file ?? null },
    text: [
      `FORK in the log of ${src.dp}: ${r.fork}`,
      `  last seen   ${r.previous?.size ?? '-'} leaves, root ${r.previous?.rootHash ?? '-'}`,
      `  now shown   ${r.checkpoint.size} leaves, root ${toB64u(r.checkpoint.rootHash)}`,
      ...(file === undefined ? [] : [`  evidence    ${file}`]),
    ].join('\n'),
    exitCode: 1,
  };
}

export async function auditLog(
  src: LogSource,
  opts: { stateFile?: string; recompute?: boolean; json?: boolean },
): Promise<CommandResult> {
  const previous = readState(opts.stateFile, src.dp);
  const r = await followLog(src, previous, { recompute: opts.recompute === true, showProgress: !opts.json });
  if (r.fork !== undefined) return forkResult(src, r, opts.stateFile);
  const state = stateOf(src, r);
  // Keep an edge computed earlier only if nothing new was recomputed and the size is the same.
  if (state.edge === undefined && previous?.edge !== undefined && previous.size === state.size) {
    state.edge = previous.edge;
  }
  if (opts.stateFile !== undefined) writeJson(opts.stateFile, state);
  const grew = previous === undefined ? null : r.checkpoint.size - previous.size;
  return {
    doc: {
      ok: true,
      dp: src.dp,
      origin: r.checkpoint.origin,
      size: r.checkpoint.size,
      rootHash: state.rootHash,
      previousSize: previous?.size ?? null,
      consistent: previous === undefined ? null : true,
      recomputed: opts.recompute === true,
      leavesRead: r.leavesRead,
    },
    text: [
      `ok  log ${r.checkpoint.origin}: ${r.checkpoint.size} leaves, root ${state.rootHash}`,
      previous === undefined
        ? '  first checkpoint seen (signature ok); later runs check consistency from here'
        : `  consistent with the ${previous.size} leaves seen before (+${grew})`,
      ...(opts.recompute ? [`  recomputed the tree from ${r.leavesRead} new leaves: root matches`] : []),
    ].join('\n'),
  };
}

/**
 * R28: the holder's pseudonym in a DP's log, told by the DP on a holder-signed request backed by
 * a current attestation (nobody else can compute it: it is keyed by a DP secret).
 */
async function pseudonymOf(
  baseUrl: string,
  key: KeyPair,
  attestation: PossessionAttestation,
): Promise<string> {
  return (await new HolderClient({ dp: { baseUrl }, key }).logPseudonym(attestation)).pseudonym;
}

interface Finding {
  index: number;
  kind: string;
  time: number;
  commitment: string;
  verdict: 'mine' | 'not-mine' | 'contest' | 'event' | 'holder-signed';
}

/**
 * `log monitor`: a holder follows a DP's log and finds every entry about their CSI by its
 * pseudonym; mapping entries are matched against the holder's own mapping files (signed with one
 * of their keys), so a mapping they did not make, or a contest by another holder, is reported.
 */
export async function monitorLog(
  src: LogSource,
  opts: {
    csi: string;
    key: KeyPair;
    attestation: PossessionAttestation;
    keys: string[];
    mappingDir: string;
    stateFile?: string;
    json?: boolean;
  },
): Promise<CommandResult> {
  const mine = new Set<string>();
  if (existsSync(opts.mappingDir)) {
    for (const f of readdirSync(opts.mappingDir).filter((n) => n.endsWith('.json'))) {
      const m = decodeRecord(Mapping, readJson(join(opts.mappingDir, f), 'mapping'), 'mapping');
      if (m.body.csi === opts.csi && opts.keys.includes(m.body.holderKey)) {
        const { createHash } = await import('node:crypto');
        mine.add(createHash('sha256').update(canonicalize(m)).digest('base64url'));
      }
    }
  }
  if (opts.attestation.csi !== opts.csi || opts.attestation.holderKey !== opts.key.publicKey) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `the attestation is for ${opts.attestation.csi} and key ${opts.attestation.holderKey}; give one for ${opts.csi} and this key`,
    );
  }
  const pseudonym = await pseudonymOf(src.baseUrl, opts.key, opts.attestation);
  const previous = readState(opts.stateFile, src.dp);
  const findings: Finding[] = [];
  const r = await followLog(src, previous, {
    recompute: true,
    showProgress: !opts.json,
    onLeaf: (index, leaf) => {
      if (!leafIsAbout(leaf, pseudonym)) return;
      const verdict: Finding['verdict'] = mappingLeafKinds.includes(leaf.kind)
        ? mine.has(leaf.commitment)
          ? 'mine'
          : 'not-mine'
        : leaf.kind === 'contest'
          ? 'contest'
          : leaf.kind === 'invalidation' || leaf.kind === 'key-rotation'
            ? 'holder-signed'
            : 'event';
      findings.push({ index, kind: leaf.kind, time: leaf.time, commitment: leaf.commitment, verdict });
    },
  });
  if (r.fork !== undefined) return forkResult(src, r, opts.stateFile);
  if (opts.stateFile !== undefined) writeJson(opts.stateFile, stateOf(src, r));
  const alarms = findings.filter((f) => f.verdict === 'not-mine' || f.verdict === 'contest');
  const say: Record<Finding['verdict'], string> = {
    mine: 'yours',
    'not-mine': 'NOT YOURS: a mapping for your identifier you did not make',
    contest: 'CONTEST: another holder claims your identifier',
    'holder-signed': 'signed with a holder key of this identifier (yours if you made it)',
    event: 'an event of the DP or the number provider',
  };
  return {
    doc: { ok: alarms.length === 0, dp: src.dp, csi: opts.csi, size: r.checkpoint.size, findings },
    text: [
      `${alarms.length === 0 ? 'ok' : 'ALERT'}  ${findings.length} entr${findings.length === 1 ? 'y' : 'ies'} about ${opts.csi} in ${r.checkpoint.origin} (leaves ${previous?.size ?? 0} to ${r.checkpoint.size})`,
      ...findings.map((f) => `  #${f.index}  ${f.kind.padEnd(18)} ${say[f.verdict]}  ${f.commitment}`),
    ].join('\n'),
    exitCode: alarms.length === 0 ? 0 : 1,
  };
}

export async function logAudit(
  opts: Parameters<typeof sourceOf>[0] & { state?: string; recompute?: boolean; json?: boolean },
): Promise<void> {
  emit(
    opts.json === true,
    await auditLog(sourceOf(opts), {
      stateFile: opts.state,
      recompute: opts.recompute,
      json: opts.json,
    }),
  );
}

export async function logMonitor(
  opts: Parameters<typeof sourceOf>[0] & {
    csi: string;
    key?: string;
    attestation?: string;
    mappings?: string;
    state?: string;
    json?: boolean;
  },
): Promise<void> {
  const csi = parseCsi(opts.csi).uri;
  const net = opts.devnet === undefined ? undefined : openDevnet(opts.devnet);
  const keyFile = opts.key ?? net?.holderKeyFile(csi);
  const mappingDir = opts.mappings ?? (net === undefined ? undefined : join(net.dir, 'mappings'));
  if (keyFile === undefined || mappingDir === undefined) {
    throw new CliError(CliErrorCode.Usage, 'give --key and --mappings (or --devnet)');
  }
  const key = readKeyFile(keyFile, 'holder key');
  const attestationFile = opts.attestation ?? keyFile.replace(/\.jwk$/, '.attestation.json');
  if (!existsSync(attestationFile)) {
    throw new CliError(
      CliErrorCode.FileNotFound,
      `no attestation for ${csi} (looked for ${attestationFile})`,
      `prove possession first: holder prove --csi ${csi}`,
    );
  }
  const attestation = decodeRecord(
    PossessionAttestation,
    readJson(attestationFile, 'attestation'),
    'attestation',
  );
  emit(
    opts.json === true,
    await monitorLog(sourceOf(opts), {
      csi,
      key,
      attestation,
      keys: [key.publicKey],
      mappingDir,
      stateFile: opts.state,
      json: opts.json,
    }),
  );
}
