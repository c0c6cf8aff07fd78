/**
 * Our own wire vectors (test/vectors/mimi-discovery-v1.json, docs/spec/appendix-vectors.md).
 *
 * Each vector is rebuilt from the rules of docs/spec with independent primitives (node:crypto
 * hashes, HMAC, HKDF and AES-GCM, the `canonicalize` package for JCS, @noble/curves for Ed25519 and
 * ristretto255, node:zlib, structures parsed by hand), and then the project's own functions are
 * checked against the same bytes. A change of the wire format fails here first; regenerate the
 * file only for a deliberate change (test/vectors/generate.ts).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { ed25519, ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import sodium from 'libsodium-wrappers-sumo';
import { describe, expect, it, vi } from 'vitest';
import { HolderClient } from '../../src/client/holder.js';
import { verifyMappingLogged } from '../../src/client/log-verify.js';
import { importPublicKey, type SigningKey } from '../../src/crypto/keys.js';
import { finalize } from '../../src/crypto/oprf-client.js';
import { createOprfServer } from '../../src/crypto/oprf-server.js';
import { openAnswer, sealAnswer } from '../../src/crypto/private-entry.js';
import { cryptoProvider, useCryptoProvider } from '../../src/crypto/provider.js';
import { wasmCrypto } from '../../src/crypto/provider-wasm.js';
import { openWithEd25519 } from '../../src/crypto/seal.js';
import { digest, SignPurpose, signingInput, signObject, verifyObject } from '../../src/crypto/sign.js';
import { KeyedPseudonyms } from '../../src/dp/log-pseudonym.js';
import { signPeerRequest, verifyPeerRequest } from '../../src/federation/http-signature.js';
import { decodeBucket, findInBucket, splitBuckets } from '../../src/protocol/private.js';
import type { Mapping } from '../../src/protocol/records.js';
import { Registry } from '../../src/registry/document.js';
import { mappingId, verifyMapping } from '../../src/registry/verify-mapping.js';
import { ed25519PrivateKeyFromSeed, openCheckpoint } from '../../src/tlog/checkpoint.js';
import { verifyCosignatures } from '../../src/tlog/cosignature.js';
import { decodeLeaf, leafIsAbout } from '../../src/tlog/leaf.js';
import { verifyConsistency, verifyInclusion } from '../../src/tlog/merkle.js';

const canonicalize = createRequire(import.meta.url)('canonicalize') as (v: unknown) => string;
const V = JSON.parse(readFileSync(join(import.meta.dirname, 'mimi-discovery-v1.json'), 'utf8'));

const enc = new TextEncoder();
const sha256 = (...parts: (string | Uint8Array)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const unb64u = (s: string) => Buffer.from(s, 'base64url');
const unhex = (s: string) => Buffer.from(s, 'hex');
/** digest(x) of the spec: base64url(SHA-256(JCS(x))). */
const jcsDigest = (x: unknown) => b64u(sha256(canonicalize(x)));
const pub = (label: string): string => V.keys[label].publicKey;
const privateKey = (label: string): SigningKey => ed25519PrivateKeyFromSeed(unhex(V.keys[label].seed));

