import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupNativeDns } from '../../src/client/dns-lookup.js';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { masterFile } from '../../src/dns/master-file.js';
import { DnsResponder } from '../../src/dns/responder.js';
import type { ZoneSettings } from '../../src/dns/zone.js';
import { ZoneSet } from '../../src/dns/zone-set.js';
import { discoveryName } from '../../src/protocol/dns-names.js';
import { configDefaults } from '../../src/server/config.js';
import { DevOutboxChannel } from '../../src/verifier/channels.js';
import { nodeTxtResolver } from '../../src/verifier/dns01.js';
import { PossessionVerifier } from '../../src/verifier/verifier.js';
import {
  type DnsProcess,
  dig,
  missingDnsTools,
  signZone,
  startNsd,
  startUnbound,
} from '../support/dns-servers.js';
import { Federation } from '../support/federation.js';

/**
 * R29 end to end with real DNS software: our zone exported and served by NSD, the same zone served
 * by our own responder, Unbound as the validating recursive resolver in front of both, a zone
 * signed with ldns-signzone and validated against its trust anchor, and a tampered signed answer.
 */
const missing = missingDnsTools();
if (missing.length > 0)
  console.warn(`skipping the real-DNS suite: missing ${missing.join(', ')} (.ci/run installs them)`);

const settings = (name: string): ZoneSettings => ({
  name,
  nameServers: [{ name: `ns1.${name}`, addresses: ['127.0.0.1'] }],
  ttl: 5,
  negativeTtl: 1,
});

