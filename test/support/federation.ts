import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { digest, SignPurpose, signObject } from '../../src/crypto/sign.js';
import { DiscoveryProvider } from '../../src/dp/provider.js';
import type {
  MappingBody,
  MappingSubmission,
  PossessionAttestation,
  PossessionMethod,
} from '../../src/protocol/records.js';
import { Registry, signRegistry, type UnsignedRegistryV2 } from '../../src/registry/document.js';
import type { TrustPolicy } from '../../src/registry/policy.js';
import { countersign } from '../../src/registry/verify-mapping.js';
import type { Store } from '../../src/store/store.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { TestClock } from './clock.js';
import { tempSqliteStore } from './stores.js';

/** A registry v2 DP key set of fresh keys (held by no one), one per usage. */
export function freshDpKeys(): { records: string[]; transport: string[]; log: string[] } {
  return {
    records: [generateKeyPair().publicKey],
    transport: [generateKeyPair().publicKey],
    log: [generateKeyPair().publicKey],
  };
}

/** An in-process federation: registry, keys, a DP on a throwaway store, and signing helpers. */
export class Federation {
  readonly clock = new TestClock();
  readonly registryKey = generateKeyPair();
  /** dp1's keys, one per registry usage (records, transport, log). */
  readonly dpKeys = { records: generateKeyPair(), transport: generateKeyPair(), log: generateKeyPair() };
  readonly verifierKey = generateKeyPair();
  readonly csipKey = generateKeyPair();
  readonly mspKeys: Record<string, KeyPair> = { msp1: generateKeyPair(), msp2: generateKeyPair() };
  readonly unsigned: UnsignedRegistryV2;
  readonly registry: Registry;
  readonly store: Store;
  readonly dp: DiscoveryProvider;

  /** `store`: another backend (test/support/stores.ts); default a throwaway SQLite file. */
  constructor(policy: TrustPolicy = {}, contestWindowSeconds = 3600, store?: Store) {
    this.store = store ?? tempSqliteStore();
    const now = this.clock.now();
    this.unsigned = {
      v: 2,
      federation: 'test',
      serial: 1,
      issuedAt: now,
      expiresAt: now + 10 * 365 * 86_400,
      policy: { federationDefault: false, maxMappingLifetime: 365 * 86_400 },
      dps: [
        {
          id: 'dp1',
          endpoint: 'https://dp1.example',
          keys: {
            records: [this.dpKeys.records.publicKey],
            transport: [this.dpKeys.transport.publicKey],
            log: [this.dpKeys.log.publicKey],
          },
          region: 'us',
          operator: 'DP Co',
          throughputClass: 'standard',
        },
      ],
      msps: [
        {
          id: 'msp1',
          domain: 'chat.example',
          keys: [this.mspKeys.msp1!.publicKey],
          bit: 0,
          operator: 'Chat Inc',
        },
        {
          id: 'msp2',
          domain: 'talk.example',
          keys: [this.mspKeys.msp2!.publicKey],
          bit: 1,
          operator: 'Talk GmbH',
        },
      ],
      verifiers: [
        {
          id: 'verifier1',
          keys: [this.verifierKey.publicKey],
          methods: ['sms-otp', 'email-otp', 'dns-01'],
          operator: 'Verify Ltd',
        },
      ],
      csips: [{ id: 'csip1', keys: [this.csipKey.publicKey], operator: 'Telco', scope: ['tel:+1'] }],
    };
    this.registry = Registry.open(
      signRegistry(this.unsigned, this.registryKey.privateKey),
      this.registryKey.publicKey,
      { now },
    );
    this.dp = new DiscoveryProvider({
      id: 'dp1',
      key: this.dpKeys.records,
      store: this.store,
      registry: () => this.registry,
      policy,
      contestWindowSeconds,
      now: this.clock.now,
    });
  }

  /** Default method: dns-01 for a native identifier (R29), else sms-otp. */
  attest(
    csi: string,
    holder: KeyPair,
    method: PossessionMethod = csi.startsWith('mimi:') ? 'dns-01' : 'sms-otp',
  ): PossessionAttestation {
    const csip = method === 'csip-token';
    return signAttestation(
      {
        csi,
        holderKey: holder.publicKey,
        method,
        issuer: csip ? 'csip1' : 'verifier1',
        issuedAt: this.clock.now(),
        lifetimeSeconds: 30 * 86_400,
      },
      csip ? this.csipKey.privateKey : this.verifierKey.privateKey,
    );
  }

  /** A fully signed submission (holder and MSP); `msp` null makes an opt-out. */
  submission(
    csi: string,
    holder: KeyPair,
    opts: {
      msp?: 'msp1' | 'msp2' | null;
      user?: string;
      tag?: string;
      priority?: number;
      supersedes?: string;
      attestation?: PossessionAttestation;
    } = {},
  ): MappingSubmission {
    const attestation = opts.attestation ?? this.attest(csi, holder);
    const msp = opts.msp === undefined ? 'msp1' : opts.msp;
    const domain = msp === 'msp2' ? 'talk.example' : 'chat.example';
    const now = this.clock.now();
    const body: MappingBody = {
      v: 2,
      csi,
      msp,
      ssi: msp === null ? null : `mimi://${domain}/u/${opts.user ?? 'user'}`,
      tag: opts.tag ?? 'Default',
      priority: opts.priority ?? 0,
      holderKey: holder.publicKey,
      attestation: digest(attestation),
      createdAt: now,
      expiresAt: now + 20 * 86_400,
      supersedes: opts.supersedes ?? null,
    };
    const holderSig = signObject(SignPurpose.MappingHolder, body, holder.privateKey);
    if (msp === null) return { body, attestation, holderSig };
    return {
      body,
      attestation,
      holderSig,
      mspSig: countersign({ body, holderSig }, this.mspKeys[msp]!.privateKey),
    };
  }

  async served(csi: string): Promise<string[]> {
    return ((await this.store.activeMappings([csi], this.clock.now())).get(csi) ?? []).map((m) => m.id);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
