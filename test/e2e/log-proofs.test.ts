import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { HolderClient } from '../../src/client/holder.js';
import { inlineProofs, verifyVerboseAnswer } from '../../src/client/lookup-client.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import { SharedVerboseAnswer, VerboseAnswer } from '../../src/protocol/answers.js';
import { decodeRecord } from '../../src/protocol/records.js';
import type { SharedLogProof } from '../../src/protocol/transparency.js';
import { Registry } from '../../src/registry/document.js';
import { buildApp, listen } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { type Context, createContext } from '../../src/server/context.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { freePort } from '../support/devnet.js';

/**
 * R3: a verbose answer carries each mapping's inclusion proof against a checkpoint signed by the
 * DP that logged it; the SDK checks it by default, and witnesses' cosignatures when asked to.
 */
describe('inclusion proofs in lookup answers, and witness cosignatures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-log-proofs-'));
  const nodes: { ctx: Context; app: FastifyInstance }[] = [];
  let registry: Registry;
  let msp: MspAgent;
  let token: string;
  const csi = 'tel:+14155550177';
  let verifierKey: ReturnType<typeof readJwkFile>['privateKey'];
  let holderClient: HolderClient;
  let endpoint: string;

  /** One holder's mapping of `target` to msp1, published through dp1. */
  async function publish(target: string): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const holder = target === csi ? holderClient : new HolderClient({ dp: { baseUrl: endpoint } });
    const att = signAttestation(
      {
        csi: target,
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: now,
        lifetimeSeconds: 86_400,
      },
      verifierKey,
    );
    await msp.submit(
      await msp.confirm(
        holder.signMapping({
          csi: target,
          msp: 'msp1',
          ssi: `mimi://chat.example/u/${target.slice(-4)}`,
          attestation: att,
        }),
      ),
    );
  }

  beforeAll(async () => {
    const port = await freePort(2);
    const layout = writeDevnet(dir, { port, dps: 2 });
    for (const dp of layout.dps) {
      // Witness rounds are run by the test.
      const ctx = await createContext(loadConfig(dp.configFile), {
        config: (c) => (c.log = { checkpointIntervalMs: 100, witnessIntervalMs: 3_600_000 }),
      });
      const app = buildApp(ctx);
      await listen(app, ctx);
      nodes.push({ ctx, app });
    }
    const now = Math.floor(Date.now() / 1000);
    registry = Registry.open(
      JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')),
      layout.registryKey,
      {
        now,
      },
    );
    const m = layout.msps.find((x) => x.id === 'msp1')!;
    msp = new MspAgent({
      id: 'msp1',
      key: readJwkFile(m.keyFile),
      dp: { baseUrl: layout.endpoint, id: 'dp1' },
      registry: () => registry,
      isOwnUser: () => true,
    });
    verifierKey = readJwkFile(join(dir, 'keys', 'verifier1.jwk')).privateKey;
    endpoint = layout.endpoint;
    holderClient = new HolderClient({ dp: { baseUrl: endpoint } });
    await publish(csi);
    token = await msp.sessionToken();
  });
  afterAll(async () => {
    for (const n of nodes) {
      await n.app.close();
      await n.ctx.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function rawAnswer(): Promise<VerboseAnswer> {
    const res = await fetch(`${nodes[0]!.ctx.registry.current().dp('dp1')!.endpoint}/v1/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ v: 1, csis: [csi], federation: false }),
    });
    return decodeRecord(VerboseAnswer, await res.json(), 'answer');
  }
  const ctxOf = (policy = {}) => ({ registry, policy, now: Math.floor(Date.now() / 1000) });

  it('the SDK verifies the inclusion proof by default', async () => {
    const [r] = await msp.lookup([csi], { federation: false });
    expect(r!.status).toBe('one');
    const answer = await rawAnswer();
    const m = answer.results[0]!.mappings[0]!;
    expect(m.log).toBeDefined();
    // Leaf 0 is the first OPRF epoch's key (an `oprf-key` leaf, logged before any mapping).
    expect(m.mapping.logIndex).toBe(1);
    expect(verifyVerboseAnswer(answer, { asked: [csi], ...ctxOf() })).toHaveLength(1);
  });

  it('a tampered proof, leaf or checkpoint fails with its code; a missing one too, unless allowUnlogged', async () => {
    const answer = await rawAnswer();
    const m = answer.results[0]!.mappings[0]!;
    const log = m.log!;
    const withLog = (l: typeof log | undefined): VerboseAnswer => ({
      ...answer,
      results: [{ ...answer.results[0]!, mappings: [{ ...m, log: l }] }],
    });
    const flip = (s: string) => (s[0] === 'A' ? `B${s.slice(1)}` : `A${s.slice(1)}`);
    const code = (a: VerboseAnswer, policy = {}) => {
      try {
        verifyVerboseAnswer(a, { asked: [csi], ...ctxOf(policy) });
        return 'ok';
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    // A one-leaf tree has an empty path; tamper with the leaf and the checkpoint instead.
    if (log.proof.length > 0)
      expect(code(withLog({ ...log, proof: [flip(log.proof[0]!), ...log.proof.slice(1)] }))).toBe(
        'log-proof-invalid',
      );
    expect(code(withLog({ ...log, proof: [...log.proof, log.proof[0] ?? 'A'.repeat(43)] }))).toBe(
      'log-proof-invalid',
    );
    const leaf = JSON.parse(Buffer.from(log.leaf, 'base64url').toString());
    const otherTime = Buffer.from(JSON.stringify({ ...leaf, time: leaf.time + 1 })).toString('base64url');
    expect(code(withLog({ ...log, leaf: otherTime }))).toBe('log-proof-invalid');
    const lines = log.checkpoint.split('\n');
    lines[1] = String(Number(lines[1]) + 1);
    expect(code(withLog({ ...log, checkpoint: lines.join('\n') }))).toBe('log-checkpoint-invalid');
    expect(code(withLog(undefined))).toBe('log-proof-missing');
    expect(code(withLog(undefined), { allowUnlogged: true })).toBe('ok');
    expect(code(answer, { minCosignatures: 1 })).toBe('log-cosignatures-missing');
  });

  it('shared proofs: each checkpoint and hash sent once; expanded, the answer is the inline one; bad positions fail', async () => {
    const batch = [csi, ...Array.from({ length: 7 }, (_, i) => `tel:+1415555020${i}`)];
    for (const c of batch.slice(1)) await publish(c);
    await nodes[0]!.ctx.transparency!.log.checkpoint();
    const ask = async (proofs: 'inline' | 'shared') => {
      const res = await fetch(`${nodes[0]!.ctx.registry.current().dp('dp1')!.endpoint}/v1/lookup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ v: 1, csis: batch, federation: false, proofs }),
      });
      return { text: await res.text(), status: res.status };
    };
    const inline = decodeRecord(VerboseAnswer, JSON.parse((await ask('inline')).text), 'answer');
    const sharedText = (await ask('shared')).text;
    const shared = decodeRecord(SharedVerboseAnswer, JSON.parse(sharedText), 'answer');
    expect(shared.logShared.checkpoints).toHaveLength(1);
    const pathLengths = inline.results.flatMap((r) => r.mappings.map((m) => m.log!.proof.length));
    expect(shared.logShared.nodes.length).toBeLessThan(pathLengths.reduce((a, b) => a + b, 0));
    expect(new Set(shared.logShared.nodes).size).toBe(shared.logShared.nodes.length);
    expect(inlineProofs(shared)).toEqual(inline);
    expect(verifyVerboseAnswer(shared, { asked: batch, ...ctxOf() })).toEqual(
      verifyVerboseAnswer(inline, { asked: batch, ...ctxOf() }),
    );
    // The SDK asks for shared proofs and verifies them.
    expect((await msp.lookup(batch, { federation: false })).map((r) => r.status)).toEqual(
      batch.map(() => 'one'),
    );

    const code = (a: SharedVerboseAnswer) => {
      try {
        verifyVerboseAnswer(a, { asked: batch, ...ctxOf() });
        return 'ok';
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    const withFirstLog = (f: (l: SharedLogProof) => SharedLogProof): SharedVerboseAnswer => {
      const copy = structuredClone(shared);
      const m = copy.results.find((r) => r.mappings[0]!.log!.proof.length > 1)!.mappings[0]!;
      m.log = f(m.log!);
      return copy;
    };
    expect(code(withFirstLog((l) => ({ ...l, checkpoint: 1 })))).toBe('record-invalid');
    expect(
      code(withFirstLog((l) => ({ ...l, proof: [shared.logShared.nodes.length, ...l.proof.slice(1)] }))),
    ).toBe('record-invalid');
    expect(
      code(withFirstLog((l) => ({ ...l, proof: [l.proof[1]!, l.proof[0]!, ...l.proof.slice(2)] }))),
    ).toBe('log-proof-invalid');
    expect(code(withFirstLog((l) => ({ ...l, proof: l.proof.slice(1) })))).toBe('log-proof-invalid');
    const tampered = structuredClone(shared);
    const h = tampered.logShared.nodes[0]!;
    tampered.logShared.nodes[0] = h[0] === 'A' ? `B${h.slice(1)}` : `A${h.slice(1)}`;
    expect(code(tampered)).toBe('log-proof-invalid');
    // Unknown proof forms are refused by the request schema.
    const bad = await fetch(`${nodes[0]!.ctx.registry.current().dp('dp1')!.endpoint}/v1/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ v: 1, csis: batch, proofs: 'zipped' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('record-invalid');
  });

  it('witnesses cosign each other; a policy needing a cosignature is then met', async () => {
    const [dp1, dp2] = nodes.map((n) => n.ctx.transparency!);
    await dp1!.log.checkpoint();
    const outcomes = await dp2!.witness!.round();
    expect(outcomes).toEqual([expect.objectContaining({ dp: 'dp1', status: 'cosigned' })]);
    const answer = await rawAnswer();
    expect(answer.results[0]!.mappings[0]!.log!.checkpoint).toContain('/witness/dp2 ');
    expect(verifyVerboseAnswer(answer, { asked: [csi], ...ctxOf({ minCosignatures: 1 }) })).toHaveLength(1);
    // A second round with no growth changes nothing.
    expect((await dp2!.witness!.round())[0]).toMatchObject({ status: 'unchanged' });
  });

  it('the public log: checkpoint, leaves (no CSI), proofs by index and by hash, consistency', async () => {
    const base = nodes[0]!.ctx.registry.current().dp('dp1')!.endpoint;
    const note = await (await fetch(`${base}/v1/log/checkpoint`)).text();
    const size = Number(note.split('\n')[1]);
    expect(size).toBeGreaterThanOrEqual(1);
    const leaves = (await (await fetch(`${base}/v1/log/leaves?start=0&end=${size}`)).json()) as {
      leaves: string[];
    };
    expect(leaves.leaves).toHaveLength(size);
    for (const l of leaves.leaves)
      expect(Buffer.from(l, 'base64url').toString()).not.toContain('14155550177');
    const byIndex = await (await fetch(`${base}/v1/log/proof/inclusion?index=0&size=${size}`)).json();
    expect(byIndex).toMatchObject({ v: 1, index: 0, size });
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256')
      .update(Buffer.from([0]))
      .update(Buffer.from(leaves.leaves[0]!, 'base64url'))
      .digest('base64url');
    expect(await (await fetch(`${base}/v1/log/proof/inclusion?hash=${hash}&size=${size}`)).json()).toEqual(
      byIndex,
    );
    const bad = await fetch(`${base}/v1/log/leaves?start=0&end=5000`);
    expect(((await bad.json()) as { code: string }).code).toBe('record-invalid');
    const meta = (await (await fetch(`${base}/.well-known/mimi-discovery`)).json()) as {
      transparency: { origin: string; pseudonyms: string };
    };
    expect(meta.transparency).toMatchObject({
      origin: 'mimi-discovery/devnet/dp1',
      pseudonyms: 'keyed-hash',
    });
  });
});
