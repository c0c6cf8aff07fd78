import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDevnet } from '../../src/cli/devnet-files.js';
import { generateKeyPair, importPublicKey } from '../../src/crypto/keys.js';
import { toB64u } from '../../src/protocol/encoding.js';
import { ForkCode } from '../../src/protocol/errors.js';
import { logOrigin, witnessName } from '../../src/protocol/transparency.js';
import { buildApp, listen } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { type Context, createContext } from '../../src/server/context.js';
import { signCheckpoint } from '../../src/tlog/checkpoint.js';
import { verifyCosignatures } from '../../src/tlog/cosignature.js';
import { consistencyProof, rootFromLeafHashes } from '../../src/tlog/merkle.js';
import { freePort } from '../support/devnet.js';

/**
 * A peer that shows a log inconsistent with what it showed before is caught by the witness:
 * no cosignature, fork evidence stored and published (R3; split views).
 */
describe('witnessing a peer log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-witness-'));
  const peerKey = generateKeyPair();
  const origin = logOrigin('devnet', 'dp9');
  let peer: FastifyInstance;
  let ctx: Context;
  let app: FastifyInstance;
  let serving: { size: number; leaves: Uint8Array[] } = { size: 0, leaves: [] };
  const cosignatures: string[] = [];

  const leaves = (n: number) => Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
  const honest = leaves(8);

  beforeAll(async () => {
    const peerPort = await freePort();
    peer = Fastify();
    // The misbehaving peer answers the signed witness calls without checking them.
    peer.post('/v1/federation/log/checkpoint', async (req) => {
      const from = (req.body as { from: number }).from;
      const { size, leaves: tree } = serving;
      const checkpoint = signCheckpoint(
        { origin, size, rootHash: rootFromLeafHashes(tree.slice(0, size)) },
        { name: origin, privateKey: peerKey.privateKey },
      );
      const consistency =
        from > 0 && from < size ? consistencyProof(from, tree.slice(0, size)).map(toB64u) : null;
      return { v: 1, checkpoint, consistency };
    });
    peer.post('/v1/federation/log/cosignature', async (req) => {
      cosignatures.push((req.body as { checkpoint: string }).checkpoint);
      return { stored: true };
    });
    await peer.listen({ host: '127.0.0.1', port: peerPort });
    const layout = writeDevnet(dir, {
      port: await freePort(),
      extraDps: [{ id: 'dp9', endpoint: `http://127.0.0.1:${peerPort}`, keys: { log: peerKey.publicKey } }],
    });
    ctx = await createContext(loadConfig(layout.configFile), {
      config: (c) => (c.log = { witnessIntervalMs: 3_600_000 }),
    });
    app = buildApp(ctx);
    await listen(app, ctx);
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const witness = () => ctx.transparency!.witness!.witness('dp9');

  it('cosigns a log that only grows, after checking consistency', async () => {
    serving = { size: 4, leaves: honest };
    expect(await witness()).toMatchObject({ status: 'cosigned', size: 4 });
    serving = { size: 6, leaves: honest };
    expect(await witness()).toMatchObject({ status: 'cosigned', size: 6 });
    const cosigner = [
      { name: witnessName('devnet', 'dp1'), publicKey: importPublicKey(ctx.dpKeys.log.publicKey) },
    ];
    expect(verifyCosignatures(cosignatures.at(-1)!, cosigner)).toHaveLength(1);
    expect(await witness()).toMatchObject({ status: 'unchanged' });
  });

  it('detects a fork: a bigger tree that does not extend the one seen, then a second root for one size', async () => {
    const forked = [...honest.slice(0, 5), ...leaves(3)];
    serving = { size: 8, leaves: forked };
    const before = cosignatures.length;
    const out = await witness();
    expect(out).toMatchObject({ status: 'fork', code: ForkCode.Inconsistent });
    serving = { size: 6, leaves: forked };
    expect(await witness()).toMatchObject({ status: 'fork', code: ForkCode.RootMismatch });
    serving = { size: 3, leaves: honest };
    expect(await witness()).toMatchObject({ status: 'fork', code: ForkCode.Shrunk });
    expect(cosignatures.length).toBe(before);
    // Evidence kept, and published: the metadata and the witness report name the peer.
    const forks = await ctx.store.logForks();
    expect(forks.map((f) => f.dp)).toEqual(['dp9', 'dp9', 'dp9']);
    expect(JSON.parse(forks[0]!.evidence)).toMatchObject({ presented: expect.stringContaining(origin) });
    const base = ctx.registry.current().dp('dp1')!.endpoint;
    const meta = (await (await fetch(`${base}/.well-known/mimi-discovery`)).json()) as {
      transparency: { forks: { dp: string }[] };
    };
    expect(meta.transparency.forks.map((f) => f.dp)).toContain('dp9');
    const report = (await (await fetch(`${base}/v1/log/witness`)).json()) as {
      witnessed: { dp: string; size: number }[];
    };
    expect(report.witnessed).toEqual([expect.objectContaining({ dp: 'dp9', size: 6 })]);
  });
});
