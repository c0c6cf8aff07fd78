import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { dns01Value, holderKeyThumbprint } from '../../src/protocol/dns-names.js';
import { MimiError } from '../../src/protocol/errors.js';
import { verifyAttestation } from '../../src/registry/verify-mapping.js';
import { configDefaults } from '../../src/server/config.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { DevOutboxChannel } from '../../src/verifier/channels.js';
import type { TxtResolver } from '../../src/verifier/dns01.js';
import { PossessionVerifier } from '../../src/verifier/verifier.js';
import { Federation } from '../support/federation.js';

/** A zone's TXT records as the verifier's resolver sees them. */
class FakeTxt implements TxtResolver {
  readonly records = new Map<string, string[][]>();
  down = false;
  asked: string[] = [];
  async resolveTxt(name: string): Promise<string[][]> {
    this.asked.push(name);
    if (this.down) throw new MimiError('dns-unreachable', 'no answer');
    return this.records.get(name) ?? [];
  }
}

function verifierFor(fed: Federation, dns?: TxtResolver) {
  return new PossessionVerifier({
    id: 'verifier1',
    ...configDefaults.verifier,
    key: fed.verifierKey,
    store: fed.store,
    secret: Buffer.alloc(32, 7),
    channels: { tel: new DevOutboxChannel(), mailto: new DevOutboxChannel() },
    dns,
    now: fed.clock.now,
  });
}

describe('RFC 8555 §8.1, RFC 7638: the holder key thumbprint', () => {
  it('matches the RFC 8037 §A.3 Ed25519 thumbprint vector', () => {
    expect(holderKeyThumbprint('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo')).toBe(
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
    );
  });
});

describe('R29: dns-01 possession of a native identifier', () => {
  let fed: Federation;
  let dns: FakeTxt;
  beforeEach(() => {
    fed = new Federation();
    dns = new FakeTxt();
  });
  afterEach(() => fed.close());

  it('the record at _mimi-challenge.<domain> yields a dns-01 attestation the DP accepts', async () => {
    const v = verifierFor(fed, dns);
    const holder = generateKeyPair();
    const started = await v.start('mimi:Alice@Example.NET', holder.publicKey);
    expect(started.method).toBe('dns-01');
    expect(started.dns?.name).toBe('_mimi-challenge.example.net');
    expect(started.dns?.value).toBe(dns01Value(started.dns!.token, holder.publicKey));
    const stored = await fed.store.write((tx) => tx.challenge(started.challengeId));
    expect(stored?.codeHash).not.toContain(started.dns!.token);
    // Other TXT records may sit beside it; a value split into strings is joined first.
    const value = started.dns!.value;
    dns.records.set('_mimi-challenge.example.net', [['v=spf1 -all'], [value.slice(0, 10), value.slice(10)]]);
    const att = await v.checkDns01(started.challengeId);
    expect(att).toMatchObject({
      csi: 'mimi:alice@example.net',
      method: 'dns-01',
      holderKey: holder.publicKey,
    });
    expect(() =>
      verifyAttestation(att, { registry: fed.registry, policy: {}, now: fed.clock.now() }),
    ).not.toThrow();
    const accepted = await fed.dp.accept(
      fed.submission('mimi:alice@example.net', holder, { attestation: att }),
    );
    expect(accepted.mapping.body.csi).toBe('mimi:alice@example.net');
    await expect(v.checkDns01(started.challengeId)).rejects.toMatchObject({ code: 'challenge-not-found' });
  });

  it('a record made for another holder key proves nothing, and attempts are bounded', async () => {
    const v = verifierFor(fed, dns);
    const holder = generateKeyPair();
    const started = await v.start('mimi:alice@example.net', holder.publicKey);
    // The attacker sees the token, but the value binds the holder key it was made for.
    dns.records.set('_mimi-challenge.example.net', [
      [dns01Value(started.dns!.token, generateKeyPair().publicKey)],
    ]);
    const codes: unknown[] = [];
    for (let i = 0; i < 5; i++)
      codes.push(await v.checkDns01(started.challengeId).catch((e: MimiError) => [e.code, e.extra]));
    expect(codes.slice(0, 4)).toEqual(
      [1, 2, 3, 4].map((n) => ['dns-challenge-failed', { attemptsLeft: 5 - n }]),
    );
    expect(codes[4]).toEqual(['too-many-attempts', undefined]);
    dns.records.set('_mimi-challenge.example.net', [[started.dns!.value]]);
    await expect(v.checkDns01(started.challengeId)).rejects.toMatchObject({ code: 'too-many-attempts' });
  });

  it('a resolver that does not answer spends no attempt', async () => {
    const v = verifierFor(fed, dns);
    const holder = generateKeyPair();
    const started = await v.start('mimi:alice@example.net', holder.publicKey);
    dns.down = true;
    await expect(v.checkDns01(started.challengeId)).rejects.toMatchObject({ code: 'dns-unreachable' });
    const stored = await fed.store.write((tx) => tx.challenge(started.challengeId));
    expect(stored?.attempts).toBe(0);
    dns.down = false;
    dns.records.set('_mimi-challenge.example.net', [[started.dns!.value]]);
    await expect(v.checkDns01(started.challengeId)).resolves.toMatchObject({ method: 'dns-01' });
  });

  it('expires like a code, and is never answered by a code', async () => {
    const v = verifierFor(fed, dns);
    const started = await v.start('mimi:alice@example.net', generateKeyPair().publicKey);
    await expect(v.answer(started.challengeId, '000000')).rejects.toMatchObject({
      code: 'challenge-not-found',
    });
    dns.records.set('_mimi-challenge.example.net', [[started.dns!.value]]);
    fed.clock.advance(601);
    await expect(v.checkDns01(started.challengeId)).rejects.toMatchObject({ code: 'challenge-expired' });
    const otp = await v.start('+14155550101', generateKeyPair().publicKey);
    await expect(v.checkDns01(otp.challengeId)).rejects.toMatchObject({ code: 'challenge-not-found' });
  });

  it('a verifier without a resolver runs no dns-01 challenge', async () => {
    await expect(
      verifierFor(fed).start('mimi:alice@example.net', generateKeyPair().publicKey),
    ).rejects.toMatchObject({
      code: 'channel-unavailable',
    });
  });

  it('control of a domain proves only a native identifier, and only it proves one', () => {
    const holder = generateKeyPair();
    const attest = (csi: string, method: 'dns-01' | 'sms-otp' | 'email-otp') =>
      signAttestation(
        {
          csi,
          holderKey: holder.publicKey,
          method,
          issuer: 'verifier1',
          issuedAt: fed.clock.now(),
          lifetimeSeconds: 86_400,
        },
        fed.verifierKey.privateKey,
      );
    const ctx = { registry: fed.registry, policy: {}, now: fed.clock.now() };
    expect(() => verifyAttestation(attest('mailto:alice@example.net', 'dns-01'), ctx)).toThrow(
      expect.objectContaining({ code: 'verifier-not-trusted' }),
    );
    expect(() => verifyAttestation(attest('mimi:alice@example.net', 'email-otp'), ctx)).toThrow(
      expect.objectContaining({ code: 'verifier-not-trusted' }),
    );
  });
});
