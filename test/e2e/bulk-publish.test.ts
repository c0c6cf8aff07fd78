import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { formatSsi } from '../../src/protocol/identifiers.js';
import type { MappingSubmission } from '../../src/protocol/records.js';
import { countersign } from '../../src/registry/verify-mapping.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';
import { storeBackends } from '../support/stores.js';

/**
 * Bulk onboarding (issue 6): POST /v1/mappings/batch checks every submission as the single
 * endpoint does (R1-R6, R17, R21) and accepts or rejects each on its own; a request refused whole
 * (malformed JSON, too large, too many, rate limited) stores nothing. Runs on every store backend.
 */
const maxSubmissionBatch = 8;
const maxSubmissionBatchBytes = 16 * 1024;

interface BatchAnswer {
  v: 1;
  accepted: number;
  duplicates: number;
  rejected: number;
  results: {
    index: number;
    status: 'accepted' | 'duplicate' | 'rejected';
    id?: string;
    state?: string;
    problem?: { code: string; status: number; detail: string };
  }[];
}

for (const backend of storeBackends()) {
  describe.skipIf(!backend.available)(`POST /v1/mappings/batch on ${backend.name}`, () => {
    let net: RunningDevnet;
    let token: string;
    let next = 0;
    let users = 0;

    /** A new holder of a fresh number, with a CSIP possession token (R1, R5), signed by holder and MSP. */
    function submission(
      opts: {
        msp?: string;
        signedBy?: string;
        csi?: string;
        holder?: ReturnType<typeof generateKeyPair>;
      } = {},
    ): MappingSubmission {
      const msp = opts.msp ?? 'msp1';
      const csi = opts.csi ?? `tel:+1415300${String(next++).padStart(4, '0')}`;
      const holder = net.holder(opts.holder ?? generateKeyPair());
      const attestation = signAttestation(
        {
          csi,
          holderKey: holder.publicKey,
          method: 'csip-token',
          issuer: 'csip1',
          issuedAt: net.clock.now(),
          lifetimeSeconds: 86_400 * 30,
        },
        readJwkFile(net.layout.csip.keyFile).privateKey,
      );
      const domain = net.registry.msp(msp)!.domain;
      const signed = holder.signMapping({ csi, msp, ssi: formatSsi(domain, `u${users++}`), attestation });
      const mspKey = readJwkFile(net.layout.msps.find((m) => m.id === (opts.signedBy ?? msp))!.keyFile);
      return { ...signed, mspSig: countersign(signed, mspKey.privateKey) };
    }

    async function postBatch(
      body: unknown,
      raw = false,
    ): Promise<{ status: number; json: BatchAnswer & { code?: string } }> {
      const res = await fetch(`${net.url}/v1/mappings/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: raw ? (body as string) : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as BatchAnswer & { code?: string } };
    }

    async function served(csi: string): Promise<string> {
      return (await net.msp('msp3').lookup([csi]))[0]!.status;
    }

    beforeAll(async () => {
      const store = backend.name === 'postgres' ? await backend.open() : undefined;
      net = await startDevnet(store === undefined ? {} : { store }, {
        configure: (c) => {
          c.limits = { ...c.limits, maxSubmissionBatch, maxSubmissionBatchBytes, callerPointsPerMinute: 60 };
        },
      });
      token = await net.msp('msp1').sessionToken();
    });
    afterAll(async () => {
      await net?.close();
    });

    it('a mixed batch: each item accepted, already accepted or rejected with its code, in request order', async () => {
      const earlier = submission();
      await net.msp('msp1').submit(earlier);
      const tampered = submission();
      tampered.holderSig = signObject(SignPurpose.MappingHolder, tampered.body, generateKeyPair().privateKey);
      const wrongMsp = submission({ msp: 'msp2' });
      const forgedMsp = submission({ signedBy: 'msp2' });
      const good = [submission(), submission()];
      const before = await net.ctx.store.stats();

      const r = await postBatch({
        v: 1,
        submissions: [good[0], tampered, earlier, wrongMsp, { body: 'nonsense' }, forgedMsp, good[1]],
      });
      expect(r.status).toBe(200);
      expect(r.json.results.map((x) => [x.index, x.status, x.problem?.code])).toEqual([
        [0, 'accepted', undefined],
        [1, 'rejected', 'holder-signature-invalid'],
        [2, 'duplicate', undefined],
        [3, 'rejected', 'forbidden'],
        [4, 'rejected', 'record-invalid'],
        [5, 'rejected', 'msp-signature-invalid'],
        [6, 'accepted', undefined],
      ]);
      expect([r.json.accepted, r.json.duplicates, r.json.rejected]).toEqual([2, 1, 4]);
      expect(r.json.results[1]!.problem!.status).toBe(422);
      // Nothing stored for the rejected items; the good ones are served.
      expect((await net.ctx.store.stats()).mappings).toBe(before.mappings + 2);
      for (const s of [tampered, wrongMsp, forgedMsp]) expect(await served(s.body.csi)).toBe('none');
      for (const s of good) expect(await served(s.body.csi)).toBe('one');
      const stored = await net.ctx.store.mapping(r.json.results[0]!.id!);
      expect(stored?.csi).toBe(good[0]!.body.csi);
    });

    it('items for one CSI apply in request order (R7, R17); the same body twice is one mapping', async () => {
      const holder = generateKeyPair();
      const csi = 'tel:+14153009990';
      const first = submission({ csi, holder });
      const second = submission({ csi, holder });
      const other = submission({ csi, msp: 'msp1' });
      const r = await postBatch({ v: 1, submissions: [first, first, second, other] });
      expect(r.json.results.map((x) => [x.status, x.problem?.code ?? x.state])).toEqual([
        ['accepted', 'active'],
        ['duplicate', 'active'],
        ['rejected', 'default-tag-taken'],
        // R17: another holder of the same number, later: held as contested.
        ['accepted', 'contested'],
      ]);
      expect(r.json.results[0]!.id).toBe(r.json.results[1]!.id);
    });

    it('the SDK submits a batch and verifies every accepted mapping (R3)', async () => {
      const subs = [submission(), submission(), submission({ msp: 'msp2' })];
      const results = await net.msp('msp1').submitBatch(subs);
      expect(results.map((x) => x.status)).toEqual(['accepted', 'accepted', 'rejected']);
      const rejected = results[2]!;
      expect(rejected.status === 'rejected' && rejected.error.code).toBe('forbidden');
      const again = await net.msp('msp1').submitBatch(subs.slice(0, 2));
      expect(again.map((x) => x.status)).toEqual(['duplicate', 'duplicate']);
    });

    it('over the batch limit: batch-too-large, nothing stored', async () => {
      const before = await net.ctx.store.stats();
      const subs = Array.from({ length: maxSubmissionBatch + 1 }, () => submission());
      const r = await postBatch({ v: 1, submissions: subs });
      expect([r.status, r.json.code]).toEqual([400, 'batch-too-large']);
      expect(await net.ctx.store.stats()).toEqual(before);
    });

    it('malformed JSON, a body over the limit, a bad envelope: refused whole, nothing stored', async () => {
      const before = await net.ctx.store.stats();
      const sub = submission();
      const text = JSON.stringify({ v: 1, submissions: [sub] });
      const malformed = await postBatch(`${text.slice(0, -10)},,`, true);
      expect([malformed.status, malformed.json.code]).toEqual([400, 'malformed-json']);
      const padded = { v: 1, submissions: [sub], pad: 'x'.repeat(maxSubmissionBatchBytes) };
      const large = await postBatch(padded);
      expect([large.status, large.json.code]).toEqual([413, 'body-too-large']);
      const noArray = await postBatch({ v: 1, submissions: sub });
      expect([noArray.status, noArray.json.code]).toEqual([400, 'record-invalid']);
      const empty = await postBatch({ v: 1, submissions: [] });
      expect([empty.status, empty.json.code]).toEqual([400, 'record-invalid']);
      const version = await postBatch({ v: 2, submissions: [sub] });
      expect([version.status, version.json.code]).toEqual([400, 'unknown-version']);
      expect(await net.ctx.store.stats()).toEqual(before);
      expect(await served(sub.body.csi)).toBe('none');
    });

    it('needs an MSP session, and charges one rate-limit point per submission (R22, R23)', async () => {
      const anonymous = await fetch(`${net.url}/v1/mappings/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: 1, submissions: [submission()] }),
      });
      expect(anonymous.status).toBe(401);
      // A fresh MSP session (msp2) has 60 points a minute: 8 + 8 + 8 + 8 + 8 + 8 + 8 = 56, then 8 more is refused.
      const agent = net.msp('msp2');
      for (let i = 0; i < 7; i++) {
        const results = await agent.submitBatch(
          Array.from({ length: maxSubmissionBatch }, () => submission({ msp: 'msp2' })),
        );
        expect(results.every((x) => x.status === 'accepted')).toBe(true);
      }
      const before = await net.ctx.store.stats();
      const last = Array.from({ length: maxSubmissionBatch }, () => submission({ msp: 'msp2' }));
      await expect(agent.submitBatch(last)).rejects.toMatchObject({ code: 'rate-limited' });
      expect(await net.ctx.store.stats()).toEqual(before);
    });
  });
}
