import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HolderClient } from '../../client/holder.js';
import { MspAgent } from '../../client/msp-agent.js';
import { generateKeyPair } from '../../crypto/keys.js';
import { digest, SignPurpose, signObject } from '../../crypto/sign.js';
import type { Mapping, MappingBody } from '../../protocol/records.js';
import { countersign, verifyHolderAndMsp } from '../../registry/verify-mapping.js';
import { configDefaults } from '../../server/config-defaults.js';
import { readJson, readKeyFile } from '../args.js';
import { cliName } from '../devnet.js';
import { codeFromOutbox, fileNameOf } from '../devnet-access.js';
import { invalidate, openHolder, optOut, prove, publish, rotate, shown } from '../devnet-holder.js';
import { lookupVerbose, verboseText } from '../lookup.js';
import { verifyFile } from '../verify.js';
import { bob, bobCsi, carol, type Demo, eve, expect, rejected } from './kit.js';

/** Steps 9-16: opt-out, invalidation, key rotation, a contest, and what the DP and SDK refuse. */
export async function lifecycleSteps(d: Demo): Promise<void> {
  const { net, node, step, made } = d;
  await step(
    `Carol (${carol}) opts out`,
    'R25: discovery is opt-in, and a holder may say no explicitly. R14: Carol proves possession and\n' +
      'signs an opt-out with no MSP in it; lookups then answer "opt-out" rather than "none".',
    async () => {
      const o = await optOut(net, { csi: carol });
      expect(o.state === 'active', 'the opt-out accepted');
      const [r] = await lookupVerbose(net, 'msp3', [carol]);
      expect(r?.status === 'opt-out', `status opt-out, got ${r?.status}`);
      return [`opt-out ${o.id} accepted`, ...verboseText([r!]).split('\n')];
    },
  );

  await step(
    'Bob invalidates his business mapping',
    'R19, R25: a holder withdraws a mapping with a request signed by his holder key; neither the MSP\n' +
      'nor the DP can keep it alive. The next lookup shows only the Default mapping.',
    async () => {
      const ids = await invalidate(net, { csi: bobCsi, id: made.businessId });
      expect(ids.length === 1 && ids[0] === made.businessId, 'the business mapping invalidated');
      const [r] = await lookupVerbose(net, 'msp3', [bob]);
      expect(
        r?.status === 'one' && r.mappings[0]?.id === made.defaultId,
        `only the Default mapping left, got ${r?.status}`,
      );
      return [`invalidated ${made.businessId}`, ...verboseText([r!]).split('\n')];
    },
  );

  await step(
    'Bob rotates his holder key',
    'R19: Bob moves to a new key with a request signed by both keys. The new key keeps his place;\n' +
      'the old one can do nothing more, so a stolen old key is useless.',
    async () => {
      const r = await rotate(net, { csi: bobCsi });
      const old = new HolderClient({
        dp: { baseUrl: net.endpoint },
        key: readKeyFile(r.retiredFile, 'old key'),
      });
      const refused = await rejected('holder-key-retired', () => old.invalidate(bobCsi, null));
      return [
        `old key ${r.oldKey}`,
        `new key ${r.newKey} (in ${shown(r.keyFile)})`,
        `an invalidation signed with the old key: refused [${refused.code}]`,
      ];
    },
  );

  await step(
    "A second holder proves Bob's number and publishes: contested, Bob keeps precedence",
    'Someone else (Dave: a new owner of the number, or someone who intercepted a code) proves\n' +
      "possession of Bob's number and publishes on msp2. R17: the older holder keeps precedence, so\n" +
      "Dave's mapping is held as contested and not served; Bob has a window to prove possession again.",
    async () => {
      const keyFile = join(net.dir, 'holders', `dave-${fileNameOf(bobCsi)}.jwk`);
      const d = await publish(net, { csi: bobCsi, msp: 'msp2', user: 'dave', tag: 'Default', keyFile });
      expect(d.state === 'contested', `Dave's mapping contested, got ${d.state}`);
      const [r] = await lookupVerbose(net, 'msp3', [bob]);
      expect(r?.status === 'one' && r.mappings[0]?.id === made.defaultId, "only Bob's mapping served");
      return [
        `Dave proved possession (code ${d.proved?.code} from the outbox) and published: state ${d.state}`,
        `contest window: ${node.ctx.dp.contestWindow / 86_400} days`,
        ...verboseText([r!]).split('\n'),
      ];
    },
  );

  await step(
    'A hand-edited mapping fails verification',
    "R3, R6: anyone can verify a mapping offline, like a certificate chain. We copy Bob's Default\n" +
      'mapping and change its tag to "business" by hand: the holder signature no longer matches.',
    async () => {
      const original = net.mappingFile(made.defaultId);
      const edited = readJson(original, 'mapping') as Mapping;
      edited.body.tag = 'business';
      const tampered = join(net.dir, 'tampered-mapping.json');
      writeFileSync(tampered, `${JSON.stringify(edited, null, 2)}\n`);
      const source = { registryFile: join(net.dir, 'registry.json'), registryKey: net.registryKey };
      const good = verifyFile(original, source);
      const bad = verifyFile(tampered, source);
      expect(good.exitCode === undefined, `the original verifies: ${good.text}`);
      expect(
        bad.exitCode === 1 && (bad.doc as { code?: string }).code === 'holder-signature-invalid',
        `the edited copy fails the holder-signature check, got: ${bad.text}`,
      );
      return [
        `$ ${cliName()} verify --devnet ${shown(net.dir)} ${shown(original)}`,
        good.text.split('\n')[0]!,
        `$ ${cliName()} verify --devnet ${shown(net.dir)} ${shown(tampered)}`,
        bad.text,
      ];
    },
  );

  await step(
    'Rejected: a forged holder signature',
    "R4, R6: Mallory copies Bob's attestation (it is public, in every verbose answer) into a mapping\n" +
      "that sends Bob's number to her msp1 account, and signs it with her own key. msp1 will not\n" +
      'countersign it (its countersignature covers the holder signature, so it checks it first); and\n' +
      "countersigned anyway, the DP refuses it: only Bob's key can sign for Bob.",
    async () => {
      const bobMapping = readJson(net.mappingFile(made.defaultId), 'mapping') as Mapping;
      const att = bobMapping.attestation;
      const now = Math.floor(Date.now() / 1000);
      const body: MappingBody = {
        v: 2,
        csi: bobCsi,
        msp: 'msp1',
        ssi: 'mimi://chat.example/u/mallory',
        tag: 'mallory',
        priority: 0,
        holderKey: att.holderKey,
        attestation: digest(att),
        createdAt: now,
        expiresAt: now + 86_400,
        supersedes: null,
      };
      const mallory = generateKeyPair();
      const forged = {
        body,
        attestation: att,
        holderSig: signObject(SignPurpose.MappingHolder, body, mallory.privateKey),
      };
      const msp1 = net.msp('msp1');
      const byMsp = await rejected('holder-signature-invalid', () => msp1.confirm(forged));
      const mspKey = readKeyFile(net.layout.msps.find((m) => m.id === 'msp1')!.keyFile, 'msp1 key');
      const err = await rejected('holder-signature-invalid', () =>
        msp1.submit({ ...forged, mspSig: countersign(forged, mspKey.privateKey) }),
      );
      return [`msp1: [${byMsp.code}] ${byMsp.message}`, `DP answer: [${err.code}] ${err.message}`];
    },
  );

  await step(
    'Rejected: an MSP that is not in the registry',
    'R21, R23: only registered MSPs may sign mappings. A rogue MSP cannot even open a session with\n' +
      'the DP, and a mapping it signed fails the check that every DP and client runs.',
    async () => {
      const rogueKey = generateKeyPair();
      const rogue = new MspAgent({
        id: 'rogue-msp',
        key: rogueKey,
        dp: { baseUrl: net.endpoint, id: 'dp1' },
        registry: () => net.registry(),
        isOwnUser: () => true,
      });
      const session = await rejected('unauthenticated', () => rogue.lookup([bob]));
      const holder = openHolder(net, bobCsi, { create: false });
      const p = await prove(net, { csi: bobCsi });
      const signed = holder.client.signMapping({
        csi: bobCsi,
        msp: 'rogue-msp',
        ssi: 'mimi://rogue.example/u/bob',
        attestation: p.attestation,
      });
      const mspSig = countersign(signed, rogueKey.privateKey);
      const check = await rejected('msp-not-registered', () =>
        verifyHolderAndMsp(
          { ...signed, mspSig },
          { registry: net.registry(), policy: {}, now: Math.floor(Date.now() / 1000) },
        ),
      );
      return [
        `session with the DP: [${session.code}] ${session.message}`,
        `its mapping: [${check.code}] ${check.message}`,
      ];
    },
  );

  await step(
    'Rejected: too many wrong codes',
    `R1, R22: Eve tries to guess the code sent to ${eve}. Codes are tried a bounded number of times;\n` +
      'then the challenge is spent, and even the right code no longer works.',
    async () => {
      const evil = openHolder(net, 'tel:+14155550103', {
        keyFile: join(net.dir, 'holders', `eve-${fileNameOf('tel:+14155550103')}.jwk`),
        create: true,
      });
      const started = await evil.client.startChallenge(eve);
      const real = codeFromOutbox(net.outboxFile, 'tel:+14155550103');
      expect(real !== undefined, 'a code in the outbox');
      const wrong = String((Number(real) + 1) % 1_000_000).padStart(6, '0');
      const max = node.ctx.verifier?.maxAttempts ?? configDefaults.verifier.maxAttempts;
      const lines: string[] = [];
      for (let i = 1; i < max; i++) {
        const e = await rejected('code-invalid', () =>
          evil.client.answerChallenge(started.challengeId, wrong),
        );
        lines.push(`guess ${i}: [${e.code}] ${e.message}, ${String(e.extra?.attemptsLeft)} left`);
      }
      const last = await rejected('too-many-attempts', () =>
        evil.client.answerChallenge(started.challengeId, wrong),
      );
      lines.push(`guess ${max}: [${last.code}] ${last.message}`);
      const spent = await rejected('too-many-attempts', () =>
        evil.client.answerChallenge(started.challengeId, real!),
      );
      lines.push(`the right code after that: [${spent.code}] ${spent.message}`);
      return lines;
    },
  );
}
