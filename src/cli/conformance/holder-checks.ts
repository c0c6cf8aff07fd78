import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HolderClient } from '../../client/holder.js';
import { call } from '../../client/http.js';
import { PrivateLookupClient } from '../../client/private-lookup.js';
import { SignPurpose, signObject } from '../../crypto/sign.js';
import { InvalidationAnswer, MappingAnswer } from '../../protocol/answers.js';
import { nowSeconds } from '../../protocol/encoding.js';
import type { HolderRead } from '../../protocol/records.js';
import { type Check, expect, lookupOwn, need, refused, Skip } from './kit.js';

/** The holder's later requests: a read, a private lookup, invalidation, opt-out, key rotation. */
export const holderChecks: readonly Check[] = [
  {
    name: 'holder read answered once; its replay refused',
    async run(s) {
      const unsigned = {
        v: 1 as const,
        csi: s.csi,
        holderKey: s.holder.publicKey,
        mapping: need(s.mappingId, 'the mapping'),
        issuedAt: nowSeconds(),
        nonce: randomBytes(16).toString('base64url'),
      };
      const r: HolderRead = {
        ...unsigned,
        sig: signObject(SignPurpose.HolderRead, unsigned, s.holderKey.privateKey),
      };
      const a = await call(s.dp, 'POST', '/v1/holder/mapping', MappingAnswer, r);
      expect(a.id === s.mappingId, 'another mapping came back');
      await refused('replayed', () => call(s.dp, 'POST', '/v1/holder/mapping', MappingAnswer, r));
    },
  },
  {
    name: 'private lookup end to end (VOPRF proof, logged key)',
    async run(s) {
      if (!s.metadata?.modes.includes('private')) throw new Skip('the DP offers no private lookup');
      const client = new PrivateLookupClient({
        dp: s.dp,
        registry: () => s.registry,
        credential: () => s.agent.sessionToken(),
      });
      try {
        // The DP may publish a new entry in its buckets a little after accepting it.
        for (let i = 0; ; i++) {
          const [r] = await client.lookup([s.csi]);
          if (r?.mappings.some((m) => m.id === s.mappingId)) return;
          expect(i < 50, `status ${r?.status}: our mapping is not in the private answer`);
          await sleep(200);
        }
      } finally {
        await client.close();
      }
    },
  },
  {
    name: 'invalidation withdraws the mapping; its replay refused',
    async run(s) {
      const id = need(s.mappingId, 'the mapping');
      const unsigned = {
        v: 1 as const,
        csi: s.csi,
        holderKey: s.holder.publicKey,
        target: id,
        issuedAt: nowSeconds(),
      };
      const inv = {
        ...unsigned,
        sig: signObject(SignPurpose.Invalidation, unsigned, s.holderKey.privateKey),
      };
      const r = await call(s.dp, 'POST', '/v1/holder/invalidate', InvalidationAnswer, inv);
      expect(r.invalidated.includes(id), `invalidated ${r.invalidated.join(', ') || 'nothing'}`);
      // The same signed request again is a replay, whatever it would now do.
      await refused('replayed', () => call(s.dp, 'POST', '/v1/holder/invalidate', InvalidationAnswer, inv));
      const [after] = await lookupOwn(s);
      expect(after?.status === 'none', `the lookup still says ${after?.status}`);
      const a = await call(
        s.dp,
        'GET',
        `/v1/mappings/${id}`,
        MappingAnswer,
        undefined,
        need(s.token, 'the session'),
      );
      expect(a.state === 'invalidated', `state ${a.state}`);
    },
  },
  {
    name: 'opt-out served as opt-out',
    async run(s) {
      const answer = await s.holder.optOut(need(s.attestation, 'the attestation'));
      s.optOutId = answer.id;
      const [r] = await lookupOwn(s);
      expect(r?.status === 'opt-out' && r.mappings[0]?.id === answer.id, `the lookup says ${r?.status}`);
    },
  },
  {
    name: 'key rotation: the old key refused, the new key works',
    async run(s) {
      s.oldKey = s.holderKey;
      const oldHolder = new HolderClient({ dp: s.dp, key: s.oldKey });
      s.holderKey = await s.holder.rotateKey(s.csi);
      await refused('holder-key-retired', () => oldHolder.invalidate(s.csi, null));
      const r = await s.holder.invalidate(s.csi, null);
      expect(
        r.invalidated.includes(need(s.optOutId, 'the opt-out')),
        'the new key did not withdraw the opt-out',
      );
      const [after] = await lookupOwn(s);
      expect(after?.status === 'none', `the lookup says ${after?.status}`);
    },
  },
];
