/**
 * Writes test/vectors/mimi-discovery-v1.json: wire vectors of the version 1 protocol
 * (docs/spec/appendix-vectors.md), made by the project's own code from fixed keys and times.
 *
 * Run by hand after a deliberate wire change, then review the diff:
 *
 *   npx tsx test/vectors/generate.ts && npx biome format --write test/vectors/mimi-discovery-v1.json
 *
 * test/vectors/mimi-vectors.test.ts rebuilds every vector from the spec's rules with independent
 * primitives and checks that the project's functions still agree with the file.
 */
import { createHash, createPublicKey, hkdfSync, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sodium from 'libsodium-wrappers-sumo';
import { canonicalize } from '../../src/crypto/jcs.js';
import type { SigningKey } from '../../src/crypto/keys.js';
import { blind } from '../../src/crypto/oprf-client.js';
import { createOprfServer, deriveKeyPair, ready } from '../../src/crypto/oprf-server.js';
import { bucketKeyOf, bucketOf, sealAnswer, tagOf } from '../../src/crypto/private-entry.js';
import { digest, SignPurpose, signCanonical, signingInput, signObject } from '../../src/crypto/sign.js';
import { KeyedPseudonyms } from '../../src/dp/log-pseudonym.js';
import { canonicalMappingJson } from '../../src/dp/provider.js';
import { signPeerRequest } from '../../src/federation/http-signature.js';
import { logReceiptInfo } from '../../src/protocol/answers.js';
import { toB64u } from '../../src/protocol/encoding.js';
import { encodeBucket, encodeBuckets } from '../../src/protocol/private.js';
import type {
  CsipEvent,
  HolderRead,
  Invalidation,
  KeyRotation,
  Mapping,
  MappingBody,
  PseudonymRequest,
  Reaffirmation,
  SessionRequest,
} from '../../src/protocol/records.js';
import { logOrigin, witnessName } from '../../src/protocol/transparency.js';
import { signRegistry, type UnsignedRegistry } from '../../src/registry/document.js';
import { countersign, countersignedPart, mappingId } from '../../src/registry/verify-mapping.js';
import { ed25519PrivateKeyFromSeed, signCheckpoint } from '../../src/tlog/checkpoint.js';
import { cosignNote } from '../../src/tlog/cosignature.js';
import { encodeLeaf, type LogLeaf, leafTag } from '../../src/tlog/leaf.js';
import {
  arraySubtreeHasher,
  consistencyProof,
  inclusionProof,
  leafHash,
  rootFromLeafHashes,
} from '../../src/tlog/merkle.js';
import { signAttestation } from '../../src/verifier/attestation.js';

/** Seeds are SHA-256 of a label: anyone can re-derive every key of the file. */
export const seedLabel = (label: string) => `mimi-discovery/v1/test-vector/${label}`;
const seedOf = (label: string) => createHash('sha256').update(seedLabel(label)).digest();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// A DP has one key per registry usage (docs/spec/registry.md §8.1.1): dpN-records, -transport, -log.
const labels = [
  'registry',
  'verifier1',
  'csip1',
  'msp1',
  'dp1-records',
  'dp1-transport',
  'dp1-log',
  'dp2-records',
  'dp2-transport',
  'dp2-log',
  'holder',
  'holder-new',
] as const;
type Label = (typeof labels)[number];
const keys = Object.fromEntries(
  labels.map((l) => {
    const privateKey = ed25519PrivateKeyFromSeed(seedOf(l));
    return [l, { privateKey, publicKey: privateKey.publicKey }];
  }),
) as Record<Label, { privateKey: SigningKey; publicKey: string }>;

const T = 1_767_225_600; // 2026-01-01T00:00:00Z
const day = 86_400;
const federation = 'vectors';
const csi = 'tel:+14155550101';

function signed(purpose: string, signer: Label | Label[], unsigned: unknown, signatures: string[]) {
  return {
    purpose,
    signer,
    unsigned,
    signingInput: Buffer.from(signingInput(purpose as never, unsigned)).toString('utf8'),
    signatures,
  };
}

async function main(): Promise<void> {
  await ready();
  // ---- registry --------------------------------------------------------------------------------
  const unsignedRegistry: UnsignedRegistry = {
    v: 2,
    federation,
    serial: 1,
    issuedAt: T,
    expiresAt: T + 3650 * day,
    policy: { federationDefault: false, maxMappingLifetime: 365 * day },
    dps: (['dp1', 'dp2'] as const).map((id) => ({
      id,
      endpoint: `https://${id}.example`,
      keys: {
        records: [keys[`${id}-records`].publicKey],
        transport: [keys[`${id}-transport`].publicKey],
        log: [keys[`${id}-log`].publicKey],
      },
      region: 'us',
      operator: `${id} operator`,
      throughputClass: 'standard' as const,
    })),
    msps: [
      {
        id: 'msp1',
        domain: 'msp1.example',
        keys: [keys.msp1.publicKey],
        bit: 0,
        operator: 'msp1 operator',
      },
    ],
    verifiers: [
      {
        id: 'verifier1',
        keys: [keys.verifier1.publicKey],
        methods: ['sms-otp', 'email-otp'],
        operator: 'verifier1 operator',
      },
    ],
    csips: [{ id: 'csip1', keys: [keys.csip1.publicKey], operator: 'csip1 operator', scope: ['tel:+1'] }],
  };
  const registry = signRegistry(unsignedRegistry, keys.registry.privateKey);

  // ---- attestation, body, mapping --------------------------------------------------------------
  const attestation = signAttestation(
    {
      csi,
      holderKey: keys.holder.publicKey,
      method: 'sms-otp',
      issuer: 'verifier1',
      issuedAt: T,
      lifetimeSeconds: 365 * day,
    },
    keys.verifier1.privateKey,
  );
  const { sig: _a, ...unsignedAttestation } = attestation;
  const body: MappingBody = {
    v: 2,
    csi,
    msp: 'msp1',
    ssi: 'mimi://msp1.example/u/alice',
    tag: 'Default',
    priority: 0,
    holderKey: keys.holder.publicKey,
    attestation: digest(attestation),
    createdAt: T + 30,
    expiresAt: T + 180 * day,
    supersedes: null,
  };
  const holderSig = signObject(SignPurpose.MappingHolder, body, keys.holder.privateKey);
  // Body v2: the MSP countersigns the body's digest and the holder's signature.
  const countersigned = countersignedPart(canonicalize(body), holderSig);
  const mspSig = countersign({ body, holderSig }, keys.msp1.privateKey);
  // Body v1 (still verified where it was accepted before): the MSP signed the body alone.
  const bodyV1: MappingBody = { ...body, v: 1 };
  const mspSigV1 = signObject(SignPurpose.MappingMsp, bodyV1, keys.msp1.privateKey);
  // The DP signs as DiscoveryProvider.accept does: over the mapping's JCS spliced from its parts.
  const parts = {
    body: canonicalize(body),
    attestation: canonicalize(attestation),
    holderSig,
    mspSig,
    dp: 'dp1',
    now: T + 60,
    logIndex: 0,
  };
  const dpSig = signCanonical(
    SignPurpose.MappingDp,
    canonicalMappingJson(parts, undefined),
    keys['dp1-records'].privateKey,
  );
  const mapping: Mapping = {
    v: 1,
    body,
    attestation,
    holderSig,
    mspSig,
    dp: 'dp1',
    acceptedAt: T + 60,
    logIndex: 0,
    dpSig,
  };
  if (canonicalMappingJson(parts, dpSig) !== canonicalize(mapping)) throw new Error('splice differs');
  const { dpSig: _d, ...unsignedMapping } = mapping;
  const id = mappingId(mapping);

  // ---- holder requests, session, CSIP event ----------------------------------------------------
  const invUnsigned = { v: 1 as const, csi, holderKey: keys.holder.publicKey, target: id, issuedAt: T + 120 };
  const invalidation: Invalidation = {
    ...invUnsigned,
    sig: signObject(SignPurpose.Invalidation, invUnsigned, keys.holder.privateKey),
  };
  const rotUnsigned = {
    v: 1 as const,
    csi,
    oldKey: keys.holder.publicKey,
    newKey: keys['holder-new'].publicKey,
    issuedAt: T + 180,
  };
  const rotation: KeyRotation = {
    ...rotUnsigned,
    oldSig: signObject(SignPurpose.KeyRotation, rotUnsigned, keys.holder.privateKey),
    newSig: signObject(SignPurpose.KeyRotation, rotUnsigned, keys['holder-new'].privateKey),
  };
  const reUnsigned = { v: 1 as const, csi, holderKey: keys.holder.publicKey, attestation, issuedAt: T + 200 };
  const reaffirmation: Reaffirmation = {
    ...reUnsigned,
    sig: signObject(SignPurpose.Reaffirmation, reUnsigned, keys.holder.privateKey),
  };
  const sessUnsigned = {
    v: 1 as const,
    participant: 'msp1',
    role: 'msp' as const,
    audience: 'dp1',
    issuedAt: T,
    nonce: 'c2Vzc2lvbi1ub25jZS0wMQ',
  };
  const session: SessionRequest = {
    ...sessUnsigned,
    sig: signObject(SignPurpose.Session, sessUnsigned, keys.msp1.privateKey),
  };
  const evUnsigned = { v: 1 as const, csi, kind: 'reassigned' as const, at: T + 300, issuer: 'csip1' };
  const csipEvent: CsipEvent = {
    ...evUnsigned,
    sig: signObject(SignPurpose.CsipEvent, evUnsigned, keys.csip1.privateKey),
  };
  const readUnsigned = {
    v: 1 as const,
    csi,
    holderKey: keys.holder.publicKey,
    mapping: id,
    issuedAt: T + 90,
    nonce: 'aG9sZGVyLXJlYWQtMDAwMQ',
  };
  const holderRead: HolderRead = {
    ...readUnsigned,
    sig: signObject(SignPurpose.HolderRead, readUnsigned, keys.holder.privateKey),
  };
  const pseudonymUnsigned = {
    v: 1 as const,
    csi,
    holderKey: keys.holder.publicKey,
    attestation,
    issuedAt: T + 95,
    nonce: 'cHNldWRvbnltLXJlcS0wMQ',
  };
  const pseudonymRequest: PseudonymRequest = {
    ...pseudonymUnsigned,
    sig: signObject(SignPurpose.LogPseudonym, pseudonymUnsigned, keys.holder.privateKey),
  };

  // ---- the acceptance receipt (R28) -----------------------------------------------------------
  // A sealed box is randomised; the vector fixes its ephemeral key (seed label `receipt-ephemeral`)
  // and builds crypto_box_seal's output as libsodium does: epk || crypto_box_easy(m, nonce =
  // BLAKE2b-192(epk || pk), pk, esk). The test checks that libsodium opens it.
  await sodium.ready;
  const pseudonymKey = createHash('sha256').update(seedLabel('log-pseudonym')).digest();
  const pseudonymBytes = new KeyedPseudonyms(pseudonymKey).of(csi).pseudonym;
  const holderX = sodium.crypto_sign_ed25519_pk_to_curve25519(
    Buffer.from(keys.holder.publicKey, 'base64url'),
  );
  const eph = sodium.crypto_box_seed_keypair(seedOf('receipt-ephemeral'));
  const receiptInfo = logReceiptInfo(id);
  const receiptPlain = Buffer.concat([createHash('sha256').update(receiptInfo).digest(), pseudonymBytes]);
  const boxNonce = sodium.crypto_generichash(24, Buffer.concat([eph.publicKey, holderX]), null);
  const sealedBox = Buffer.concat([
    eph.publicKey,
    sodium.crypto_box_easy(receiptPlain, boxNonce, holderX, eph.privateKey),
  ]);
  const receiptUnsigned = {
    v: 1 as const,
    dp: 'dp1',
    mapping: id,
    holderKey: keys.holder.publicKey,
    sealed: toB64u(sealedBox),
  };
  const receipt = {
    ...receiptUnsigned,
    sig: signObject(SignPurpose.LogReceipt, receiptUnsigned, keys['dp1-records'].privateKey),
  };
  const { sig: _r, ...unsignedReg } = registry;

  const signatures = [
    signed('attestation', 'verifier1', unsignedAttestation, [attestation.sig]),
    signed('mapping-holder', 'holder', body, [holderSig]),
    signed('mapping-countersign', 'msp1', countersigned, [mspSig]),
    signed('mapping-msp', 'msp1', bodyV1, [mspSigV1]),
    signed('mapping-dp', 'dp1-records', unsignedMapping, [dpSig]),
    signed('invalidation', 'holder', invUnsigned, [invalidation.sig]),
    signed('key-rotation', ['holder', 'holder-new'], rotUnsigned, [rotation.oldSig, rotation.newSig]),
    signed('reaffirmation', 'holder', reUnsigned, [reaffirmation.sig]),
    signed('holder-read', 'holder', readUnsigned, [holderRead.sig]),
    signed('log-pseudonym', 'holder', pseudonymUnsigned, [pseudonymRequest.sig]),
    signed('log-receipt', 'dp1-records', receiptUnsigned, [receipt.sig]),
    signed('session', 'msp1', sessUnsigned, [session.sig]),
    signed('csip-event', 'csip1', evUnsigned, [csipEvent.sig]),
    signed('registry', 'registry', unsignedReg, [registry.sig]),
  ];

  // ---- private lookup --------------------------------------------------------------------------
  const oprfSeed = seedOf('oprf');
  const oprfInfo = 'epoch 1';
  const { secretKey: skS, publicKey: pkS } = deriveKeyPair(oprfSeed, new TextEncoder().encode(oprfInfo));
  const server = await createOprfServer(skS);
  const input = new TextEncoder().encode(csi);
  const out = server.evaluate(input);
  // The blind: the first draw of SHA-256(label || counter) that is a valid scalar.
  let draw = 0;
  const blinded = blind(input, () =>
    Uint8Array.from(
      createHash('sha256')
        .update(`${seedLabel('blind')}/${draw++}`)
        .digest(),
    ),
  );
  // RFC 9497 §2.2.1: the proof's random scalar, fixed so that the proof reproduces.
  // Its top bits cleared, it is below the group order, so randomScalar takes it as it is.
  const proofScalar = Uint8Array.from(createHash('sha256').update(seedLabel('proof')).digest());
  proofScalar[31]! &= 0x0f;
  const evaluation = server.blindEvaluate([blinded.blindedElement], () => Uint8Array.from(proofScalar));
  const evaluated = evaluation.evaluated[0]!;
  const bits = 4;
  const bucketKey = bucketKeyOf(out);
  const bucket = bucketOf(bucketKey, bits);
  const tag = tagOf(out);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => i);
  const sealed = sealAnswer(out, [canonicalize(mapping)], { csi, dp: 'dp1' }, () => nonce);
  // Fixed stand-ins for other entries of the bucket (real or dummy look alike).
  const others = [1, 2, 3].map((i) => {
    const h = createHash('sha512')
      .update(seedLabel(`entry-${i}`))
      .digest();
    return { tag: new Uint8Array(h.subarray(0, 16)), payload: new Uint8Array(h.subarray(16, 16 + 40 + i)) };
  });
  const bucketBody = encodeBucket({ epoch: 1, bits, bucket, entries: [...others, sealed] });
  const otherBucket = (bucket + 1) % 2 ** bits;
  const emptyBody = encodeBucket({ epoch: 1, bits, bucket: otherBucket, entries: [] });
  const batchBody = encodeBuckets([bucketBody, emptyBody]);

  // ---- transparency log ------------------------------------------------------------------------
  const pseudonym = toB64u(pseudonymBytes);
  const leafOf = (kind: LogLeaf['kind'], time: number, record: unknown): LogLeaf => {
    const fields = {
      kind,
      time,
      commitment: createHash('sha256').update(canonicalize(record)).digest('base64url'),
      epoch: 0,
    };
    return { v: 1, ...fields, pseudonym: toB64u(leafTag(pseudonymBytes, fields)) };
  };
  const leaves = [
    leafOf('mapping', T + 60, mapping),
    leafOf('invalidation', T + 120, invalidation),
    leafOf('key-rotation', T + 180, rotation),
  ];
  const leafBytes = leaves.map(encodeLeaf);
  const hashes = leafBytes.map(leafHash);
  const tree = { size: hashes.length, subtreeHash: arraySubtreeHasher(hashes) };
  const root = rootFromLeafHashes(hashes);
  const origin = logOrigin(federation, 'dp1');
  const checkpoint = signCheckpoint(
    { origin, size: hashes.length, rootHash: root },
    { name: origin, privateKey: keys['dp1-log'].privateKey },
  );
  const cosigned = cosignNote(
    checkpoint,
    { name: witnessName(federation, 'dp2'), privateKey: keys['dp2-log'].privateKey },
    T + 400,
  );
  const proof = inclusionProof(0, tree).map(toB64u);
  const logMember = { checkpoint: cosigned, leaf: toB64u(leafBytes[0]!), proof };

  // ---- peer request ----------------------------------------------------------------------------
  const peerBody = JSON.stringify({ v: 1, origin: 'dp1', csis: [csi], budget: { hops: 0 } });
  const peer = await signPeerRequest(
    { method: 'POST', url: 'https://dp2.example/v1/federation/lookup', body: peerBody },
    { id: 'dp1', key: keys['dp1-transport'].privateKey },
    { created: new Date(T * 1000), nonce: 'cGVlci1ub25jZS0wMDAwMQ' },
  );

  // The RFC 9421 §2.5 signature base, written out by the profile's rules (docs/spec/federation.md).
  const params = peer.headers['Signature-Input']!.slice('mimi='.length);
  const signatureBase = [
    `"@method": ${peer.method}`,
    `"@target-uri": ${peer.url}`,
    `"content-type": ${peer.headers['content-type']}`,
    `"content-digest": ${peer.headers['content-digest']}`,
    `"@signature-params": ${params}`,
  ].join('\n');
  const peerSig = Buffer.from(peer.headers.Signature!.slice('mimi=:'.length, -1), 'base64');
  if (
    !verify(
      null,
      Buffer.from(signatureBase),
      createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: keys['dp1-transport'].publicKey },
        format: 'jwk',
      }),
      peerSig,
    )
  ) {
    throw new Error('the written-out signature base is not what was signed');
  }

  const file = {
    description:
      'mimi-discovery v1 wire vectors (docs/spec/appendix-vectors.md); written by test/vectors/generate.ts, checked by test/vectors/mimi-vectors.test.ts',
    seeds: 'Ed25519 seed of <label> = SHA-256(UTF-8("mimi-discovery/v1/test-vector/" + label))',
    now: T + 1000,
    keys: Object.fromEntries(labels.map((l) => [l, { seed: hex(seedOf(l)), publicKey: keys[l].publicKey }])),
    registry,
    signatures,
    attestation: { record: attestation, digest: digest(attestation) },
    mapping: { record: mapping, id },
    records: { invalidation, rotation, reaffirmation, session, csipEvent, holderRead, pseudonymRequest },
    receipt: {
      record: receipt,
      info: receiptInfo,
      holderX25519: toB64u(holderX),
      ephemeralSeed: hex(seedOf('receipt-ephemeral')),
      nonce: hex(boxNonce),
      plaintext: hex(receiptPlain),
      pseudonym,
    },
    private: {
      oprf: {
        suite: 'ristretto255-SHA512',
        mode: 'voprf',
        seed: hex(oprfSeed),
        info: oprfInfo,
        skS: hex(skS),
        pkS: toB64u(pkS),
      },
      csi,
      out: hex(out),
      bits,
      bucketKey,
      bucket,
      tag: hex(tag),
      payloadKey: hex(
        Buffer.from(hkdfSync('sha256', out, new Uint8Array(0), 'mimi-discovery/v1/payload', 32)),
      ),
      nonce: hex(nonce),
      payload: hex(sealed.payload),
      evaluate: {
        blind: hex(blinded.blind),
        request: { v: 1, epoch: 1, elements: [toB64u(blinded.blindedElement)] },
        proofScalar: hex(proofScalar),
        answer: { v: 1, epoch: 1, evaluated: [toB64u(evaluated)], proof: toB64u(evaluation.proof) },
      },
      bucketBody: hex(bucketBody),
      batch: { request: { v: 1, epoch: 1, buckets: [bucket, otherBucket] }, body: hex(batchBody) },
    },
    log: {
      federation,
      origin,
      pseudonymKey: hex(pseudonymKey),
      pseudonym,
      leaves: leafBytes.map((b) => Buffer.from(b).toString('utf8')),
      leafHashes: hashes.map(hex),
      root: hex(root),
      inclusion: { index: 0, size: hashes.length, proof },
      consistency: { from: 2, to: 3, proof: consistencyProof(2, tree).map(toB64u) },
      checkpoint,
      cosigned,
      cosignature: { witness: 'dp2', name: witnessName(federation, 'dp2'), timestamp: T + 400 },
      logMember,
    },
    peerRequest: {
      method: peer.method,
      url: peer.url,
      body: peer.body,
      headers: peer.headers,
      created: T,
      nonce: 'cGVlci1ub25jZS0wMDAwMQ',
      signatureBase,
    },
  };
  const path = join(import.meta.dirname, 'mimi-discovery-v1.json');
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  console.log(`wrote ${path}`);
}

await main();
