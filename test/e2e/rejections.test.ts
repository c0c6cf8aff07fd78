import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import type { HolderClient, HolderSigned } from '../../src/client/holder.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import type { MappingSubmission, PossessionAttestation } from '../../src/protocol/records.js';
import { countersign } from '../../src/registry/verify-mapping.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * Issue scenario: each bad submission is refused with its own code, and nothing stored changes.
 * Raw HTTP is used where the SDK would refuse to build the bad request in the first place.
 */
describe('rejections over real HTTP leave the store unchanged', () => {
  let net: RunningDevnet;
  let holder: HolderClient;
  // Kept here too: some requests below are signed by hand.
  const holderKey = generateKeyPair();
  let att: PossessionAttestation;
  let token: string;
  const csi = 'tel:+14155550101';

  async function post(
    path: string,
    body: unknown,
    raw = false,
  ): Promise<{ status: number; code?: string; body: unknown }> {
    const res = await fetch(`${net.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: raw ? (body as string) : JSON.stringify(body),
    });
    const json = (await res.json()) as { code?: string };
    return { status: res.status, code: json.code, body: json };
  }

  function mspSign(signed: HolderSigned, mspId = 'msp1'): MappingSubmission {
    const key = readJwkFile(net.layout.msps.find((m) => m.id === mspId)!.keyFile);
    return { ...signed, mspSig: countersign(signed, key.privateKey) };
  }

  beforeAll(async () => {
    net = await startDevnet();
    holder = net.holder(holderKey);
    att = await net.prove(holder, csi);
    // A session for msp1, through the SDK's own handshake.
    const agent = net.msp('msp1');
    await agent.submit(
      await agent.confirm(
        holder.signMapping({ csi, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: att }),
      ),
    );
    const res = await fetch(`${net.url}/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sessionRequest()),
    });
    token = ((await res.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await net.close();
  });

  function sessionRequest() {
    const key = readJwkFile(net.layout.msps[0]!.keyFile);
    const unsigned = {
      v: 1,
      participant: 'msp1',
      role: 'msp',
      audience: 'dp1',
      issuedAt: net.clock.now(),
      nonce: Math.random().toString(36).slice(2).padEnd(16, 'x'),
    };
    return { ...unsigned, sig: signObject(SignPurpose.Session, unsigned, key.privateKey) };
  }

  let before: unknown;
  beforeEach(async () => {
    before = { stats: await net.ctx.store.stats(), served: await net.msp('msp3').lookup([csi]) };
  });
  async function expectUnchanged(): Promise<void> {
    expect({ stats: await net.ctx.store.stats(), served: await net.msp('msp3').lookup([csi]) }).toEqual(
      before,
    );
  }

  const good = () =>
    holder.signMapping({ csi, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', tag: 'work', attestation: att });

  it('forged holder signature: holder-signature-invalid (R6)', async () => {
    const signed = good();
    const forged = {
      ...signed,
      holderSig: signObject(SignPurpose.MappingHolder, signed.body, generateKeyPair().privateKey),
    };
    const r = await post('/v1/mappings', mspSign(forged));
    expect([r.status, r.code]).toEqual([422, 'holder-signature-invalid']);
    await expectUnchanged();
  });

  it('a holder signature made for another purpose does not count (domain separation)', async () => {
    const signed = good();
    const wrong = {
      ...signed,
      holderSig: signObject(SignPurpose.Invalidation, signed.body, holderKey.privateKey),
    };
    const r = await post('/v1/mappings', mspSign(wrong));
    expect(r.code).toBe('holder-signature-invalid');
    await expectUnchanged();
  });

  it('missing holder signature: holder-signature-missing (R4)', async () => {
    const { holderSig: _h, ...rest } = mspSign(good());
    const r = await post('/v1/mappings', rest);
    expect([r.status, r.code]).toEqual([422, 'holder-signature-missing']);
    await expectUnchanged();
  });

  it('a DP-made mapping without the MSP signature: msp-signature-missing (R4)', async () => {
    const r = await post('/v1/mappings', good());
    expect(r.code).toBe('msp-signature-missing');
    await expectUnchanged();
  });

  it('a DP-made mapping with a self-made holder key but no possession proof for it: attestation-mismatch (R5)', async () => {
    const dpHolder = generateKeyPair();
    const body = { ...good().body, holderKey: dpHolder.publicKey };
    const holderSig = signObject(SignPurpose.MappingHolder, body, dpHolder.privateKey);
    const r = await post('/v1/mappings', mspSign({ body, attestation: att, holderSig }));
    expect(r.code).toBe('attestation-mismatch');
    await expectUnchanged();
  });

  it('MSP not in the registry: msp-not-registered (R21)', async () => {
    const signed = holder.signMapping({
      csi,
      msp: 'rogue',
      ssi: 'mimi://rogue.example/u/bob',
      tag: 'x',
      attestation: att,
    });
    // The session belongs to msp1, so the DP first refuses to let it speak for another MSP.
    expect((await post('/v1/mappings', mspSign(signed))).code).toBe('forbidden');
    const ctxErr = await net.ctx.dp.accept(mspSign(signed)).catch((e: { code: string }) => e.code);
    expect(ctxErr).toBe('msp-not-registered');
    await expectUnchanged();
  });

  it('an MSP claiming a user of another domain: ssi-msp-mismatch (R21)', async () => {
    const signed = holder.signMapping({
      csi,
      msp: 'msp1',
      ssi: 'mimi://talk.example/u/bob',
      tag: 'x',
      attestation: att,
    });
    expect((await post('/v1/mappings', mspSign(signed))).code).toBe('ssi-msp-mismatch');
    await expectUnchanged();
  });

  it('MSP signature by another MSP key: msp-signature-invalid (R2)', async () => {
    const r = await post('/v1/mappings', mspSign(good(), 'msp2'));
    expect(r.code).toBe('msp-signature-invalid');
    await expectUnchanged();
  });

  it('attestation from a verifier the registry does not list: verifier-not-trusted (R5)', async () => {
    const rogue = signAttestation(
      {
        csi,
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'rogue-verifier',
        issuedAt: net.clock.now(),
        lifetimeSeconds: 3600,
      },
      generateKeyPair().privateKey,
    );
    const signed = holder.signMapping({
      csi,
      msp: 'msp1',
      ssi: 'mimi://chat.example/u/bob',
      tag: 'x',
      attestation: rogue,
    });
    expect((await post('/v1/mappings', mspSign(signed))).code).toBe('verifier-not-trusted');
    await expectUnchanged();
  });

  it('attestation in the name of the real verifier, signed by another key: attestation-signature-invalid', async () => {
    const fake = signAttestation(
      {
        csi,
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: net.clock.now(),
        lifetimeSeconds: 3600,
      },
      generateKeyPair().privateKey,
    );
    const signed = holder.signMapping({
      csi,
      msp: 'msp1',
      ssi: 'mimi://chat.example/u/bob',
      tag: 'x',
      attestation: fake,
    });
    expect((await post('/v1/mappings', mspSign(signed))).code).toBe('attestation-signature-invalid');
    await expectUnchanged();
  });

  it('expired attestation: attestation-expired', async () => {
    const vKey = readJwkFile(`${net.layout.dir}/keys/verifier1.jwk`);
    const old = signAttestation(
      {
        csi,
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: net.clock.now() - 7200,
        lifetimeSeconds: 3600,
      },
      vKey.privateKey,
    );
    const signed = holder.signMapping({
      csi,
      msp: 'msp1',
      ssi: 'mimi://chat.example/u/bob',
      tag: 'x',
      attestation: old,
      lifetimeSeconds: 60,
    });
    // The holder client caps the mapping at the attestation's expiry; rebuild the body unexpired.
    const body = { ...signed.body, expiresAt: net.clock.now() + 3600 };
    const resigned = {
      body,
      attestation: old,
      holderSig: signObject(SignPurpose.MappingHolder, body, holderKey.privateKey),
    };
    expect((await post('/v1/mappings', mspSign(resigned))).code).toBe('attestation-expired');
    await expectUnchanged();
  });

  it('attestation for another CSI or another key: attestation-mismatch (R1)', async () => {
    const vKey = readJwkFile(`${net.layout.dir}/keys/verifier1.jwk`);
    const other = signAttestation(
      {
        csi: 'tel:+14155550102',
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: net.clock.now(),
        lifetimeSeconds: 3600,
      },
      vKey.privateKey,
    );
    const signed = holder.signMapping({
      csi,
      msp: 'msp1',
      ssi: 'mimi://chat.example/u/bob',
      tag: 'x',
      attestation: other,
    });
    expect((await post('/v1/mappings', mspSign(signed))).code).toBe('attestation-mismatch');
    const otherKey = signAttestation(
      {
        csi,
        holderKey: generateKeyPair().publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: net.clock.now(),
        lifetimeSeconds: 3600,
      },
      vKey.privateKey,
    );
    const signed2 = holder.signMapping({
      csi,
      msp: 'msp1',
      ssi: 'mimi://chat.example/u/bob',
      tag: 'x',
      attestation: otherKey,
    });
    expect((await post('/v1/mappings', mspSign(signed2))).code).toBe('attestation-mismatch');
    await expectUnchanged();
  });

  it('malformed JSON: malformed-json', async () => {
    const r = await post('/v1/mappings', '{"body": {', true);
    expect([r.status, r.code]).toEqual([400, 'malformed-json']);
    await expectUnchanged();
  });

  it('unknown record version: unknown-version', async () => {
    const sub = mspSign(good());
    const r = await post('/v1/mappings', { ...sub, body: { ...sub.body, v: 3 } });
    expect([r.status, r.code]).toEqual([400, 'unknown-version']);
    // A version some other record has (mapping bodies are at 2) is not one of this record's.
    const inv = await post('/v1/holder/invalidate', {
      v: 2,
      csi,
      holderKey: holder.publicKey,
      target: null,
      issuedAt: net.clock.now(),
      sig: sub.holderSig,
    });
    expect([inv.status, inv.code]).toEqual([400, 'unknown-version']);
    await expectUnchanged();
  });

  it('a new mapping at body version 1 (MSP signature over the body alone): version-retired', async () => {
    const signed = good();
    const body = { ...signed.body, v: 1 as const };
    const holderSig = signObject(SignPurpose.MappingHolder, body, holderKey.privateKey);
    const key = readJwkFile(net.layout.msps[0]!.keyFile);
    const mspSig = signObject(SignPurpose.MappingMsp, body, key.privateKey);
    const r = await post('/v1/mappings', { body, attestation: signed.attestation, holderSig, mspSig });
    expect([r.status, r.code]).toEqual([400, 'version-retired']);
    await expectUnchanged();
  });

  it('oversized body: body-too-large', async () => {
    const r = await post('/v1/mappings', { padding: 'x'.repeat(70 * 1024) });
    expect([r.status, r.code]).toEqual([413, 'body-too-large']);
    await expectUnchanged();
  });

  it('invalid phone number or email: invalid-phone, invalid-email (R8)', async () => {
    expect((await post('/v1/lookup', { v: 1, csis: ['+1 415 555'] })).code).toBe('invalid-phone');
    expect((await post('/v1/lookup', { v: 1, csis: ['bob@@example'] })).code).toBe('invalid-email');
    const r = await post('/v1/verifier/challenges', {
      v: 1,
      csi: 'tel:+999',
      holderKey: holder.publicKey,
    });
    expect(r.code).toBe('invalid-phone');
    const sub = mspSign(good());
    const bad = await post('/v1/mappings', { ...sub, body: { ...sub.body, csi: 'tel:+1 415 555 0101' } });
    expect(bad.code).toBe('csi-not-canonical');
    await expectUnchanged();
  });

  it('too many wrong one-time codes: code-invalid, then too-many-attempts, and the right code no longer works', async () => {
    const h = net.holder();
    const started = await h.startChallenge('+14155550177');
    const right = net.ctx.devOutbox!.latest('tel:+14155550177')!;
    const wrong = right === '000000' ? '111111' : '000000';
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push(
        (await post(`/v1/verifier/challenges/${started.challengeId}/answer`, { v: 1, code: wrong })).code,
      );
    }
    expect(codes).toEqual([
      'code-invalid',
      'code-invalid',
      'code-invalid',
      'code-invalid',
      'too-many-attempts',
    ]);
    const late = await post(`/v1/verifier/challenges/${started.challengeId}/answer`, { v: 1, code: right });
    expect([late.status, late.code]).toEqual([429, 'too-many-attempts']);
    await expectUnchanged();
  });

  it('lookups need a session (R23), and a forged or foreign token is refused', async () => {
    const res = await fetch(`${net.url}/v1/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, csis: [csi] }),
    });
    expect(res.status).toBe(401);
    const saved = token;
    token = `${saved.split('.')[0]}.AAAA`;
    expect((await post('/v1/lookup', { v: 1, csis: [csi] })).code).toBe('unauthenticated');
    token = saved;
  });

  it('a replayed session request is refused', async () => {
    const req = sessionRequest();
    const first = await post('/v1/session', req);
    expect(first.status).toBe(201);
    expect((await post('/v1/session', req)).code).toBe('replayed');
  });

  it('batches above the published limit: batch-too-large (R22)', async () => {
    const csis = Array.from({ length: 101 }, (_, i) => `+1415555${String(1000 + i)}`);
    expect((await post('/v1/lookup', { v: 1, csis })).code).toBe('batch-too-large');
  });
});
