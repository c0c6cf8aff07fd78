import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import { monitorLog } from '../../src/cli/log.js';
import type { HolderClient } from '../../src/client/holder.js';
import type { MspAgent } from '../../src/client/msp-agent.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { blind, finalize } from '../../src/crypto/oprf-client.js';
import { openWithEd25519 } from '../../src/crypto/seal.js';
import { type AcceptAnswer, logReceiptInfo } from '../../src/protocol/answers.js';
import { fromB64u, toB64u } from '../../src/protocol/encoding.js';
import { EpochsAnswer, EvaluateAnswer } from '../../src/protocol/private.js';
import { decodeRecord, type PossessionAttestation } from '../../src/protocol/records.js';
import { decodeLeaf, type LogLeaf, leafIsAbout } from '../../src/tlog/leaf.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R28, issue "Security" cases 1 and 2, as an attacker holding a registered MSP's keys: the log's
 * leaves and GET /v1/mappings/:id no longer copy the directory, and nothing a third party can
 * evaluate (the OPRF's anonymous or MSP tier, a lookup's inclusion proof) follows a number through
 * the log; the holder still finds every entry about its CSI, whatever key made it.
 */
describe('R28: no directory copy from the log, no log pseudonym for a known number', () => {
  let net: RunningDevnet;
  const bob = 'tel:+14155550101';
  const carol = 'mailto:carol@example.org';
  let hb: HolderClient; // Bob
  let hm: HolderClient; // another holder key on Bob's number (contested)
  // Their keys, for the requests signed by hand below.
  const hbKey = generateKeyPair();
  const hmKey = generateKeyPair();
  let hc: HolderClient; // Carol
  let attB: PossessionAttestation;
  let attM: PossessionAttestation;
  let attC: PossessionAttestation;
  let bobAnswer: AcceptAnswer;
  let otherAnswer: AcceptAnswer;
  let carolAnswer: AcceptAnswer;
  let optOutId: string;
  let msp1: MspAgent;
  let msp2: MspAgent;
  let msp3: MspAgent;
  const base = mkdtempSync(join(tmpdir(), 'mimi-dir-copy-'));

  beforeAll(async () => {
    net = await startDevnet();
    msp1 = net.msp('msp1');
    msp2 = net.msp('msp2');
    msp3 = net.msp('msp3');
    hb = net.holder(hbKey);
    hm = net.holder(hmKey);
    hc = net.holder();
    attB = await net.prove(hb, bob);
    attM = await net.prove(hm, bob);
    attC = await net.prove(hc, carol);
    bobAnswer = await msp1.submit(
      await msp1.confirm(
        hb.signMapping({ csi: bob, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: attB }),
      ),
    );
    otherAnswer = await msp2.submit(
      await msp2.confirm(
        hm.signMapping({
          csi: bob,
          msp: 'msp2',
          ssi: 'mimi://talk.example/u/m',
          attestation: attM,
          tag: 'work',
        }),
      ),
    );
    carolAnswer = await msp1.submit(
      await msp1.confirm(
        hc.signMapping({ csi: carol, msp: 'msp1', ssi: 'mimi://chat.example/u/carol', attestation: attC }),
      ),
    );
    const hd = net.holder();
    optOutId = (await hd.optOut(await net.prove(hd, 'tel:+14155550133'))).id;
    expect(bobAnswer.state).toBe('active');
    expect(otherAnswer.state).toBe('contested');
    await net.ctx.transparency!.log.checkpoint();
  });
  afterAll(async () => {
    await net.close();
    rmSync(base, { recursive: true, force: true });
  });

  const getMapping = async (id: string, agent: MspAgent) =>
    fetch(`${net.url}/v1/mappings/${encodeURIComponent(id)}`, {
      headers: { authorization: `Bearer ${await agent.sessionToken()}` },
    });
  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  async function allLeaves(): Promise<LogLeaf[]> {
    const size = (await net.ctx.transparency!.log.checkpoint()).size;
    const res = await fetch(`${net.url}/v1/log/leaves?start=0&end=${size}`);
    const { leaves } = (await res.json()) as { leaves: string[] };
    return leaves.map((l) => decodeLeaf(Buffer.from(l, 'base64url')));
  }

  it('GET /v1/mappings/:id: another MSP gets not-found, for active, contested and opt-out mappings, as for no such id', async () => {
    const unknown = 'A'.repeat(43);
    const answers = [
      [bobAnswer.id, msp3],
      [bobAnswer.id, msp2],
      [otherAnswer.id, msp1], // contested: msp1 is not its MSP
      [otherAnswer.id, msp3],
      [optOutId, msp1], // an opt-out names no MSP
      [unknown, msp1],
    ] as const;
    const bodies: unknown[] = [];
    for (const [id, agent] of answers) {
      const res = await getMapping(id, agent);
      expect(res.status).toBe(404);
      const body = (await res.json()) as { code: string; detail: string };
      expect(body.code).toBe('not-found');
      bodies.push(body);
    }
    // Not even the wording tells an existing id from one that does not exist.
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    // Its own MSP reads it, in any state.
    const own = await getMapping(otherAnswer.id, msp2);
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ id: otherAnswer.id, state: 'contested' });
    expect((await getMapping(bobAnswer.id, msp1)).status).toBe(200);
  });

  it('the directory-copy reproduction (every leaf, every commitment fetched as a mapping) recovers nothing', async () => {
    const leaves = await allLeaves();
    expect(leaves.length).toBeGreaterThanOrEqual(5);
    const recovered: string[] = [];
    for (const leaf of leaves) {
      const res = await getMapping(leaf.commitment, msp3);
      if (res.status === 200) recovered.push(await res.text());
    }
    expect(recovered).toEqual([]);
    // An MSP that is a party gets back only the mappings it countersigned, nothing else.
    const ownOnly: string[] = [];
    for (const leaf of leaves) {
      const res = await getMapping(leaf.commitment, msp1);
      if (res.status === 200) ownOnly.push(((await res.json()) as { id: string }).id);
    }
    expect(ownOnly.sort()).toEqual([bobAnswer.id, carolAnswer.id].sort());
  });

  it('a holder reads its own mappings by a signed request; another holder, another CSI, a replay get nothing', async () => {
    expect(await hb.readMapping(bob, bobAnswer.id)).toMatchObject({ id: bobAnswer.id, state: 'active' });
    expect(await hm.readMapping(bob, otherAnswer.id)).toMatchObject({ state: 'contested' });
    expect(await codeOf(hm.readMapping(bob, bobAnswer.id))).toBe('not-found');
    expect(await codeOf(hc.readMapping(carol, bobAnswer.id))).toBe('not-found');
    expect(await codeOf(hc.readMapping(bob, bobAnswer.id))).toBe('not-found');
    // The same signed request twice: the second is a replay.
    const unsigned = {
      v: 1,
      csi: bob,
      holderKey: hb.publicKey,
      mapping: bobAnswer.id,
      issuedAt: net.clock.now(),
      nonce: 'replay-me-replay-me',
    };
    const { signObject, SignPurpose } = await import('../../src/crypto/sign.js');
    const signed = { ...unsigned, sig: signObject(SignPurpose.HolderRead, unsigned, hbKey.privateKey) };
    const post = () =>
      fetch(`${net.url}/v1/holder/mapping`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signed),
      });
    expect((await post()).status).toBe(200);
    expect(((await (await post()).json()) as { code: string }).code).toBe('replayed');
    const forged = { ...signed, holderKey: hm.publicKey };
    const res = await fetch(`${net.url}/v1/holder/mapping`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(forged),
    });
    expect(((await res.json()) as { code: string }).code).toBe('request-signature-invalid');
  });

  /** The old attack: the OPRF output of a known number, by the anonymous or the MSP tier. */
  async function oprfOutputs(csi: string, token?: string): Promise<Uint8Array[]> {
    const epochs = decodeRecord(
      EpochsAnswer,
      await (await fetch(`${net.url}/v1/private/epochs`)).json(),
      'epochs',
    );
    const input = new TextEncoder().encode(csi);
    const outs: Uint8Array[] = [];
    for (const e of epochs.epochs) {
      const b = blind(input);
      const res = await fetch(`${net.url}/v1/private/evaluate`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify({ v: 1, epoch: e.id, elements: [toB64u(b.blindedElement)] }),
      });
      const answer = decodeRecord(EvaluateAnswer, await res.json(), 'evaluation');
      outs.push(
        finalize(
          input,
          b,
          fromB64u(answer.evaluated[0]!, 'evaluated', 32),
          fromB64u(answer.proof, 'proof', 64),
          fromB64u(e.publicKey, 'publicKey', 32),
        ),
      );
    }
    return outs;
  }

  it('with the private lookup on, an anonymous or MSP evaluation of a known number matches no leaf', async () => {
    expect(net.ctx.privateLookup).toBeDefined();
    const outs = [...(await oprfOutputs(bob)), ...(await oprfOutputs(bob, await msp3.sessionToken()))];
    expect(outs.length).toBeGreaterThanOrEqual(2);
    const label = 'mimi-discovery/v1/log-pseudonym\n';
    const guesses = outs.flatMap((o) => [
      toB64u(createHash('sha256').update(label).update(o).digest()),
      toB64u(o),
    ]);
    guesses.push(toB64u(createHash('sha256').update(label).update(bob).digest()));
    const leaves = await allLeaves();
    for (const leaf of leaves) {
      for (const g of guesses) {
        expect(leaf.pseudonym).not.toBe(g);
        expect(leafIsAbout(leaf, g)).toBe(false);
      }
    }
  });

  it("a lookup's inclusion proof hands over one leaf, which leads to none of the CSI's other leaves", async () => {
    const [r] = await msp3.lookup([bob], { federation: false });
    expect(r!.status).toBe('one');
    const res = await fetch(`${net.url}/v1/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await msp3.sessionToken()}` },
      body: JSON.stringify({ v: 1, csis: [bob], federation: false }),
    });
    const answer = (await res.json()) as { results: { mappings: { log: { leaf: string } }[] }[] };
    const seen = decodeLeaf(Buffer.from(answer.results[0]!.mappings[0]!.log.leaf, 'base64url'));
    const leaves = await allLeaves();
    const others = leaves.filter((l) => l.commitment !== seen.commitment);
    expect(others.length).toBe(leaves.length - 1);
    for (const l of others) {
      expect(l.pseudonym).not.toBe(seen.pseudonym);
      expect(leafIsAbout(l, seen.pseudonym)).toBe(false);
    }
  });

  it('the acceptance carries the pseudonym sealed to the holder key: the relaying MSP cannot read it', async () => {
    const receipt = bobAnswer.receipt!;
    expect(receipt).toMatchObject({ dp: 'dp1', mapping: bobAnswer.id, holderKey: hb.publicKey });
    const pseudonym = hb.openReceipt(receipt, { mappingId: bobAnswer.id, registry: net.registry });
    expect(JSON.stringify(bobAnswer)).not.toContain(pseudonym);
    const mspKey = readJwkFile(net.layout.msps.find((m) => m.id === 'msp1')!.keyFile);
    expect(openWithEd25519(mspKey.privateKey, receipt.sealed, logReceiptInfo(bobAnswer.id))).toBeUndefined();
    expect(
      await codeOf(
        Promise.resolve().then(() =>
          hm.openReceipt(receipt, { mappingId: bobAnswer.id, registry: net.registry }),
        ),
      ),
    ).toBe('log-receipt-invalid');
    // Swapping in another sealed value breaks the DP's signature.
    const swapped = { ...receipt, sealed: otherAnswer.receipt!.sealed };
    expect(
      await codeOf(
        Promise.resolve().then(() =>
          hb.openReceipt(swapped, { mappingId: bobAnswer.id, registry: net.registry }),
        ),
      ),
    ).toBe('log-receipt-invalid');
  });

  it('the holder finds every entry about its CSI, including one made with another holder key (SDK and log monitor)', async () => {
    const fromReceipt = hb.openReceipt(bobAnswer.receipt!, {
      mappingId: bobAnswer.id,
      registry: net.registry,
    });
    const asked = await hb.logPseudonym(attB);
    expect(asked).toMatchObject({ dp: 'dp1', csi: bob, pseudonym: fromReceipt, epoch: 0 });
    // Per CSI, not per holder key.
    expect((await hm.logPseudonym(attM)).pseudonym).toBe(fromReceipt);
    expect(hm.openReceipt(otherAnswer.receipt!, { mappingId: otherAnswer.id, registry: net.registry })).toBe(
      fromReceipt,
    );
    const carolPseudonym = hc.openReceipt(carolAnswer.receipt!, {
      mappingId: carolAnswer.id,
      registry: net.registry,
    });
    expect(carolPseudonym).not.toBe(fromReceipt);

    const leaves = await allLeaves();
    const about = leaves.filter((l) => leafIsAbout(l, fromReceipt));
    expect(about.map((l) => l.kind)).toEqual(['mapping', 'mapping', 'contest']);
    expect(about.map((l) => l.commitment).slice(0, 2)).toEqual([bobAnswer.id, otherAnswer.id]);
    expect(leaves.filter((l) => leafIsAbout(l, carolPseudonym)).map((l) => l.commitment)).toEqual([
      carolAnswer.id,
    ]);

    // The CLI's monitor, in process: Bob's own mapping, and the other key's mapping and contest.
    const dir = join(base, 'mappings');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'bob.json'), JSON.stringify(bobAnswer.mapping));
    const r = await monitorLog(
      { dp: 'dp1', baseUrl: net.url, registry: net.registry },
      { csi: bob, key: hbKey, attestation: attB, keys: [hb.publicKey], mappingDir: dir, json: true },
    );
    const doc = r.doc as { findings: { verdict: string }[] };
    expect(doc.findings.map((f) => f.verdict)).toEqual(['mine', 'not-mine', 'contest']);
  });

  it('the pseudonym request needs a current attestation for this CSI and this key, signed by it, once', async () => {
    // Another holder's attestation; an attestation altered to name this CSI.
    const mismatch = await codeOf(net.holder(hmKey).logPseudonym({ ...attB }));
    expect(mismatch).toBe('attestation-mismatch');
    expect(await codeOf(hc.logPseudonym({ ...attC, csi: bob }))).toBe('attestation-signature-invalid');
    // An expired attestation.
    const verifierKey = readJwkFile(join(net.layout.dir, 'keys', 'verifier1.jwk')).privateKey;
    const old = signAttestation(
      {
        csi: bob,
        holderKey: hb.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: net.clock.now() - 3 * 86_400,
        lifetimeSeconds: 86_400,
      },
      verifierKey,
    );
    expect(await codeOf(hb.logPseudonym(old))).toBe('attestation-expired');
    // Signed too long ago.
    const late = net.holder(hbKey);
    const { HolderClient } = await import('../../src/client/holder.js');
    const stale = new HolderClient({
      dp: { baseUrl: net.url },
      key: hbKey,
      now: () => net.clock.now() - 3600,
    });
    expect(await codeOf(stale.logPseudonym(attB))).toBe('request-stale');
    expect(await codeOf(late.logPseudonym(attB))).toBe('ok');
    // The same signed request twice.
    const { signObject, SignPurpose } = await import('../../src/crypto/sign.js');
    const unsigned = {
      v: 1,
      csi: bob,
      holderKey: hb.publicKey,
      attestation: attB,
      issuedAt: net.clock.now(),
      nonce: 'replay-me-replay-me',
    };
    const body = JSON.stringify({
      ...unsigned,
      sig: signObject(SignPurpose.LogPseudonym, unsigned, hbKey.privateKey),
    });
    const post = async () =>
      (
        await fetch(`${net.url}/v1/holder/log-pseudonym`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        })
      ).json() as Promise<{ code?: string; pseudonym?: string }>;
    expect((await post()).pseudonym).toBeDefined();
    expect((await post()).code).toBe('replayed');
  });

  it('a batch acceptance carries each holder its sealed receipt too', async () => {
    const he = net.holder();
    const erin = 'tel:+14155550144';
    const att = await net.prove(he, erin);
    const sub = await msp1.confirm(
      he.signMapping({ csi: erin, msp: 'msp1', ssi: 'mimi://chat.example/u/erin', attestation: att }),
    );
    const [item] = await msp1.submitBatch([sub]);
    if (item?.status !== 'accepted') throw new Error(`not accepted: ${item?.status}`);
    const pseudonym = he.openReceipt(item.receipt!, { mappingId: item.id, registry: net.registry });
    expect((await he.logPseudonym(att)).pseudonym).toBe(pseudonym);
    expect((await allLeaves()).filter((l) => leafIsAbout(l, pseudonym)).map((l) => l.commitment)).toEqual([
      item.id,
    ]);
  });
});