describe('mimi-discovery v1 vectors: keys and record signatures', () => {
  it('every key is Ed25519 of seed SHA-256("mimi-discovery/v1/test-vector/" + label)', () => {
    for (const [label, k] of Object.entries<{ seed: string; publicKey: string }>(V.keys)) {
      expect(k.seed).toBe(sha256(`mimi-discovery/v1/test-vector/${label}`).toString('hex'));
      expect(b64u(ed25519.getPublicKey(unhex(k.seed)))).toBe(k.publicKey);
    }
  });

  it('each purpose signs "mimi-discovery/v1/" + purpose + "\\n" + JCS(unsigned), deterministically', () => {
    expect(V.signatures.map((s: { purpose: string }) => s.purpose).sort()).toEqual(
      Object.values(SignPurpose)
        .filter((p) => p !== 'checkpoint')
        .sort(),
    );
    for (const s of V.signatures as {
      purpose: string;
      signer: string | string[];
      unsigned: unknown;
      signingInput: string;
      signatures: string[];
    }[]) {
      const input = `mimi-discovery/v1/${s.purpose}\n${canonicalize(s.unsigned)}`;
      expect(s.signingInput, s.purpose).toBe(input);
      expect(Buffer.from(signingInput(s.purpose as SignPurpose, s.unsigned)).toString('utf8')).toBe(input);
      const signers = Array.isArray(s.signer) ? s.signer : [s.signer];
      signers.forEach((label, i) => {
        const seed = unhex(V.keys[label].seed);
        // RFC 8032 signatures are deterministic: noble reproduces the project's bytes.
        expect(b64u(ed25519.sign(enc.encode(input), seed)), s.purpose).toBe(s.signatures[i]);
        expect(ed25519.verify(unb64u(s.signatures[i]!), enc.encode(input), unb64u(pub(label)))).toBe(true);
        expect(verifyObject(s.purpose as SignPurpose, s.unsigned, s.signatures[i]!, pub(label))).toBe(true);
        expect(signObject(s.purpose as SignPurpose, s.unsigned, privateKey(label))).toBe(s.signatures[i]);
      });
    }
  });

  it('a signature verifies for its purpose only', () => {
    const holder = V.signatures.find((s: { purpose: string }) => s.purpose === 'mapping-holder');
    expect(verifyObject(SignPurpose.MappingMsp, holder.unsigned, holder.signatures[0], pub('holder'))).toBe(
      false,
    );
  });

  it('the holder signs the body; the MSP the body digest and holderSig (v2); the DP the mapping without dpSig', () => {
    const m: Mapping = V.mapping.record;
    const by = (p: string) => V.signatures.find((s: { purpose: string }) => s.purpose === p);
    expect(m.body.v).toBe(2);
    expect(by('mapping-holder').unsigned).toEqual(m.body);
    expect(by('mapping-countersign').unsigned).toEqual({ body: jcsDigest(m.body), holderSig: m.holderSig });
    expect(by('mapping-countersign').signatures[0]).toBe(m.mspSig);
    // The version 1 rule, for mappings accepted before: the MSP signed a v1 body alone.
    expect(by('mapping-msp').unsigned).toEqual({ ...m.body, v: 1 });
    const { dpSig, ...rest } = m;
    expect(by('mapping-dp').unsigned).toEqual(rest);
    expect(by('mapping-dp').signatures[0]).toBe(dpSig);
  });
});

describe('mimi-discovery v1 vectors: digests, ids, registry', () => {
  it('the attestation digest covers the whole attestation, sig included', () => {
    const a = V.attestation.record;
    expect(V.attestation.digest).toBe(jcsDigest(a));
    expect(digest(a)).toBe(V.attestation.digest);
    const { sig: _s, ...unsigned } = a;
    expect(jcsDigest(unsigned)).not.toBe(V.attestation.digest);
    expect(V.mapping.record.body.attestation).toBe(V.attestation.digest);
  });

  it('the mapping id is SHA-256 of the JCS of the whole mapping, dpSig included', () => {
    expect(V.mapping.id).toBe(jcsDigest(V.mapping.record));
    expect(mappingId(V.mapping.record)).toBe(V.mapping.id);
  });

  it('the registry verifies under the pinned key, and the mapping under the registry', () => {
    const registry = Registry.open(V.registry, pub('registry'), { now: V.now });
    const { sig, ...unsigned } = V.registry;
    expect(
      ed25519.verify(
        unb64u(sig),
        enc.encode(`mimi-discovery/v1/registry\n${canonicalize(unsigned)}`),
        unb64u(pub('registry')),
      ),
    ).toBe(true);
    expect(() => verifyMapping(V.mapping.record, { registry, policy: {}, now: V.now })).not.toThrow();
  });

  it('the registry (v2) names each DP key by usage; a DP signature verifies under its usage key only', () => {
    expect(V.registry.v).toBe(2);
    expect(V.registry.dps[0].keys).toEqual({
      records: [pub('dp1-records')],
      transport: [pub('dp1-transport')],
      log: [pub('dp1-log')],
    });
    const { dpSig, ...unsigned } = V.mapping.record;
    const input = enc.encode(`mimi-discovery/v1/mapping-dp\n${canonicalize(unsigned)}`);
    expect(ed25519.verify(unb64u(dpSig), input, unb64u(pub('dp1-records')))).toBe(true);
    for (const other of ['dp1-transport', 'dp1-log']) {
      expect(ed25519.verify(unb64u(dpSig), input, unb64u(pub(other))), other).toBe(false);
    }
    const registry = Registry.open(V.registry, pub('registry'), { now: V.now });
    const asLog = {
      ...V.mapping.record,
      dpSig: signObject(SignPurpose.MappingDp, unsigned, privateKey('dp1-log')),
    };
    expect(() => verifyMapping(asLog, { registry, policy: {}, now: V.now })).toThrow(
      expect.objectContaining({ code: 'dp-signature-invalid' }),
    );
  });

  it('CSIP event, invalidation, rotation, reaffirmation and session verify with their signers', () => {
    const r = V.records;
    const check = (purpose: SignPurpose, record: Record<string, unknown>, sigs: string[], keys: string[]) => {
      const unsigned = Object.fromEntries(Object.entries(record).filter(([k]) => !sigs.includes(k)));
      sigs.forEach((field, i) => {
        expect(verifyObject(purpose, unsigned, record[field] as string, keys[i]!)).toBe(true);
      });
    };
    check(SignPurpose.Invalidation, r.invalidation, ['sig'], [pub('holder')]);
    check(SignPurpose.KeyRotation, r.rotation, ['oldSig', 'newSig'], [pub('holder'), pub('holder-new')]);
    check(SignPurpose.Reaffirmation, r.reaffirmation, ['sig'], [pub('holder')]);
    check(SignPurpose.Session, r.session, ['sig'], [pub('msp1')]);
    check(SignPurpose.CsipEvent, r.csipEvent, ['sig'], [pub('csip1')]);
    expect(r.invalidation.target).toBe(V.mapping.id);
  });
});

