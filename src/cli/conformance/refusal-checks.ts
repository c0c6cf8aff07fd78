import { generateKeyPair } from '../../crypto/keys.js';
import { SignPurpose, signingInput, signObject } from '../../crypto/sign.js';
import { fromB64u, nowSeconds, toB64u } from '../../protocol/encoding.js';
import {
  type Check,
  countersign,
  expect,
  otherCsi,
  refused,
  resigned,
  secondSignature,
  signed,
  submitRaw,
} from './kit.js';

/** Mappings the DP must refuse, each with its code (R2-R6, R21). */
export const refusalChecks: readonly Check[] = [
  {
    name: 'changed holder signature refused',
    async run(s) {
      const h = signed(s, 'Work');
      const sig = fromB64u(h.holderSig, 'holderSig');
      sig[5]! ^= 1;
      await refused('holder-signature-invalid', () =>
        submitRaw(s, countersign(s, { ...h, holderSig: toB64u(sig) })),
      );
    },
  },
  {
    name: 'MSP signature by another key refused',
    async run(s) {
      await refused('msp-signature-invalid', () =>
        submitRaw(s, countersign(s, signed(s, 'Work'), generateKeyPair())),
      );
    },
  },
  {
    name: 'MSP signature moved onto another holder signature of the same body refused',
    async run(s) {
      const h = signed(s, 'Work');
      const sub = countersign(s, h);
      const other = secondSignature(signingInput(SignPurpose.MappingHolder, h.body), s.holderKey);
      expect(other !== h.holderSig, 'the second holder signature is the first');
      await refused('msp-signature-invalid', () => submitRaw(s, { ...sub, holderSig: other }));
    },
  },
  {
    name: 'new mapping at body version 1 refused',
    async run(s) {
      const h = signed(s, 'Work');
      const body = { ...h.body, v: 1 as const };
      const holderSig = signObject(SignPurpose.MappingHolder, body, s.holderKey.privateKey);
      const mspSig = signObject(SignPurpose.MappingMsp, body, s.msp.key.privateKey);
      await refused('version-retired', () => submitRaw(s, { ...h, body, holderSig, mspSig }));
    },
  },
  {
    name: 'changed attestation refused',
    async run(s) {
      const h = signed(s, 'Work');
      const a = { ...h.attestation, expiresAt: h.attestation.expiresAt + 86_400 };
      await refused('attestation-signature-invalid', () =>
        submitRaw(s, countersign(s, { ...h, attestation: a })),
      );
    },
  },
  {
    name: "mapping for a CSI other than the attestation's refused",
    async run(s) {
      const h = signed(s, 'Work');
      await refused('attestation-mismatch', () =>
        submitRaw(s, countersign(s, resigned(s, h, { ...h.body, csi: otherCsi(s.csi) }))),
      );
    },
  },
  {
    name: 'expired mapping refused',
    async run(s) {
      const h = signed(s, 'Work');
      const now = nowSeconds();
      await refused('mapping-expired', () =>
        submitRaw(
          s,
          countersign(s, resigned(s, h, { ...h.body, createdAt: now - 7200, expiresAt: now - 3600 })),
        ),
      );
    },
  },
  {
    name: 'mapping living longer than the registry allows refused',
    async run(s) {
      const h = signed(s, 'Work');
      const expiresAt = nowSeconds() + s.registry.doc.policy.maxMappingLifetime + 86_400;
      await refused('mapping-lifetime-too-long', () =>
        submitRaw(s, countersign(s, resigned(s, h, { ...h.body, expiresAt }))),
      );
    },
  },
];
