import { createHash, randomBytes } from 'node:crypto';
import { call } from '../../client/http.js';
import { openDpCheckpoint } from '../../client/log-verify.js';
import { importPublicKey } from '../../crypto/keys.js';
import { SignPurpose, signingInput, signObject, verifyInput } from '../../crypto/sign.js';
import { MappingAnswer, SessionAnswer, VerboseAnswer } from '../../protocol/answers.js';
import { fromB64u, nowSeconds, toB64u } from '../../protocol/encoding.js';
import { ConsistencyAnswer, logOrigin } from '../../protocol/transparency.js';
import { dpKeyUsages, Registry } from '../../registry/document.js';
import { unsignedMapping, verifyAttestation } from '../../registry/verify-mapping.js';
import { openCheckpoint } from '../../tlog/checkpoint.js';
import { verifyConsistency } from '../../tlog/merkle.js';
import {
  type Check,
  codeFor,
  expect,
  Fail,
  getText,
  latestCheckpoint,
  lineCount,
  lookupOwn,
  Metadata,
  need,
  otherCsi,
  refused,
  Skip,
  sessionRequest,
  signed,
} from './kit.js';

/** The DP's metadata and registry, a session, possession, a published mapping, lookups and the log. */
export const publishChecks: readonly Check[] = [
  {
    name: 'metadata is served and agrees with the registry',
    async run(s) {
      const m = await call(s.dp, 'GET', '/.well-known/mimi-discovery', Metadata);
      // Later checks read its modes; what it says is held against the registry here.
      s.metadata = m;
      const entry = s.registry.dp(m.id);
      expect(entry !== undefined, `the metadata names ${m.id}, which is not a DP of the registry`);
      expect(m.id === s.dp.id, `the metadata names ${m.id}, the kit talks to ${s.dp.id}`);
      expect(m.federation === s.registry.doc.federation, `federation ${m.federation} is not the registry's`);
      const listed = dpKeyUsages.flatMap((u) => entry.keys[u]);
      expect(
        m.keys.length > 0 && m.keys.every((k) => listed.includes(k)),
        `keys ${m.keys.join(', ')} are not the registry's keys of ${m.id}`,
      );
      for (const usage of dpKeyUsages) {
        expect(
          entry.keys[usage].includes(m.keysByUsage[usage]),
          `its ${usage} key ${m.keysByUsage[usage]} is not among the registry's ${usage} keys of ${m.id}`,
        );
      }
      expect(
        m.registrySerial === s.registry.serial,
        `registry serial ${m.registrySerial}, the file has ${s.registry.serial}`,
      );
      s.metadata = m;
    },
  },
  {
    name: 'GET /v1/registry verifies under the registry key and is the file',
    async run(s) {
      const r = await getText(s.dp, '/v1/registry');
      expect(r.status === 200, `HTTP ${r.status}`);
      Registry.open(JSON.parse(r.text), s.registryKey, { now: nowSeconds() });
      expect(Buffer.from(r.text).equals(s.registryBytes), 'the bytes served differ from the file');
      const etag = `"${createHash('sha256').update(r.text).digest('base64url')}"`;
      expect(r.etag === etag, `ETag ${r.etag}, expected ${etag}`);
    },
  },
  {
    name: 'session opened; its replay refused',
    async run(s) {
      const req = sessionRequest(s);
      const a = await call(s.dp, 'POST', '/v1/session', SessionAnswer, req);
      expect(a.participant === s.msp.id && a.role === 'msp', 'the session is for someone else');
      expect(a.expiresAt > nowSeconds(), 'the session has expired already');
      s.token = a.token;
      // The same request again must be refused.
      await refused('replayed', () => call(s.dp, 'POST', '/v1/session', SessionAnswer, req));
    },
  },
  {
    name: 'session for another audience refused',
    async run(s) {
      const unsigned = { ...sessionRequest(s), audience: `${s.dp.id}x` };
      const { sig: _, ...body } = unsigned;
      const req = { ...body, sig: signObject(SignPurpose.Session, body, s.msp.key.privateKey) };
      await refused('unauthenticated', () => call(s.dp, 'POST', '/v1/session', SessionAnswer, req));
    },
  },
  {
    name: 'challenge answered from the OTP file; a wrong code refused',
    async run(s) {
      const verifier = s.verifier ?? s.holder;
      expect(
        s.verifier !== undefined || s.metadata?.verifier != null,
        'the DP runs no verifier (give --verifier)',
      );
      const before = lineCount(s.otpFile);
      const { challengeId } = await verifier.startChallenge(s.csi);
      const code = await codeFor(s.otpFile, s.csi, before);
      const wrong = String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');
      await refused('code-invalid', () => verifier.answerChallenge(challengeId, wrong));
      const attestation = await verifier.answerChallenge(challengeId, code);
      verifyAttestation(attestation, { registry: s.registry, policy: {}, now: nowSeconds() });
      expect(attestation.csi === s.csi, `the attestation is for ${attestation.csi}`);
      s.attestation = attestation;
      await refused('challenge-not-found', () => verifier.answerChallenge(challengeId, code));
    },
  },
  {
    name: 'mapping published and countersigned',
    async run(s) {
      if (s.metadata?.transparency != null) s.firstCheckpoint = await latestCheckpoint(s);
      // submit() checks that the DP signed exactly the body we sent (R3).
      const answer = await s.agent.submit(await s.agent.confirm(signed(s, 'Default')));
      expect(answer.state === 'active', `state ${answer.state}`);
      expect(answer.mapping.dp === s.dp.id, `accepted by ${answer.mapping.dp}`);
      s.mappingId = answer.id;
      s.mapping = answer.mapping;
    },
  },
  {
    name: 'each DP signature is made with the registry key of its usage',
    async run(s) {
      const m = need(s.metadata, 'the metadata');
      const mapping = need(s.mapping, 'the mapping');
      const separate = s.registry.doc.v !== 1;
      // The DP signature of a mapping: its records key, and (keys per usage) no other of its keys.
      const input = signingInput(SignPurpose.MappingDp, unsignedMapping(mapping));
      const signs = (k: string) => verifyInput(input, mapping.dpSig ?? '', k);
      expect(signs(m.keysByUsage.records), 'the mapping is not signed with its records key');
      if (separate) {
        expect(
          !signs(m.keysByUsage.transport) && !signs(m.keysByUsage.log),
          'the mapping is signed with a transport or log key',
        );
      }
      if (m.transparency == null) return;
      // Its checkpoint: its log key, under the log origin, and no other of its keys.
      const note = (await getText(s.dp, '/v1/log/checkpoint')).text;
      const origin = logOrigin(s.registry.doc.federation, s.dp.id);
      const opens = (k: string) => {
        try {
          openCheckpoint(note, [{ name: origin, publicKey: importPublicKey(k) }], { origin });
          return true;
        } catch {
          return false;
        }
      };
      expect(opens(m.keysByUsage.log), 'the checkpoint is not signed with its log key');
      if (separate) {
        expect(
          !opens(m.keysByUsage.records) && !opens(m.keysByUsage.transport),
          'the checkpoint is signed with a records or transport key',
        );
      }
    },
  },
  {
    name: 'verbose lookup verifies, with its inclusion proof',
    async run(s) {
      const id = need(s.mappingId, 'the mapping');
      // verifyVerboseAnswer (inside lookup) checks every signature and the inclusion proof.
      const [r] = await lookupOwn(s);
      expect(r?.status === 'one' && r.mappings[0]?.id === id, `status ${r?.status}, not our mapping`);
      const answer = await call(
        s.dp,
        'POST',
        '/v1/lookup',
        VerboseAnswer,
        {
          v: 1,
          csis: [s.csi],
          format: 'verbose',
        },
        need(s.token, 'the session'),
      );
      const log = answer.results[0]?.mappings[0]?.log;
      if (log !== undefined)
        s.lookupCheckpoint = openDpCheckpoint(log.checkpoint, {
          dp: s.dp.id,
          registry: s.registry,
        }).checkpoint;
    },
  },
  {
    name: "compact lookup sets the MSP's bit",
    async run(s) {
      const [r] = await s.agent.lookupCompact([s.csi, otherCsi(s.csi)]);
      expect(r?.status === 'one', `status ${r?.status}`);
      expect(r.msps.length === 1 && r.msps[0] === s.msp.id, `bits name ${r.msps.join(', ') || 'no MSP'}`);
    },
  },
  {
    name: 'the log is consistent between two checkpoints',
    async run(s) {
      if (s.metadata?.transparency == null) throw new Skip('the DP keeps no log');
      const a = need(s.firstCheckpoint, 'the first checkpoint');
      const b = need(s.lookupCheckpoint, "the lookup's checkpoint");
      expect(b.size > a.size, `the log did not grow (${a.size} then ${b.size})`);
      const answer = await call(
        s.dp,
        'GET',
        `/v1/log/proof/consistency?from=${a.size}&to=${b.size}`,
        ConsistencyAnswer,
      );
      try {
        verifyConsistency(
          a.size,
          b.size,
          a.rootHash,
          b.rootHash,
          answer.proof.map((p) => fromB64u(p, 'proof')),
        );
      } catch (err) {
        throw new Fail(`no consistency from ${a.size} to ${b.size}: ${(err as Error).message}`);
      }
    },
  },
  {
    name: 'GET /v1/mappings/{id}: its own mapping, and not-found for another id',
    async run(s) {
      const id = need(s.mappingId, 'the mapping');
      const token = need(s.token, 'the session');
      const a = await call(s.dp, 'GET', `/v1/mappings/${id}`, MappingAnswer, undefined, token);
      expect(a.id === id && a.state === 'active', `id ${a.id}, state ${a.state}`);
      const other = toB64u(randomBytes(32));
      await refused('not-found', () =>
        call(s.dp, 'GET', `/v1/mappings/${other}`, MappingAnswer, undefined, token),
      );
    },
  },
];