// ---- private lookup ----------------------------------------------------------------------------

const contextString = Buffer.concat([
  Buffer.from('OPRFV1-'),
  Buffer.of(1),
  Buffer.from('-ristretto255-SHA512'),
]);
const Point = ristretto255.Point;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const scalarOf = (le: Uint8Array) => BigInt(`0x${Buffer.from(le).reverse().toString('hex')}`) % L;
const i2osp2 = (n: number) => Buffer.of(n >> 8, n & 0xff);
/** RFC 9497 §4.1 HashToGroup, by hand. */
const hashToGroup = (input: Uint8Array) =>
  ristretto255_hasher.deriveToCurve!(
    expand_message_xmd(input, Buffer.concat([Buffer.from('HashToGroup-'), contextString]), 64, sha512),
  );
/** RFC 9497 §3.3.1 Finalize's hash. */
const finalizeHashOf = (input: Uint8Array, element: Uint8Array) =>
  Buffer.from(
    sha512(Buffer.concat([i2osp2(input.length), input, i2osp2(32), element, Buffer.from('Finalize')])),
  );

/** The spec's preset dictionary (docs/spec/private-lookup.md §5.4), copied from the text. */
const dictionary = Buffer.from(
  '"method":"email-otp","level":"csip","method":"csip-token","supersedes":"","tag":"Work","priority":1,{"m":[{"acceptedAt":1700000000,"attestation":{"expiresAt":1700000000,"issuedAt":1700000000,"issuer":"verifier1","level":"otp","method":"sms-otp","sig":"","v":1},"body":{"createdAt":1700000000,"expiresAt":1700000000,"holderKey":"","msp":"msp1","priority":0,"ssi":"mimi://.example/u/","supersedes":null,"tag":"Default","v":1},"dpSig":"","holderSig":"","logIndex":null,"mspSig":"","v":1}]}',
);

/** MDB1 parsed by hand. */
function parseMdb1(body: Buffer) {
  expect(body.subarray(0, 4).toString('latin1')).toBe('MDB1');
  const head = {
    epoch: body.readUInt32BE(4),
    bits: body.readUInt8(8),
    bucket: body.readUInt32BE(9),
    count: body.readUInt32BE(13),
  };
  const entries: { tag: Buffer; payload: Buffer }[] = [];
  let o = 17;
  for (let i = 0; i < head.count; i++) {
    const len = body.readUInt16BE(o + 16);
    entries.push({ tag: body.subarray(o, o + 16), payload: body.subarray(o + 18, o + 18 + len) });
    o += 18 + len;
  }
  expect(o).toBe(body.length);
  return { ...head, entries };
}

