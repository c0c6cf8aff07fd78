import type { KeyObject } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { importPublicKey } from '../crypto/keys.js';
import { fromB64u, toB64u } from '../protocol/encoding.js';
import { logOrigin, MappingLogProof, WitnessAnswer, witnessName } from '../protocol/transparency.js';
import type { Registry } from '../registry/document.js';
import type { Store } from '../store/store.js';
import { type Checkpoint, type NoteVerifier, openCheckpoint } from '../tlog/checkpoint.js';
import { cosignNote, signatureLines } from '../tlog/cosignature.js';
import { isTlogError } from '../tlog/errors.js';
import { verifyConsistency } from '../tlog/merkle.js';
import { callPeer } from './peer-client.js';

export interface WitnessOptions {
  store: Store;
  registry: () => Registry;
  self: { id: string; key: KeyObject };
  intervalMs?: number;
  timeoutMs?: number;
  now: () => number;
}

/** What one witnessing round found for one peer. */
export interface WitnessOutcome {
  dp: string;
  status: 'cosigned' | 'unchanged' | 'fork' | 'error';
  size?: number;
  reason?: string;
}

/** The DP keys of `dp` in the registry as note verifiers for its log origin. */
export function logVerifiers(registry: Registry, dp: string): NoteVerifier[] {
  const entry = registry.dp(dp);
  if (entry === undefined) return [];
  const name = logOrigin(registry.doc.federation, dp);
  return entry.keys.map((k) => ({ name, publicKey: importPublicKey(k) }));
}

/** Peer DPs' keys as cosigners (tlog-cosignature), optionally only those named in `only`. */
export function witnessVerifiers(
  registry: Registry,
  logDp: string,
  only?: readonly string[],
): NoteVerifier[] {
  return registry.doc.dps
    .filter((d) => d.id !== logDp && (only === undefined || only.includes(d.id)))
    .flatMap((d) =>
      d.keys.map((k) => ({
        name: witnessName(registry.doc.federation, d.id),
        publicKey: importPublicKey(k),
      })),
    );
}

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
    }, this.opts.intervalMs ?? 10_000);
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

  /** Witnesses one peer's log once. */
  async witness(dp: string): Promise<WitnessOutcome> {
    const registry = this.opts.registry();
    const entry = registry.dp(dp);
    if (entry === undefined) return { dp, status: 'error', reason: 'not in the registry' };
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
        { self: this.opts.self, timeoutMs: this.opts.timeoutMs ?? 5000, maxAnswerBytes: 64 * 1024 },
      );
      cp = openCheckpoint(answer.checkpoint, logVerifiers(registry, dp), { origin }).checkpoint;
    } catch (err) {
      return { dp, status: 'error', reason: (err as Error).message };
    }
    const now = this.opts.now();
    if (last !== undefined) {
      const fork = checkAppendOnly(last, cp, answer.consistency);
      if (fork !== undefined) {
        await this.opts.store.write((tx) =>
          tx.insertLogFork({
            dp,
            detectedAt: now,
            reason: fork,
            evidence: JSON.stringify({
              previous: last.note,
              presented: answer.checkpoint,
              consistency: answer.consistency,
            }),
          }),
        );
        return { dp, status: 'fork', size: cp.size, reason: fork };
      }
      if (cp.size === last.size) return { dp, status: 'unchanged', size: cp.size };
    }
    // Remember the new head before any cosignature on it leaves this node.
    await this.opts.store.write((tx) =>
      tx.setWitnessed({ dp, size: cp.size, rootHash: cp.rootHash, note: answer.checkpoint, seenAt: now }),
    );
    const signer = {
      name: witnessName(registry.doc.federation, this.opts.self.id),
      privateKey: this.opts.self.key,
    };
    const cosigned = cosignNote(answer.checkpoint, signer, now);
    const mine = signatureLines(cosigned).at(-1)!;
    const body = answer.checkpoint.slice(0, answer.checkpoint.indexOf('\n\n') + 1);
    try {
      await callPeer(
        entry.endpoint,
        '/v1/federation/log/cosignature',
        { v: 1, checkpoint: `${body}\n${mine}` },
        CosignatureAck,
        { self: this.opts.self, timeoutMs: this.opts.timeoutMs ?? 5000, maxAnswerBytes: 4096 },
      );
    } catch (err) {
      return {
        dp,
        status: 'error',
        size: cp.size,
        reason: `cosignature not taken: ${(err as Error).message}`,
      };
    }
    return { dp, status: 'cosigned', size: cp.size };
  }
}

const CosignatureAck = Type.Object({ stored: Type.Boolean() });

/**
 * RFC 9162 §2.1.4.2 between the last checkpoint seen and the one presented: undefined if the new
 * tree extends the old one, else why not (the fork evidence's reason).
 */
export function checkAppendOnly(
  last: { size: number; rootHash: Uint8Array },
  cp: Checkpoint,
  consistency: readonly string[] | null,
): string | undefined {
  if (cp.size < last.size) return `the log shrank from ${last.size} to ${cp.size} leaves`;
  if (cp.size === last.size) {
    return toB64u(cp.rootHash) === toB64u(last.rootHash)
      ? undefined
      : `two different roots for ${cp.size} leaves`;
  }
  if (last.size === 0) return undefined;
  if (consistency === null) return `no consistency proof from ${last.size} to ${cp.size}`;
  try {
    verifyConsistency(
      last.size,
      cp.size,
      last.rootHash,
      cp.rootHash,
      consistency.map((h, i) => fromB64u(h, `consistency[${i}]`, 32)),
    );
    return undefined;
  } catch (err) {
    if (isTlogError(err)) return `not consistent with the checkpoint of ${last.size} leaves: ${err.message}`;
    return `malformed consistency proof: ${(err as Error).message}`;
  }
}

const ProofAnswer = Type.Object({ v: Type.Literal(1), log: MappingLogProof });

/**
 * Proofs for foreign copies (R17, R18): a mapping accepted by a peer and held here is logged in
 * the peer's log, so its proof comes from the peer, over a signed call, once per mapping (a proof
 * against an older checkpoint stays valid). Failure leaves the mapping without a proof; a strict
 * client then refuses it rather than trusting this DP's word.
 */
export class PeerProofs {
  private readonly cache = new Map<string, string>();
  private readonly opts: Pick<WitnessOptions, 'registry' | 'self' | 'timeoutMs'>;

  constructor(opts: Pick<WitnessOptions, 'registry' | 'self' | 'timeoutMs'>) {
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
        ProofAnswer,
        {
          self: this.opts.self,
          timeoutMs: this.opts.timeoutMs ?? 5000,
          maxAnswerBytes: 64 * 1024,
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
