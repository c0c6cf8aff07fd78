import { createServer, type IncomingMessage } from 'node:http';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { verifyAttestation } from '../../src/registry/verify-mapping.js';
import { checkConfig, configDefaults } from '../../src/server/config.js';
import { DevOutboxChannel, HttpSmsChannel, SmtpChannel } from '../../src/verifier/channels.js';
import { PossessionVerifier } from '../../src/verifier/verifier.js';
import { Federation } from '../support/federation.js';

function verifierFor(
  fed: Federation,
  channel = new DevOutboxChannel(),
  opts: { maxChallengesPerHour?: number } = {},
) {
  return new PossessionVerifier({
    id: 'verifier1',
    ...configDefaults.verifier,
    key: fed.verifierKey,
    store: fed.store,
    secret: Buffer.alloc(32, 7),
    channels: { tel: channel, mailto: channel },
    now: fed.clock.now,
    ...opts,
  });
}

describe('R1: one-time-code possession challenges', () => {
  let fed: Federation;
  beforeEach(() => {
    fed = new Federation();
  });
  afterEach(() => fed.close());

  it('a right code yields an attestation the DP accepts; the code is stored only as an HMAC', async () => {
    const outbox = new DevOutboxChannel();
    const v = verifierFor(fed, outbox);
    const holder = generateKeyPair();
    const started = await v.start('+1 415 555 0101', holder.publicKey);
    const code = outbox.latest('tel:+14155550101')!;
    expect(code).toMatch(/^\d{6}$/);
    const stored = await fed.store.write((tx) => tx.challenge(started.challengeId));
    expect(stored?.codeHash).not.toContain(code);
    const att = await v.answer(started.challengeId, code);
    expect(att).toMatchObject({
      csi: 'tel:+14155550101',
      holderKey: holder.publicKey,
      method: 'sms-otp',
      level: 'otp',
    });
    expect(() =>
      verifyAttestation(att, { registry: fed.registry, policy: {}, now: fed.clock.now() }),
    ).not.toThrow();
    // A passed challenge cannot be used again.
    await expect(v.answer(started.challengeId, code)).rejects.toMatchObject({ code: 'challenge-not-found' });
  });

  it('codes expire', async () => {
    const outbox = new DevOutboxChannel();
    const v = verifierFor(fed, outbox);
    const started = await v.start('bob@example.org', generateKeyPair().publicKey);
    fed.clock.advance(301);
    await expect(
      v.answer(started.challengeId, outbox.latest('mailto:bob@example.org')!),
    ).rejects.toMatchObject({
      code: 'challenge-expired',
    });
  });

  it('attempts are bounded and counted durably', async () => {
    const outbox = new DevOutboxChannel();
    const v = verifierFor(fed, outbox);
    const started = await v.start('+14155550101', generateKeyPair().publicKey);
    const right = outbox.latest('tel:+14155550101')!;
    const wrong = right === '123456' ? '654321' : '123456';
    const errors: unknown[] = [];
    for (let i = 0; i < 5; i++)
      errors.push(
        await v
          .answer(started.challengeId, wrong)
          .catch((e: { code: string; extra?: unknown }) => [e.code, e.extra]),
      );
    expect(errors).toEqual([
      ['code-invalid', { attemptsLeft: 4 }],
      ['code-invalid', { attemptsLeft: 3 }],
      ['code-invalid', { attemptsLeft: 2 }],
      ['code-invalid', { attemptsLeft: 1 }],
      ['too-many-attempts', undefined],
    ]);
    await expect(v.answer(started.challengeId, right)).rejects.toMatchObject({ code: 'too-many-attempts' });
  });

  it('limits challenges per CSI (no SMS pumping through us) and refuses channels it lacks', async () => {
    const v = verifierFor(fed, new DevOutboxChannel(), { maxChallengesPerHour: 2 });
    const key = generateKeyPair().publicKey;
    await v.start('+14155550101', key);
    await v.start('+14155550101', key);
    await expect(v.start('+14155550101', key)).rejects.toMatchObject({ code: 'rate-limited' });
    fed.clock.advance(3601);
    await expect(v.start('+14155550101', key)).resolves.toBeDefined();
    const emailOnly = new PossessionVerifier({
      id: 'verifier1',
      ...configDefaults.verifier,
      key: fed.verifierKey,
      store: fed.store,
      secret: Buffer.alloc(32, 1),
      channels: { mailto: new DevOutboxChannel() },
      now: fed.clock.now,
    });
    await expect(emailOnly.start('+14155550101', key)).rejects.toMatchObject({ code: 'channel-unavailable' });
  });

  it('counts the cap per mailbox too: 12 plus-addressed variants of one mailbox share its 5 an hour', async () => {
    const outbox = new DevOutboxChannel();
    const v = verifierFor(fed, outbox);
    const key = generateKeyPair().publicKey;
    const outcomes: string[] = [];
    for (let i = 1; i <= 12; i++) {
      const address = i % 2 === 0 ? `Bob+${i}@example.org` : `bob+${i}@example.org`;
      outcomes.push(
        await v.start(address, key).then(
          () => 'sent',
          (err: { code: string }) => err.code,
        ),
      );
    }
    expect(outcomes).toEqual([...Array(5).fill('sent'), ...Array(7).fill('rate-limited')]);
    // The mailbox itself and a new variant are spent too; only 5 codes went out, to the CSIs as given.
    await expect(v.start('bob@example.org', key)).rejects.toMatchObject({ code: 'rate-limited' });
    expect(outbox.latest('mailto:bob+1@example.org')).toBeDefined();
    expect(outbox.latest('mailto:bob+6@example.org')).toBeUndefined();
    // Another mailbox of the same domain, or one whose name only starts alike, is not affected.
    await expect(v.start('bobby@example.org', key)).resolves.toBeDefined();
    await expect(v.start('bob@example.net', key)).resolves.toBeDefined();
    fed.clock.advance(3601);
    await expect(v.start('bob+13@example.org', key)).resolves.toBeDefined();
  });
});