describe('mimi-discovery v1 vectors: private lookup', () => {
  const P = V.private;
  const input = enc.encode(P.csi);
  const out = unhex(P.out);

  it('out is RFC 9497 Evaluate of the canonical CSI under skS (ristretto255-SHA512, mode VOPRF)', () => {
    const skS = scalarOf(unhex(P.oprf.skS));
    expect(b64u(Point.BASE.multiply(skS).toBytes())).toBe(P.oprf.pkS);
    const element = hashToGroup(input).multiply(skS).toBytes();
    expect(finalizeHashOf(input, element).toString('hex')).toBe(P.out);
  });

  it('the evaluate round trip: blind, BlindEvaluate, Finalize give out', async () => {
    const r = scalarOf(unhex(P.evaluate.blind));
    const blinded = hashToGroup(input).multiply(r).toBytes();
    expect(P.evaluate.request).toEqual({ v: 1, epoch: 1, elements: [b64u(blinded)] });
    const evaluated = Point.fromBytes(blinded)
      .multiply(scalarOf(unhex(P.oprf.skS)))
      .toBytes();
    expect(P.evaluate.answer).toMatchObject({ v: 1, epoch: 1, evaluated: [b64u(evaluated)] });
    const unblinded = Point.fromBytes(evaluated).multiply(Point.Fn.inv(r)).toBytes();
    expect(finalizeHashOf(input, unblinded).toString('hex')).toBe(P.out);
    // The project: the libsodium server and the noble client agree.
    const server = await createOprfServer(unhex(P.oprf.skS));
    // RFC 9497 §2.2.1: the same proof scalar gives the same proof (c || s), and it verifies
    // against pkS before Finalize unblinds.
    const evaluation = server.blindEvaluate([blinded], () => unhex(P.evaluate.proofScalar));
    expect(b64u(evaluation.evaluated[0]!)).toBe(P.evaluate.answer.evaluated[0]);
    expect(b64u(evaluation.proof)).toBe(P.evaluate.answer.proof);
    expect(Buffer.from(server.evaluate(input)).toString('hex')).toBe(P.out);
    const b = { blind: unhex(P.evaluate.blind), blindedElement: blinded };
    const proof = unb64u(P.evaluate.answer.proof);
    const pkS = unb64u(P.oprf.pkS);
    expect(Buffer.from(finalize(input, b, evaluated, proof, pkS)).toString('hex')).toBe(P.out);
    // A proof for another key, or a changed one, is refused.
    const flipped = Uint8Array.from(proof);
    flipped[0]! ^= 1;
    let code: string | undefined;
    try {
      finalize(input, b, evaluated, flipped, pkS);
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    expect(code).toBe('oprf-proof-invalid');
  });

  it('bucket, tag and key come from out as the spec derives them', () => {
    const bucketKey = sha256('mimi-discovery/v1/bucket', out).readUInt32BE(0);
    expect(bucketKey).toBe(P.bucketKey);
    expect(bucketKey >>> (32 - P.bits)).toBe(P.bucket);
    expect(sha256('mimi-discovery/v1/tag', out).subarray(0, 16).toString('hex')).toBe(P.tag);
    const key = Buffer.from(hkdfSync('sha256', out, Buffer.alloc(0), 'mimi-discovery/v1/payload', 32));
    expect(key.toString('hex')).toBe(P.payloadKey);
  });

  it('the payload opens with AES-256-GCM (AAD = tag) to format 2, which rebuilds the mapping', () => {
    const payload = unhex(P.payload);
    const tag = unhex(P.tag);
    expect(payload.subarray(0, 12).toString('hex')).toBe(P.nonce);
    const d = createDecipheriv('aes-256-gcm', unhex(P.payloadKey), payload.subarray(0, 12));
    d.setAAD(tag);
    d.setAuthTag(payload.subarray(payload.length - 16));
    const plain = Buffer.concat([d.update(payload.subarray(12, payload.length - 16)), d.final()]);
    // Another AAD (the entry moved under another tag) does not open.
    const moved = createDecipheriv('aes-256-gcm', unhex(P.payloadKey), payload.subarray(0, 12));
    moved.setAAD(Buffer.alloc(16));
    moved.setAuthTag(payload.subarray(payload.length - 16));
    moved.update(payload.subarray(12, payload.length - 16));
    expect(() => moved.final()).toThrow();

    expect(plain[0]).toBe(0x02);
    const n = plain.readUInt16BE(1);
    expect(plain.length % 64).toBe(0);
    expect(plain.length).toBe(Math.ceil((n + 3) / 64) * 64);
    expect(plain.subarray(3 + n).every((b) => b === 0)).toBe(true);
    const json = JSON.parse(inflateRawSync(plain.subarray(3, 3 + n), { dictionary }).toString('utf8'));
    const [m] = json.m;
    expect(json.m).toHaveLength(1);
    // The members the client rebuilds were left out, and nothing else.
    const full: Mapping = V.mapping.record;
    expect(m.body.csi).toBeUndefined();
    expect(m.body.attestation).toBeUndefined();
    expect(m.attestation.csi).toBeUndefined();
    expect(m.attestation.holderKey).toBeUndefined();
    expect(m.dp).toBeUndefined();
    // Rebuild, in the spec's order.
    m.attestation.csi ??= P.csi;
    m.attestation.holderKey ??= m.body.holderKey;
    m.body.csi ??= P.csi;
    m.body.attestation ??= jcsDigest(m.attestation);
    m.dp ??= 'dp1';
    expect(canonicalize(m)).toBe(canonicalize(full));
    expect(jcsDigest(m)).toBe(V.mapping.id);
  });

  it("the portable provider (@noble/ciphers, fflate) opens the payload to the same answer, and node's opens what it seals", () => {
    const r = { csi: P.csi, dp: 'dp1' };
    const expected = openAnswer(out, unhex(P.tag), unhex(P.payload), r);
    const before = cryptoProvider();
    useCryptoProvider(wasmCrypto);
    let sealed: ReturnType<typeof sealAnswer>;
    try {
      expect(openAnswer(out, unhex(P.tag), unhex(P.payload), r)).toEqual(expected);
      sealed = sealAnswer(out, [canonicalize(V.mapping.record)], r, () => unhex(P.nonce));
    } finally {
      useCryptoProvider(before);
    }
    expect(Buffer.from(sealed.tag).toString('hex')).toBe(P.tag);
    expect(sealed.bucketKey).toBe(P.bucketKey);
    expect(openAnswer(out, sealed.tag, sealed.payload, r)).toEqual(expected);
  });

  it('the project seals the same payload under the same nonce, and opens it to the verified answer', () => {
    const sealed = sealAnswer(out, [canonicalize(V.mapping.record)], { csi: P.csi, dp: 'dp1' }, () =>
      unhex(P.nonce),
    );
    expect(Buffer.from(sealed.payload).toString('hex')).toBe(P.payload);
    expect(Buffer.from(sealed.tag).toString('hex')).toBe(P.tag);
    expect(sealed.bucketKey).toBe(P.bucketKey);
    const answer = openAnswer(out, unhex(P.tag), unhex(P.payload), { csi: P.csi, dp: 'dp1' });
    expect(answer).toEqual({
      v: 1,
      format: 'verbose',
      dp: 'dp1',
      results: [
        {
          query: P.csi,
          csi: P.csi,
          status: 'one',
          mappings: [{ id: V.mapping.id, dps: ['dp1'], mapping: V.mapping.record }],
        },
      ],
    });
  });

  it('MDB1: header, entries sorted by tag, the entry found by its tag', () => {
    const body = unhex(P.bucketBody);
    const b = parseMdb1(body);
    expect({ epoch: b.epoch, bits: b.bits, bucket: b.bucket, count: b.count }).toEqual({
      epoch: 1,
      bits: P.bits,
      bucket: P.bucket,
      count: 4,
    });
    const tags = b.entries.map((e) => e.tag.toString('hex'));
    expect([...tags].sort()).toEqual(tags);
    expect(b.entries.find((e) => e.tag.toString('hex') === P.tag)?.payload.toString('hex')).toBe(P.payload);
    // The project's decoder agrees, and refuses the bucket under another id.
    const expect0 = { epoch: 1, bits: P.bits, bucket: P.bucket };
    expect(decodeBucket(body, expect0).entries.map((e) => Buffer.from(e.tag).toString('hex'))).toEqual(tags);
    expect(Buffer.from(findInBucket(body, expect0, [unhex(P.tag)])[0]!).toString('hex')).toBe(P.payload);
    expect(() => decodeBucket(body, { ...expect0, bucket: P.bucket + 1 })).toThrow();
  });

  it('MDBN: count, then each bucket framed by a u32 length, in the order asked', () => {
    const body = unhex(P.batch.body);
    expect(body.subarray(0, 4).toString('latin1')).toBe('MDBN');
    expect(body.readUInt32BE(4)).toBe(P.batch.request.buckets.length);
    const parts: Buffer[] = [];
    let o = 8;
    while (o < body.length) {
      const len = body.readUInt32BE(o);
      parts.push(body.subarray(o + 4, o + 4 + len));
      o += 4 + len;
    }
    expect(o).toBe(body.length);
    expect(parts.map((p) => parseMdb1(p).bucket)).toEqual(P.batch.request.buckets);
    expect(parts[0]!.equals(unhex(P.bucketBody))).toBe(true);
    expect(parts[1]!.length).toBe(17);
    const split = splitBuckets(body, 2).map((p) => Buffer.from(p));
    expect(split.map((p) => p.toString('hex'))).toEqual(parts.map((p) => p.toString('hex')));
  });

  it('a dummy entry of random bytes does not open (sanity of the AEAD use)', () => {
    const key = unhex(P.payloadKey);
    const c = createCipheriv('aes-256-gcm', key, Buffer.alloc(12));
    c.setAAD(unhex(P.tag));
    const fake = Buffer.concat([Buffer.alloc(12), c.update(Buffer.alloc(64)), c.final(), c.getAuthTag()]);
    fake[20]! ^= 1;
    expect(() => openAnswer(out, unhex(P.tag), fake, { csi: P.csi, dp: 'dp1' })).toThrow();
  });
});

// ---- transparency log --------------------------------------------------------------------------

const node = (l: Buffer, r: Buffer) => sha256(Buffer.of(1), l, r);

describe('mimi-discovery v1 vectors: transparency log', () => {
  const G = V.log;

  it('leaves are JCS of {v, kind, time, commitment, pseudonym, epoch}; the pseudonym an HMAC, each leaf its own tag', () => {
    const pseudonym = createHmac('sha256', unhex(G.pseudonymKey))
      .update(`mimi-discovery/v1/log-pseudonym\n${V.private.csi}`)
      .digest();
    expect(b64u(pseudonym)).toBe(G.pseudonym);
    expect(b64u(new KeyedPseudonyms(unhex(G.pseudonymKey)).of(V.private.csi).pseudonym)).toBe(G.pseudonym);
    const records = [V.mapping.record, V.records.invalidation, V.records.rotation];
    const kinds = ['mapping', 'invalidation', 'key-rotation'];
    const tags = new Set<string>();
    G.leaves.forEach((text: string, i: number) => {
      const leaf = JSON.parse(text);
      expect(canonicalize(leaf)).toBe(text);
      expect(Object.keys(leaf).sort()).toEqual(['commitment', 'epoch', 'kind', 'pseudonym', 'time', 'v']);
      expect(leaf).toMatchObject({ v: 1, kind: kinds[i], epoch: 0 });
      expect(leaf.commitment).toBe(jcsDigest(records[i]));
      // docs/spec/transparency-log.md §6.2: HMAC keyed by the pseudonym over kind, time, epoch, commitment.
      const tag = createHmac('sha256', pseudonym)
        .update(`mimi-discovery/v1/log-tag\n${leaf.kind}\n${leaf.time}\n${leaf.epoch}\n${leaf.commitment}`)
        .digest();
      expect(leaf.pseudonym).toBe(b64u(tag));
      expect(leafIsAbout(leaf, G.pseudonym)).toBe(true);
      tags.add(leaf.pseudonym);
      expect(decodeLeaf(enc.encode(text))).toEqual(leaf);
    });
    expect(tags.size).toBe(G.leaves.length);
    expect(JSON.parse(G.leaves[0]).commitment).toBe(V.mapping.id);
  });

  it('RFC 9162 hashes: leaf, root of three, inclusion and consistency proofs', () => {
    const h = G.leaves.map((t: string) => sha256(Buffer.of(0), t));
    expect(h.map((x: Buffer) => x.toString('hex'))).toEqual(G.leafHashes);
    const root = node(node(h[0], h[1]), h[2]);
    expect(root.toString('hex')).toBe(G.root);
    // Leaf 0 of 3: its sibling h1, then h2.
    expect(G.inclusion.proof).toEqual([b64u(h[1]), b64u(h[2])]);
    expect(() => verifyInclusion(h[0], 0, 3, G.inclusion.proof.map(unb64u), root)).not.toThrow();
    // From 2 to 3: MTH of the first two is the old root, and h2 completes the new one.
    expect(G.consistency.proof).toEqual([b64u(h[2])]);
    expect(() =>
      verifyConsistency(2, 3, node(h[0], h[1]), root, G.consistency.proof.map(unb64u)),
    ).not.toThrow();
  });

  it('the checkpoint is a C2SP signed note by the DP key under the origin', () => {
    const text = `${G.origin}\n3\n${unhex(G.root).toString('base64')}\n`;
    expect(G.origin).toBe(`mimi-discovery/${G.federation}/dp1`);
    expect(G.checkpoint.startsWith(`${text}\n— ${G.origin} `)).toBe(true);
    const blob = Buffer.from(
      G.checkpoint
        .slice(text.length + 1)
        .split(' ')[2]!
        .trim(),
      'base64',
    );
    const keyId = sha256(G.origin, Buffer.of(0x0a, 0x01), unb64u(pub('dp1-log'))).subarray(0, 4);
    expect(blob.subarray(0, 4).equals(keyId)).toBe(true);
    expect(ed25519.verify(blob.subarray(4), enc.encode(text), unb64u(pub('dp1-log')))).toBe(true);
    const opened = openCheckpoint(
      G.checkpoint,
      [{ name: G.origin, publicKey: importPublicKey(pub('dp1-log')) }],
      {
        origin: G.origin,
      },
    );
    expect(Buffer.from(opened.checkpoint.rootHash).toString('hex')).toBe(G.root);
  });

  it('the cosignature signs "cosignature/v1\\ntime <t>\\n" || checkpoint text, type 0x04', () => {
    const text = G.checkpoint.slice(0, G.checkpoint.indexOf('\n\n') + 1);
    const line = G.cosigned.trimEnd().split('\n').at(-1)!;
    expect(line.startsWith(`— ${G.cosignature.name} `)).toBe(true);
    expect(G.cosignature.name).toBe(`mimi-discovery/${G.federation}/witness/dp2`);
    const blob = Buffer.from(line.split(' ')[2]!, 'base64');
    const keyId = sha256(G.cosignature.name, Buffer.of(0x0a, 0x04), unb64u(pub('dp2-log'))).subarray(0, 4);
    expect(blob.subarray(0, 4).equals(keyId)).toBe(true);
    expect(Number(blob.readBigUInt64BE(4))).toBe(G.cosignature.timestamp);
    const message = enc.encode(`cosignature/v1\ntime ${G.cosignature.timestamp}\n${text}`);
    expect(ed25519.verify(blob.subarray(12), message, unb64u(pub('dp2-log')))).toBe(true);
    expect(
      verifyCosignatures(G.cosigned, [
        { name: G.cosignature.name, publicKey: importPublicKey(pub('dp2-log')) },
      ]),
    ).toEqual([{ name: G.cosignature.name, timestamp: G.cosignature.timestamp }]);
  });

  it('the log member proves the mapping against the registry, cosigned by the witness', () => {
    const registry = Registry.open(V.registry, pub('registry'), { now: V.now });
    expect(G.logMember.leaf).toBe(b64u(enc.encode(G.leaves[0])));
    expect(() =>
      verifyMappingLogged(
        { mapping: V.mapping.record, id: V.mapping.id, log: G.logMember },
        {
          registry,
          policy: { minCosignatures: 1 },
        },
      ),
    ).not.toThrow();
  });
});

// ---- peer request ------------------------------------------------------------------------------

describe('mimi-discovery v1 vectors: RFC 9421 peer request', () => {
  const R = V.peerRequest;

  it('the signature base is written out by the profile, and the signature verifies over it', () => {
    const digestHeader = `sha-256=:${sha256(R.body).toString('base64')}:`;
    expect(R.headers['content-digest']).toBe(digestHeader);
    const params = `("@method" "@target-uri" "content-type" "content-digest");created=${R.created};expires=${R.created + 60};keyid="dp1";alg="ed25519";nonce="${R.nonce}"`;
    expect(R.headers['Signature-Input']).toBe(`mimi=${params}`);
    const base = [
      `"@method": POST`,
      `"@target-uri": ${R.url}`,
      `"content-type": application/json`,
      `"content-digest": ${digestHeader}`,
      `"@signature-params": ${params}`,
    ].join('\n');
    expect(R.signatureBase).toBe(base);
    const sig = Buffer.from(R.headers.Signature.slice('mimi=:'.length, -1), 'base64');
    expect(ed25519.verify(sig, enc.encode(base), unb64u(pub('dp1-transport')))).toBe(true);
  });

  it('the project signs the same bytes and accepts them at the target', async () => {
    const signed = await signPeerRequest(
      { method: 'POST', url: R.url, body: R.body },
      { id: 'dp1', key: privateKey('dp1-transport') },
      { created: new Date(R.created * 1000), nonce: R.nonce },
    );
    expect(signed.headers).toEqual(R.headers);
    const registry = Registry.open(V.registry, pub('registry'), { now: V.now });
    // The signature's age is judged against the wall clock: put it ten seconds after `created`.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime((R.created + 10) * 1000);
      const ok = await verifyPeerRequest(
        { method: 'POST', url: R.url, headers: R.headers, rawBody: R.body },
        registry,
        new Date((R.created + 10) * 1000),
      );
      // Kept as used until expires + 30 s of skew + 1.
      expect(ok).toEqual({ dp: 'dp1', nonce: R.nonce, keepUntil: R.created + 60 + 31 });
    } finally {
      vi.useRealTimers();
    }
  });
});

