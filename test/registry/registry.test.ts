import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { Registry, signRegistry } from '../../src/registry/document.js';
import { RegistrySource } from '../../src/registry/source.js';
import { Federation } from '../support/federation.js';

describe('R30: the signed registry', () => {
  const fed = new Federation();
  afterAll(() => fed.close());
  const now = fed.clock.now();
  const signed = () => signRegistry(fed.unsigned, fed.registryKey.privateKey);

  it('opens with the pinned key and indexes participants', () => {
    const r = Registry.open(signed(), fed.registryKey.publicKey, { now });
    expect(r.msp('msp2')?.bit).toBe(1);
    expect(r.mspByDomain('chat.example')?.id).toBe('msp1');
    expect(r.issuer('csip1')?.kind).toBe('csip');
    expect(r.bitLength).toBe(2);
  });

  it('refuses another key, a tampered document, an expired one, and a rollback', () => {
    expect(() => Registry.open(signed(), generateKeyPair().publicKey, { now })).toThrow(
      expect.objectContaining({ code: 'registry-signature-invalid' }),
    );
    const tampered = {
      ...signed(),
      msps: [{ ...fed.unsigned.msps[0]!, domain: 'evil.example' }, fed.unsigned.msps[1]!],
    };
    expect(() => Registry.open(tampered, fed.registryKey.publicKey, { now })).toThrow(
      expect.objectContaining({ code: 'registry-signature-invalid' }),
    );
    expect(() => Registry.open(signed(), fed.registryKey.publicKey, { now: fed.unsigned.expiresAt })).toThrow(
      expect.objectContaining({ code: 'registry-expired' }),
    );
    expect(() => Registry.open(signed(), fed.registryKey.publicKey, { now, minSerial: 2 })).toThrow(
      expect.objectContaining({ code: 'registry-rollback' }),
    );
    const { sig: _sig, ...unsigned } = signed();
    expect(() => Registry.open(unsigned, fed.registryKey.publicKey, { now })).toThrow(
      expect.objectContaining({ code: 'record-invalid' }),
    );
  });

  it("carries an MSP's lookup tier (R22) under the signature; a malformed one is refused", () => {
    const tiered = {
      ...fed.unsigned,
      msps: [
        { ...fed.unsigned.msps[0]!, lookupBudget: { perMinute: 5000, perDay: 2_000_000 } },
        fed.unsigned.msps[1]!,
      ],
    };
    const doc = signRegistry(tiered, fed.registryKey.privateKey);
    const r = Registry.open(doc, fed.registryKey.publicKey, { now });
    expect(r.msp('msp1')?.lookupBudget).toEqual({ perMinute: 5000, perDay: 2_000_000 });
    expect(r.msp('msp2')?.lookupBudget).toBeUndefined();
    // Raising one's own tier breaks the signature.
    const raised = {
      ...doc,
      msps: [{ ...doc.msps[0]!, lookupBudget: { perMinute: 1e8, perDay: 1e10 } }, doc.msps[1]!],
    };
    expect(() => Registry.open(raised, fed.registryKey.publicKey, { now })).toThrow(
      expect.objectContaining({ code: 'registry-signature-invalid' }),
    );
    for (const lookupBudget of [
      { perMinute: 0, perDay: 10 },
      { perMinute: 10 },
      { perMinute: 1.5, perDay: 10 },
    ]) {
      const bad = {
        ...fed.unsigned,
        msps: [{ ...fed.unsigned.msps[0]!, lookupBudget }, fed.unsigned.msps[1]!],
      };
      expect(() =>
        Registry.open(
          signRegistry(bad as typeof tiered, fed.registryKey.privateKey),
          fed.registryKey.publicKey,
          { now },
        ),
      ).toThrow(expect.objectContaining({ code: 'record-invalid' }));
    }
  });

  it('refuses inconsistent documents even when signed: duplicate ids, bits or domains', () => {
    const dupBit = { ...fed.unsigned, msps: fed.unsigned.msps.map((m) => ({ ...m, bit: 0 })) };
    expect(() => signRegistry(dupBit, fed.registryKey.privateKey)).toThrow(
      expect.objectContaining({ code: 'record-invalid' }),
    );
    const dupId = { ...fed.unsigned, verifiers: [{ ...fed.unsigned.verifiers[0]!, id: 'msp1' }] };
    expect(() => signRegistry(dupId, fed.registryKey.privateKey)).toThrow(
      expect.objectContaining({ code: 'record-invalid' }),
    );
  });

  it('loads from a file and from a URL, and a failed or older refresh keeps the current one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mimi-reg-'));
    const file = join(dir, 'registry.json');
    writeFileSync(
      file,
      JSON.stringify(signRegistry({ ...fed.unsigned, serial: 2 }, fed.registryKey.privateKey)),
    );
    const fromFile = new RegistrySource({
      location: file,
      pinnedKey: fed.registryKey.publicKey,
      now: fed.clock.now,
    });
    expect((await fromFile.load()).serial).toBe(2);
    writeFileSync(file, JSON.stringify(signed()));
    await expect(fromFile.load()).rejects.toMatchObject({ code: 'registry-rollback' });
    writeFileSync(file, '{not json');
    await expect(fromFile.load()).rejects.toMatchObject({ code: 'malformed-json' });
    expect(fromFile.current().serial).toBe(2);

    let body = JSON.stringify(signed());
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const fromUrl = new RegistrySource({
      location: `http://127.0.0.1:${port}/registry.json`,
      pinnedKey: fed.registryKey.publicKey,
      now: fed.clock.now,
    });
    expect((await fromUrl.load()).serial).toBe(1);
    body = JSON.stringify(signRegistry({ ...fed.unsigned, serial: 3 }, generateKeyPair().privateKey));
    await expect(fromUrl.load()).rejects.toMatchObject({ code: 'registry-signature-invalid' });
    expect(fromUrl.current().serial).toBe(1);
    server.close();
  });
});