describe.skipIf(missing.length > 0)('R29: native identifiers through real DNS', () => {
  let dir: string;
  let fed: Federation;
  let zones: ZoneSet;
  let responder: DnsResponder;
  let nsd: DnsProcess;
  let unbound: DnsProcess;
  let alice: KeyPair;
  let carol: KeyPair;
  let aliceIds: string[];
  const ctx = () => ({ registry: fed.registry, policy: {}, now: fed.clock.now(), timeoutMs: 1500, tries: 1 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mimi-dns-'));
    fed = new Federation();
    alice = generateKeyPair();
    carol = generateKeyPair();
    // Two mappings: the TXT records (~3 kB) do not fit a 1232-byte UDP answer.
    const a1 = await fed.dp.accept(fed.submission('mimi:alice@example.net', alice, { user: 'alice' }));
    const a2 = await fed.dp.accept(
      fed.submission('mimi:alice@example.net', alice, {
        msp: 'msp2',
        user: 'alice',
        tag: 'work',
        priority: 5,
      }),
    );
    aliceIds = [a1.id, a2.id];
    await fed.dp.accept(fed.submission('mimi:carol@signed.example', carol, { user: 'carol' }));
    await fed.dp.accept(fed.submission('mimi:carol@tampered.example', carol, { user: 'carol' }));
    zones = new ZoneSet({
      store: fed.store,
      zones: [settings('example.net'), settings('signed.example'), settings('tampered.example')],
      now: fed.clock.now,
      refreshMs: 100,
    });
    await zones.start();
    responder = new DnsResponder({ zones, host: '127.0.0.1', port: 0, maxUdpPayload: 1232 });
    await responder.start();

    // The same zones as master files, for NSD; two of them signed, one signed and then tampered with.
    const exported = (name: string) => {
      const file = join(dir, `${name}.zone`);
      writeFileSync(file, masterFile(zones.zones().find((z) => z.name === name)!));
      return file;
    };
    const plain = exported('example.net');
    const signed = signZone(dir, 'signed.example', exported('signed.example'));
    const tampered = signZone(dir, 'tampered.example', exported('tampered.example'));
    // Change one byte inside the signed TXT data: the RRSIG no longer covers what is served.
    const text = readFileSync(tampered.signed, 'utf8');
    const at = text.indexOf('"tag\\":\\"Default');
    expect(at).toBeGreaterThan(0);
    writeFileSync(tampered.signed, text.replace('"tag\\":\\"Default', '"tag\\":\\"Defaulx'));
    nsd = await startNsd(dir, {
      'example.net': plain,
      'signed.example': signed.signed,
      'tampered.example': tampered.signed,
    });
    unbound = await startUnbound(dir, {
      stubs: {
        // Our own responder for example.net; NSD for the signed zones.
        'example.net': `127.0.0.1@${responder.port}`,
        'signed.example': `127.0.0.1@${nsd.port}`,
        'tampered.example': `127.0.0.1@${nsd.port}`,
      },
      trustAnchors: [signed.ds, tampered.ds],
    });
  }, 60_000);

  afterAll(async () => {
    await unbound?.stop();
    await nsd?.stop();
    await responder?.close();
    await zones?.close();
    await fed?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a sender finds and verifies alice through Unbound and our responder, over TCP after truncation', async () => {
    const r = await lookupNativeDns('mimi:Alice@Example.NET', {
      ...ctx(),
      resolvers: [`127.0.0.1:${unbound.port}`],
    });
    expect(r.status).toBe('several');
    expect(r.dnssec).toBe('insecure');
    expect(r.mappings.map((m) => m.id)).toEqual(aliceIds);
    expect(r.mappings.map((m) => m.mapping.body.ssi)).toEqual([
      'mimi://chat.example/u/alice',
      'mimi://talk.example/u/alice',
    ]);
    // dig over UDP with a 1232-byte buffer sees the truncation; over TCP the whole answer.
    const name = discoveryName('mimi:alice@example.net');
    const udp = await dig([
      '@127.0.0.1',
      '-p',
      String(responder.port),
      name,
      'TXT',
      '+notcp',
      '+ignore',
      '+bufsize=1232',
    ]);
    expect(udp).toMatch(/flags: qr aa( rd)? tc|flags: qr aa tc/);
    const tcp = await dig(['@127.0.0.1', '-p', String(responder.port), name, 'TXT', '+tcp']);
    expect(tcp).toMatch(/flags: qr aa/);
    expect(tcp).toContain('ANSWER: 2');
  });

  it('NSD serving the exported zone gives the same verified answer as our responder', async () => {
    const viaNsd = await lookupNativeDns('mimi:alice@example.net', {
      ...ctx(),
      resolvers: [`127.0.0.1:${nsd.port}`],
    });
    const viaOurs = await lookupNativeDns('mimi:alice@example.net', {
      ...ctx(),
      resolvers: [`127.0.0.1:${responder.port}`],
    });
    expect(viaNsd.mappings.map((m) => m.id)).toEqual(aliceIds);
    expect(viaOurs.mappings.map((m) => m.id)).toEqual(aliceIds);
    // RFC 7553 URI records in the holder's order, the same from both servers.
    const name = discoveryName('mimi:alice@example.net');
    const uris = await Promise.all(
      [nsd.port, responder.port].map((p) => dig(['@127.0.0.1', '-p', String(p), name, 'URI', '+short'])),
    );
    expect(uris[0]?.trim().split('\n')).toEqual([
      '0 1 "mimi://chat.example/u/alice"',
      '1 1 "mimi://talk.example/u/alice"',
    ]);
    expect(uris[1]).toBe(uris[0]);
  });

  it('a zone signed with ldns-signzone is validated by Unbound against its trust anchor', async () => {
    const r = await lookupNativeDns('mimi:carol@signed.example', {
      ...ctx(),
      resolvers: [`127.0.0.1:${unbound.port}`],
      requireDnssec: true,
    });
    expect(r.dnssec).toBe('secure');
    expect(r.status).toBe('one');
    expect(r.mappings[0]?.mapping.body.csi).toBe('mimi:carol@signed.example');
    const out = await dig([
      '@127.0.0.1',
      '-p',
      String(unbound.port),
      discoveryName('mimi:carol@signed.example'),
      'TXT',
      '+dnssec',
    ]);
    expect(out).toMatch(/flags: qr rd ra ad/);
  });

  it('a tampered signed answer is rejected as bogus, never used', async () => {
    await expect(
      lookupNativeDns('mimi:carol@tampered.example', { ...ctx(), resolvers: [`127.0.0.1:${unbound.port}`] }),
    ).rejects.toMatchObject({ code: 'dns-bogus' });
    // Straight from NSD (no validation) the tampered mapping does not verify either.
    await expect(
      lookupNativeDns('mimi:carol@tampered.example', { ...ctx(), resolvers: [`127.0.0.1:${nsd.port}`] }),
    ).rejects.toMatchObject({ code: 'holder-signature-invalid' });
  });

  it('an unsigned answer is refused when DNSSEC is required', async () => {
    await expect(
      lookupNativeDns('mimi:alice@example.net', {
        ...ctx(),
        resolvers: [`127.0.0.1:${unbound.port}`],
        requireDnssec: true,
      }),
    ).rejects.toMatchObject({ code: 'dns-bogus' });
  });

  it('NXDOMAIN for an unknown identifier, NODATA for names that exist, REFUSED outside our zones', async () => {
    const none = await lookupNativeDns('mimi:nobody@example.net', {
      ...ctx(),
      resolvers: [`127.0.0.1:${unbound.port}`],
    });
    expect(none.status).toBe('none');
    const at = (name: string, type: string) =>
      dig(['@127.0.0.1', '-p', String(responder.port), name, type, '+norec']);
    expect(await at('nobody.example.net', 'A')).toContain('status: NXDOMAIN');
    const ent = await at('_mimi-discovery.example.net', 'TXT');
    expect(ent).toContain('status: NOERROR');
    expect(ent).toContain('ANSWER: 0');
    expect(ent).toMatch(/AUTHORITY: 1/);
    expect(await at(discoveryName('mimi:alice@example.net'), 'A')).toMatch(/status: NOERROR[\s\S]*ANSWER: 0/);
    expect(await at('example.org', 'SOA')).toContain('status: REFUSED');
    expect(await at('example.net', 'AXFR')).toMatch(/REFUSED|Transfer failed/);
  });

  it('an acceptance and an invalidation show within seconds, with the SOA serial moved on', async () => {
    const dave = generateKeyPair();
    const before = zones.zones()[0]!.serial;
    await fed.dp.accept(fed.submission('mimi:dave@example.net', dave, { user: 'dave' }));
    const ask = () =>
      lookupNativeDns('mimi:dave@example.net', { ...ctx(), resolvers: [`127.0.0.1:${responder.port}`] });
    await expect.poll(async () => (await ask()).status, { timeout: 5000, interval: 100 }).toBe('one');
    const after = zones.zones()[0]!.serial;
    expect(after).toBeGreaterThan(before);
    const inv = {
      v: 1 as const,
      csi: 'mimi:dave@example.net',
      holderKey: dave.publicKey,
      target: null,
      issuedAt: fed.clock.now(),
    };
    await fed.dp.invalidate({ ...inv, sig: signObject(SignPurpose.Invalidation, inv, dave.privateKey) });
    await expect.poll(async () => (await ask()).status, { timeout: 5000, interval: 100 }).toBe('none');
    expect(zones.zones()[0]!.serial).toBeGreaterThan(after);
    const soa = await dig(['@127.0.0.1', '-p', String(responder.port), 'example.net', 'SOA', '+short']);
    expect(soa).toContain(` ${zones.zones()[0]!.serial} `);
  });

  it("dns-01: the verifier finds the holder's record through Unbound and NSD, and attests", async () => {
    const holder = generateKeyPair();
    const v = new PossessionVerifier({
      id: 'verifier1',
      ...configDefaults.verifier,
      key: fed.verifierKey,
      store: fed.store,
      secret: Buffer.alloc(32, 9),
      channels: { tel: new DevOutboxChannel() },
      dns: nodeTxtResolver({ servers: [`127.0.0.1:${unbound.port}`], timeoutMs: 1500, tries: 1 }),
      now: fed.clock.now,
    });
    const started = await v.start('mimi:erin@challenge.example', holder.publicKey);
    // The holder publishes the record in its own zone, served by a second NSD behind a second Unbound.
    const zdir = mkdtempSync(join(dir, 'challenge-'));
    const file = join(zdir, 'challenge.example.zone');
    writeFileSync(
      file,
      [
        '$ORIGIN challenge.example.',
        '@ 60 IN SOA ns1 hostmaster 1 300 60 86400 30',
        '@ 60 IN NS ns1',
        'ns1 60 IN A 127.0.0.1',
        `_mimi-challenge 60 IN TXT "${started.dns!.value}"`,
        '',
      ].join('\n'),
    );
    const nsd2 = await startNsd(zdir, { 'challenge.example': file });
    const ub2 = await startUnbound(zdir, { stubs: { 'challenge.example': `127.0.0.1@${nsd2.port}` } });
    try {
      const verifier = new PossessionVerifier({
        id: 'verifier1',
        ...configDefaults.verifier,
        key: fed.verifierKey,
        store: fed.store,
        secret: Buffer.alloc(32, 9),
        channels: {},
        dns: nodeTxtResolver({ servers: [`127.0.0.1:${ub2.port}`], timeoutMs: 1500, tries: 1 }),
        now: fed.clock.now,
      });
      const att = await verifier.checkDns01(started.challengeId);
      expect(att).toMatchObject({
        method: 'dns-01',
        csi: 'mimi:erin@challenge.example',
        holderKey: holder.publicKey,
      });
    } finally {
      await ub2.stop();
      await nsd2.stop();
    }
  }, 30_000);
});
