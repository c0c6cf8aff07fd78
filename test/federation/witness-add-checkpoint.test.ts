import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { witnessVerifiers } from '../../src/federation/witness.js';
import { toB64u } from '../../src/protocol/encoding.js';
import { logOrigin } from '../../src/protocol/transparency.js';
import { signCheckpoint } from '../../src/tlog/checkpoint.js';
import { verifyCosignatures } from '../../src/tlog/cosignature.js';
import { consistencyProof, rootFromLeafHashes } from '../../src/tlog/merkle.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';
import { storeBackends } from '../support/stores.js';

/**
 * C2SP tlog-witness add-checkpoint: dp1 cosigns checkpoints of its peer dp2's log that anyone
 * brings, only when signed by dp2's registry key and proved consistent with the last one it
 * recorded; never two different trees from one recorded size (a split view).
 */
for (const backend of storeBackends().filter((b) => b.name === 'sqlite' || b.name === 'postgres')) {
  describe.skipIf(!backend.available)(`POST /v1/witness/add-checkpoint on ${backend.name}`, () => {
    let net: RunningDevnet;
    let origin: string;
    let dp2Key: ReturnType<typeof readJwkFile>;
    const leaves: Uint8Array[] = Array.from({ length: 40 }, (_, i) =>
      createHash('sha256').update(`leaf ${i}`).digest(),
    );
    const forked = leaves.map((h, i) => (i < 5 ? h : createHash('sha256').update(`other ${i}`).digest()));
    // The tree the witness holds: the split-view test leaves either of its two views recorded.
    let current = leaves;

    beforeAll(async () => {
      const store = backend.name === 'postgres' ? await backend.open() : undefined;
      net = await startDevnet(store === undefined ? {} : { store }, {
        dps: 2,
        configure: (c) => {
          c.log = { witnessIntervalMs: 3_600_000 };
        },
      });
      origin = logOrigin(net.registry.doc.federation, 'dp2');
      dp2Key = readJwkFile(join(net.layout.dir, 'keys', 'dp2.log.jwk'));
    });
    afterAll(async () => {
      await net?.close();
    });

    const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');
    function checkpoint(size: number, tree = current, key = dp2Key.privateKey, name = origin): string {
      return signCheckpoint(
        { origin: name, size, rootHash: rootFromLeafHashes(tree.slice(0, size)) },
        { name, privateKey: key },
      );
    }
    function request(
      old: number,
      size: number,
      opts: { tree?: Uint8Array[]; proof?: Uint8Array[]; note?: string } = {},
    ) {
      const tree = opts.tree ?? current;
      const proof = opts.proof ?? (old > 0 && old < size ? consistencyProof(old, tree.slice(0, size)) : []);
      const note = opts.note ?? checkpoint(size, tree);
      return `old ${old}\n${proof.map((h) => `${b64(h)}\n`).join('')}\n${note}`;
    }
    async function post(body: string) {
      const res = await fetch(`${net.url}/v1/witness/add-checkpoint`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body,
      });
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    }
    const code = (r: { text: string }) => (JSON.parse(r.text) as { code: string }).code;
    const recorded = async () => (await net.ctx.store.witnessedLogs()).find((w) => w.dp === 'dp2')?.size;

    it('cosigns a first checkpoint and then one proved consistent with it, and tells the size it holds', async () => {
      const first = await post(request(0, 10));
      expect(first.status).toBe(200);
      const note = checkpoint(10);
      const cosigners = witnessVerifiers(net.registry, 'dp2', ['dp1']);
      expect(verifyCosignatures(`${note}${first.text}`, cosigners).map((c) => c.name)).toEqual([
        'mimi-discovery/devnet/witness/dp1',
      ]);
      expect(await recorded()).toBe(10);
      // A client that does not know the size: 409 with the size, as text/x.tlog.size.
      const again = await post(request(0, 20));
      expect([again.status, again.type, again.text]).toEqual([409, 'text/x.tlog.size', '10\n']);
      expect((await post(request(10, 20))).status).toBe(200);
      // The same checkpoint once more: cosigned again, no proof.
      expect((await post(request(20, 20))).status).toBe(200);
      expect(await recorded()).toBe(20);
    });

    it('refuses a bad proof, a foreign or unsigned log, and malformed bodies, and records nothing', async () => {
      const at = await recorded();
      const good = consistencyProof(at!, leaves.slice(0, 30));
      const flipped = good.map((h, i) => (i === 0 ? Uint8Array.from(h, (b, j) => (j === 0 ? b ^ 1 : b)) : h));
      const cases: [string, string, number, string][] = [
        ['wrong proof', request(at!, 30, { proof: flipped }), 422, 'log-proof-invalid'],
        ['no proof', request(at!, 30, { proof: [] }), 422, 'log-proof-invalid'],
        ['a fork', request(at!, 30, { tree: forked }), 422, 'log-proof-invalid'],
        [
          'other key',
          request(at!, 30, { note: checkpoint(30, leaves, generateKeyPair().privateKey) }),
          403,
          'forbidden',
        ],
        [
          'own log',
          request(at!, 30, {
            note: checkpoint(30, leaves, net.ctx.dpKeys.log.privateKey, logOrigin('devnet', 'dp1')),
          }),
          404,
          'not-found',
        ],
        [
          'unknown log',
          request(at!, 30, { note: checkpoint(30, leaves, dp2Key.privateKey, 'example.com/log') }),
          404,
          'not-found',
        ],
        ['old beyond', request(31, 30), 400, 'record-invalid'],
        ['no old line', request(at!, 30).replace(/^old /, 'old  '), 400, 'record-invalid'],
        ['leading zero', request(at!, 30).replace(/^old /, 'old 0'), 400, 'record-invalid'],
        ['bad proof line', request(at!, 30).replace('\n', '\nAAAA\n'), 400, 'record-invalid'],
        ['no note', `old ${at}\n\n`, 400, 'record-invalid'],
        ['no blank line', `old ${at}\n`, 400, 'record-invalid'],
      ];
      for (const [what, body, status, c] of cases) {
        const r = await post(body);
        expect([what, r.status, code(r)]).toEqual([what, status, c]);
      }
      expect(await recorded()).toBe(at);
      const json = await fetch(`${net.url}/v1/witness/add-checkpoint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"old":1}',
      });
      expect([json.status, ((await json.json()) as { code: string }).code]).toEqual([400, 'record-invalid']);
    });

    it('cosigns only one of two different trees brought from the same size at once (no split view)', async () => {
      const at = (await recorded())!;
      // Both extend the recorded tree, but not each other: a log showing each to half its users.
      const other = leaves.map((h, i) => (i < at ? h : createHash('sha256').update(`view ${i}`).digest()));
      const [a, b] = await Promise.all([post(request(at, 37)), post(request(at, 37, { tree: other }))]);
      expect([a.status, b.status].sort()).toEqual([200, 409]);
      expect((a.status === 409 ? a : b).text).toBe('37\n');
      expect(await recorded()).toBe(37);
      if (b.status === 200) current = other;
    });

    it('does not let its own witnessing round record a view checked against a head replaced meanwhile', async () => {
      const at = (await recorded())!;
      // dp2 (played here) shows the round one view; someone brings another through
      // add-checkpoint while the round is between reading the recorded head and storing its own.
      const roundView = current.map((h, i) =>
        i < at ? h : createHash('sha256').update(`round ${i}`).digest(),
      );
      const peer = Fastify();
      const cosigned: string[] = [];
      peer.post('/v1/federation/log/checkpoint', async (req) => {
        const from = (req.body as { from: number }).from;
        const consistency = consistencyProof(from, roundView.slice(0, at + 2)).map(toB64u);
        return { v: 1, checkpoint: checkpoint(at + 2, roundView), consistency };
      });
      peer.post('/v1/federation/log/cosignature', async (req) => {
        cosigned.push((req.body as { checkpoint: string }).checkpoint);
        return { stored: true };
      });
      const dp2 = new URL(net.layout.dps.find((d) => d.id === 'dp2')!.endpoint);
      await peer.listen({ host: dp2.hostname, port: Number(dp2.port) });
      const store = net.ctx.store;
      const read = store.witnessedLogs.bind(store);
      let brought: { status: number } | undefined;
      store.witnessedLogs = async () => {
        const rows = await read();
        store.witnessedLogs = read;
        brought = await post(request(at, at + 2));
        return rows;
      };
      try {
        const outcome = await net.ctx.transparency!.witness!.witness('dp2');
        expect(brought?.status).toBe(200);
        expect(outcome.status).toBe('error');
        expect(cosigned).toEqual([]);
        const held = (await store.witnessedLogs()).find((w) => w.dp === 'dp2')!;
        expect([held.size, toB64u(held.rootHash)]).toEqual([
          at + 2,
          toB64u(rootFromLeafHashes(current.slice(0, at + 2))),
        ]);
      } finally {
        store.witnessedLogs = read;
        await peer.close();
      }
    });

    it('stores two roots signed for one size as fork evidence and cosigns neither again', async () => {
      const at = (await recorded())!;
      const split = leaves.map((h, i) =>
        i < at - 1 ? h : createHash('sha256').update(`split ${i}`).digest(),
      );
      const r = await post(request(at, at, { tree: split }));
      expect([r.status, r.text]).toEqual([409, `${at}\n`]);
      const forks = (await (await fetch(`${net.url}/v1/log/witness`)).json()) as {
        forks: { dp: string; reason: string }[];
      };
      expect(forks.forks).toContainEqual(
        expect.objectContaining({ dp: 'dp2', reason: `two different roots for ${at} leaves` }),
      );
      expect(await recorded()).toBe(at);
    });
  });
}