// ---- acceptance receipt ------------------------------------------------------------------------

describe('mimi-discovery v1 vectors: the acceptance receipt (R28)', () => {
  const R = V.receipt;

  it('is a libsodium sealed box of SHA-256(info) || pseudonym to the holder key, and opens with libsodium', async () => {
    await sodium.ready;
    const r = R.record;
    expect(Object.keys(r).sort()).toEqual(['dp', 'holderKey', 'mapping', 'sealed', 'sig', 'v']);
    expect(r).toMatchObject({ v: 1, dp: 'dp1', mapping: V.mapping.id, holderKey: pub('holder') });
    expect(R.info).toBe(`mimi-discovery/v1/log-receipt\n${V.mapping.id}`);
    expect(R.pseudonym).toBe(V.log.pseudonym);
    expect(R.plaintext).toBe(Buffer.concat([sha256(R.info), unb64u(R.pseudonym)]).toString('hex'));
    // The DP signs it like any record: purpose log-receipt over the receipt without sig.
    const { sig, ...unsigned } = r;
    const input = enc.encode(`mimi-discovery/v1/log-receipt\n${canonicalize(unsigned)}`);
    expect(ed25519.verify(unb64u(sig), input, unb64u(pub('dp1-records')))).toBe(true);
    // The holder's X25519 keys are libsodium's conversions of its Ed25519 keys.
    const seed = unhex(V.keys.holder.seed);
    const xPk = sodium.crypto_sign_ed25519_pk_to_curve25519(unb64u(pub('holder')));
    const xSk = sodium.crypto_sign_ed25519_sk_to_curve25519(Buffer.concat([seed, unb64u(pub('holder'))]));
    expect(b64u(xPk)).toBe(R.holderX25519);
    const box = unb64u(r.sealed);
    expect(box.length).toBe(112);
    // Layout: epk || Poly1305 tag || ciphertext, nonce BLAKE2b-192(epk || pk).
    const eph = sodium.crypto_box_seed_keypair(unhex(R.ephemeralSeed));
    expect(box.subarray(0, 32).equals(Buffer.from(eph.publicKey))).toBe(true);
    expect(
      Buffer.from(sodium.crypto_generichash(24, Buffer.concat([eph.publicKey, xPk]), null)).toString('hex'),
    ).toBe(R.nonce);
    expect(Buffer.from(sodium.crypto_box_seal_open(box, xPk, xSk)).toString('hex')).toBe(R.plaintext);
  });

  it('the SDK opens it to the CSI pseudonym, and refuses it for another mapping', () => {
    const registry = Registry.open(V.registry, pub('registry'), { now: V.now });
    const holder = new HolderClient({
      dp: { baseUrl: 'https://dp1.example' },
      key: { privateKey: privateKey('holder'), publicKey: pub('holder') },
    });
    expect(holder.openReceipt(V.receipt.record, { mappingId: V.mapping.id, registry: registry })).toBe(
      V.log.pseudonym,
    );
    expect(openWithEd25519(privateKey('holder'), V.receipt.record.sealed, V.receipt.info)).toEqual(
      Uint8Array.from(unb64u(V.log.pseudonym)),
    );
    expect(
      openWithEd25519(privateKey('holder'), V.receipt.record.sealed, 'mimi-discovery/v1/log-receipt\nx'),
    ).toBe(undefined);
  });
});