describe('real OTP channels', () => {
  it('email goes out over SMTP (nodemailer to a real SMTP server on loopback)', async () => {
    const received: string[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _session, cb) {
        let data = '';
        stream.on('data', (c: Buffer) => {
          data += c.toString();
        });
        stream.on('end', () => {
          received.push(data);
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const port = (smtp.server.address() as { port: number }).port;
    const channel = new SmtpChannel({
      host: '127.0.0.1',
      port,
      allowPlaintext: true,
      from: 'verify@dp.example',
    });
    await channel.send('mailto:bob@example.org', '424242', 300);
    await channel.close();
    await new Promise<void>((r) => smtp.close(() => r()));
    expect(received).toHaveLength(1);
    expect(received[0]).toContain('To: bob@example.org');
    expect(received[0]).toContain('424242');
  });

  it('an SMTP server that refuses gives channel-failed', async () => {
    const channel = new SmtpChannel({
      host: '127.0.0.1',
      port: 1,
      allowPlaintext: true,
      from: 'verify@dp.example',
    });
    await expect(channel.send('mailto:bob@example.org', '1', 300)).rejects.toMatchObject({
      code: 'channel-failed',
    });
  });

  it('SMS goes to the configured HTTP gateway with its bearer token; gateway errors give channel-failed', async () => {
    const seen: { auth?: string; body: unknown }[] = [];
    let status = 202;
    const gateway = createServer((req: IncomingMessage, res) => {
      let data = '';
      req.on('data', (c: Buffer) => {
        data += c.toString();
      });
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, body: JSON.parse(data) });
        res.statusCode = status;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const port = (gateway.address() as { port: number }).port;
    const channel = new HttpSmsChannel({
      url: `http://127.0.0.1:${port}/sms`,
      token: 's3cret',
      timeoutMs: configDefaults.verifier.smsTimeoutMs,
    });
    await channel.send('tel:+14155550101', '777777', 300);
    expect(seen[0]?.auth).toBe('Bearer s3cret');
    expect(seen[0]?.body).toMatchObject({ to: '+14155550101' });
    expect(JSON.stringify(seen[0]?.body)).toContain('777777');
    status = 500;
    await expect(channel.send('tel:+14155550101', '1', 300)).rejects.toMatchObject({
      code: 'channel-failed',
    });
    gateway.close();
  });

  it('the development outbox is refused unless the config says dev', () => {
    const base = {
      dp: { id: 'dp1', keyFile: 'k' },
      registry: { location: 'r', pinnedKey: generateKeyPair().publicKey },
      store: { backend: 'sqlite', path: 'x.db' },
      listen: { host: '127.0.0.1', port: 0 },
      verifier: { id: 'verifier1', keyFile: 'k', secretFile: 's', sms: 'dev-outbox' },
    };
    expect(() => checkConfig(base)).toThrow(expect.objectContaining({ code: 'config-invalid' }));
    expect(() => checkConfig({ ...base, dev: true })).not.toThrow();
  });
});
