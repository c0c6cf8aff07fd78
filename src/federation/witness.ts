import type { SigningKey } from '../crypto/keys.js';
import { toB64u } from '../protocol/encoding.js';
import { type AnyErrorCode, ErrorCode, MimiError } from '../protocol/errors.js';
import {
  CosignatureAnswer,
  logOrigin,
  MappingProofAnswer,
  WitnessAnswer,
  witnessName,
} from '../protocol/transparency.js';
import type { Registry } from '../registry/document.js';
import { logVerifiers } from '../registry/log-keys.js';
import type { Store } from '../store/store.js';
import { checkAppendOnly } from '../tlog/append-only.js';
import { type Checkpoint, openCheckpoint, parseCheckpoint, parseNote } from '../tlog/checkpoint.js';
import { cosignNote, signatureLines } from '../tlog/cosignature.js';
import { callPeer } from './peer-client.js';

export interface WitnessOptions {
  store: Store;
  registry: () => Registry;
  /** Its id, and its transport key: it signs the peer calls that fetch and send checkpoints. */
  self: { id: string; key: SigningKey };
  /** The DP's log key (registry usage `log`): it signs the cosignatures, never a peer call. */
  cosignKey: SigningKey;
  /** From the resolved config (src/server/config-defaults.ts). */
  intervalMs: number;
  timeoutMs: number;
  now: () => number;
}

/** What one witnessing round found for one peer. */
export interface WitnessOutcome {
  dp: string;
  status: 'cosigned' | 'unchanged' | 'fork' | 'error';
  size?: number;
  /** A fork's ForkCode, or the code of the error that ended the round (none for a lost race). */
  code?: AnyErrorCode;
  /** For people: the fork evidence's reason, or the error's message. */
  reason?: string;
}

/** A round that ended on `err`: its code (internal for a fault of ours) and its message. */
function failed(dp: string, err: unknown, size?: number, prefix = ''): WitnessOutcome {
  const code = err instanceof MimiError ? err.code : ErrorCode.Internal;
  return {
    dp,
    status: 'error',
    ...(size === undefined ? {} : { size }),
    code,
    reason: `${prefix}${(err as Error).message}`,
  };
}

export { logVerifiers, witnessVerifiers } from '../registry/log-keys.js';
export type { Fork } from '../tlog/append-only.js';

/**
 * Witnessing (DESIGN.md "Transparency log"): every interval, this DP fetches each peer's latest
 * checkpoint over a signed DP-to-DP call, checks its signature against the registry and its
 * consistency with the last checkpoint it saw of that log (RFC 9162 §2.1.4.2), records the new
 * one, and only then cosigns it (C2SP tlog-cosignature) and hands the cosignature back. A peer
 * that shows a log inconsistent with what it showed before (a fork, or a split view) gets no
 * cosignature; the evidence is stored and published in the metadata.
 */
export class Witness {
  private readonly opts: WitnessOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<WitnessOutcome[]> | undefined;

  constructor(opts: WitnessOptions) {
    this.opts = opts;
  }

  /**
   * Witnesses every interval until stop(). With many nodes (R22) only the node leading
   * `LeaderRole.Witness` runs it (src/store/leadership.ts): peers are fetched and cosigned once
   * per interval by the DP, not once per node.
   */
  start(): void {
    this.timer ??= setInterval(() => {
      this.round().catch(() => undefined);
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stops the interval; resolves when the round under way is over. start() may follow. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.stop();
  }

  /** One round over every peer in the registry; one at a time per node. */
  round(): Promise<WitnessOutcome[]> {
    this.running ??= this.work().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async work(): Promise<WitnessOutcome[]> {
    const registry = this.opts.registry();
    const peers = registry.doc.dps.filter((d) => d.id !== this.opts.self.id);
    return Promise.all(peers.map((p) => this.witness(p.id)));
  }

  /** C2SP tlog-witness add-checkpoint for a peer's log (see {@link addCheckpoint}). */
  addCheckpoint(body: string): Promise<AddCheckpointOutcome> {
    return addCheckpoint(this.opts, body);
  }

  /** Witnesses one peer's log once. */
  async witness(dp: string): Promise<WitnessOutcome> {
    const registry = this.opts.registry();
    const entry = registry.dp(dp);
    if (entry === undefined)
      return { dp, status: 'error', code: ErrorCode.DpNotRegistered, reason: 'not in the registry' };
    const origin = logOrigin(registry.doc.federation, dp);
    const last = (await this.opts.store.witnessedLogs()).find((w) => w.dp === dp);
    let answer: WitnessAnswer;
    let cp: Checkpoint;
    try {
      answer = await callPeer(
        entry.endpoint,
        '/v1/federation/log/checkpoint',
        { v: 1, from: last?.size ?? 0 },
        WitnessAnswer,
        {
          self: this.opts.self,
          timeoutMs: this.opts.timeoutMs,
          maxAnswerBytes: 64 * 1024,
          now: this.opts.now,
        },
      );
      cp = openCheckpoint(answer.checkpoint, logVerifiers(registry, dp), { origin }).checkpoint;
    } catch (err) {
      return failed(dp, err);
    }
    const now = this.opts.now();
    if (last !== undefined) {
      const fork = checkAppendOnly(last, cp, answer.consistency);
      if (fork !== undefined) {
        await this.opts.store.write((tx) =>
          tx.insertLogFork({
            dp,
            detectedAt: now,
            reason: fork.reason,
            evidence: JSON.stringify({
              previous: last.note,
              presented: answer.checkpoint,
              consistency: answer.consistency,
            }),
          }),
        );
        return { dp, status: 'fork', size: cp.size, ...fork };
      }
      if (cp.size === last.size) return { dp, status: 'unchanged', size: cp.size };
    }
    // Remember the new head before any cosignature on it leaves this node, unless another head
    // was recorded meanwhile (add-checkpoint): this one was checked against the one before it.
    const raced = await this.opts.store.write(async (tx) => {
      const held = await tx.witnessed(dp);
      if (held?.size !== last?.size || (held && last && toB64u(held.rootHash) !== toB64u(last.rootHash))) {
        return true;
      }
      await tx.setWitnessed({
        dp,
        size: cp.size,
        rootHash: cp.rootHash,
        note: answer.checkpoint,
        seenAt: now,
      });
      return false;
    });
    if (raced)
      return { dp, status: 'error', size: cp.size, reason: 'another checkpoint was recorded meanwhile' };
    const signer = {
      name: witnessName(registry.doc.federation, this.opts.self.id),
      privateKey: this.opts.cosignKey,
    };
    const cosigned = cosignNote(answer.checkpoint, signer, now);
    const mine = signatureLines(cosigned).at(-1)!;
    const body = answer.checkpoint.slice(0, answer.checkpoint.indexOf('\n\n') + 1);
    try {
      await callPeer(
        entry.endpoint,
        '/v1/federation/log/cosignature',
        { v: 1, checkpoint: `${body}\n${mine}` },
        CosignatureAnswer,
        {
          self: this.opts.self,
          timeoutMs: this.opts.timeoutMs,
          maxAnswerBytes: 4096,
          now: this.opts.now,
        },
      );
    } catch (err) {
      return failed(dp, err, cp.size, 'cosignature not taken: ');
    }
    return { dp, status: 'cosigned', size: cp.size };
  }
}

/** What add-checkpoint answers: the cosignature line, or the size this witness holds (409). */
export type AddCheckpointOutcome =
  | { status: 'cosigned'; line: string }
  | { status: 'conflict'; size: number };

/** Most consistency proof lines in an add-checkpoint request (a 2^63-leaf tree needs fewer). */
const MAX_PROOF_LINES = 63;
const PROOF_LINE = /^[A-Za-z0-9+/]{43}=$/;
const OLD_LINE = /^old (0|[1-9][0-9]{0,15})$/;

/** Parses a C2SP tlog-witness add-checkpoint body: `old <size>`, proof lines, a blank line, the note. */
export function parseAddCheckpoint(body: string): { old: number; proof: Uint8Array[]; note: string } {
  const bad = (why: string) => new MimiError('record-invalid', `add-checkpoint: ${why}`);
  const cut = body.indexOf('\n\n');
  if (cut < 0) throw bad('no blank line before the checkpoint');
  const [first, ...lines] = body.slice(0, cut).split('\n');
  const old = OLD_LINE.exec(first!);
  if (old === null || !Number.isSafeInteger(Number(old[1]))) throw bad('the first line is not "old <size>"');
  if (lines.length > MAX_PROOF_LINES) throw bad('too many proof lines');
  const proof = lines.map((l) => {
    const h = Buffer.from(l, 'base64');
    if (!PROOF_LINE.test(l) || h.length !== 32 || h.toString('base64') !== l)
      throw bad('a proof line is not a base64 hash');
    return Uint8Array.from(h);
  });
  return { old: Number(old[1]), proof, note: body.slice(cut + 2) };
}

/**
 * C2SP tlog-witness `add-checkpoint` (https://c2sp.org/tlog-witness), for the logs of the
 * registry's other DPs: the checkpoint must be signed by the log's registry key (else
 * `forbidden`), `old` must be the size this witness last recorded for it (else a conflict with
 * that size), and the proof must show the new tree extends the recorded one (else
 * `log-proof-invalid`). The check and the new head are one transaction, so two requests from the
 * same old size cannot both be cosigned (a split view); the head is stored before the
 * cosignature leaves. Two roots signed for one size are stored as fork evidence.
 */
export async function addCheckpoint(
  opts: Pick<WitnessOptions, 'store' | 'registry' | 'self' | 'cosignKey' | 'now'>,
  body: string,
): Promise<AddCheckpointOutcome> {
  const { old, proof, note } = parseAddCheckpoint(body);
  const registry = opts.registry();
  let origin: string;
  try {
    origin = parseCheckpoint(parseNote(note).body).origin;
  } catch (err) {
    throw new MimiError('record-invalid', `add-checkpoint: ${(err as Error).message}`);
  }
  const dp = registry.doc.dps.find(
    (d) => d.id !== opts.self.id && logOrigin(registry.doc.federation, d.id) === origin,
  )?.id;
  if (dp === undefined) throw new MimiError('not-found', 'this witness follows no such log');
  let cp: Checkpoint;
  try {
    cp = openCheckpoint(note, logVerifiers(registry, dp), { origin }).checkpoint;
  } catch (err) {
    throw new MimiError('forbidden', `checkpoint not signed by the log: ${(err as Error).message}`);
  }
  if (old > cp.size) throw new MimiError('record-invalid', 'old is larger than the checkpoint');
  const now = opts.now();
  const outcome = await opts.store.write(async (tx): Promise<{ conflict: number } | undefined> => {
    const last = await tx.witnessed(dp);
    const size = last?.size ?? 0;
    if (old !== size) return { conflict: size };
    if (proof.length > 0 && old === cp.size) {
      throw new MimiError('log-proof-invalid', 'no proof is due for the same size');
    }
    if (proof.length > 0 && old === 0)
      throw new MimiError('log-proof-invalid', 'no proof is due from an empty tree');
    // RFC 9162 §2.1.4.2: the same append-only check as a witnessing round's.
    const broken =
      last === undefined
        ? undefined
        : checkAppendOnly(
            last,
            cp,
            proof.map((h) => toB64u(h)),
          );
    if (broken !== undefined && old === cp.size) {
      await tx.insertLogFork({
        dp,
        detectedAt: now,
        reason: broken.reason,
        evidence: JSON.stringify({ previous: last!.note, presented: note, consistency: [] }),
      });
      return { conflict: size };
    }
    if (broken !== undefined) throw new MimiError('log-proof-invalid', broken.reason);
    // The recorded checkpoint again: cosigned, nothing new to record.
    if (old === cp.size) return undefined;
    await tx.setWitnessed({ dp, size: cp.size, rootHash: cp.rootHash, note, seenAt: now });
    return undefined;
  });
  if (outcome !== undefined) return { status: 'conflict', size: outcome.conflict };
  const signer = { name: witnessName(registry.doc.federation, opts.self.id), privateKey: opts.cosignKey };
  return { status: 'cosigned', line: signatureLines(cosignNote(note, signer, now)).at(-1)! };
}

/**
 * Proofs for foreign copies (R17, R18): a mapping accepted by a peer and held here is logged in
 * the peer's log, so its proof comes from the peer, over a signed call, once per mapping (a proof
 * against an older checkpoint stays valid). Failure leaves the mapping without a proof; a strict
 * client then refuses it rather than trusting this DP's word.
 */
export class PeerProofs {
  private readonly cache = new Map<string, string>();
  private readonly opts: Pick<WitnessOptions, 'registry' | 'self' | 'timeoutMs' | 'now'>;

  constructor(opts: Pick<WitnessOptions, 'registry' | 'self' | 'timeoutMs' | 'now'>) {
    this.opts = opts;
  }

  readonly proofFor = async (dp: string, index: number): Promise<string | undefined> => {
    const key = `${dp}:${index}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const entry = this.opts.registry().dp(dp);
    if (entry === undefined || dp === this.opts.self.id) return undefined;
    try {
      const answer = await callPeer(
        entry.endpoint,
        '/v1/federation/log/proof',
        { v: 1, index },
        MappingProofAnswer,
        {
          self: this.opts.self,
          timeoutMs: this.opts.timeoutMs,
          maxAnswerBytes: 64 * 1024,
          now: this.opts.now,
        },
      );
      const json = JSON.stringify(answer.log);
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(key, json);
      return json;
    } catch {
      return undefined;
    }
  };
}
