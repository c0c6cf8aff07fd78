import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HolderClient } from '../../src/client/holder.js';
import { openDpCheckpoint } from '../../src/client/log-verify.js';
import { generateKeyPair, type KeyPair, keyPairToJwk } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { logReceipt } from '../../src/dp/log-pseudonym.js';
import { signPeerRequest, verifyPeerRequest } from '../../src/federation/http-signature.js';
import type { Mapping } from '../../src/protocol/records.js';
import { logOrigin, witnessName } from '../../src/protocol/transparency.js';
import { Registry, signRegistry, type UnsignedRegistry } from '../../src/registry/document.js';
import { unsignedMapping, verifyMapping } from '../../src/registry/verify-mapping.js';
import { SessionAuthority } from '../../src/server/auth.js';
import { checkConfig, configDefaults, loadedConfig } from '../../src/server/config.js';
import { readKeyFile } from '../../src/server/context.js';
import { readDpKeys } from '../../src/server/dp-keys.js';
import { signCheckpoint } from '../../src/tlog/checkpoint.js';
import { cosignNote } from '../../src/tlog/cosignature.js';
import { Federation } from '../support/federation.js';

/**
 * Registry v2 names each DP key's usage (docs/spec/registry.md §8.1.1): records (dpSig, receipts),
 * transport (peer requests, notices, sessions), log (checkpoints, cosignatures). Every verifier
 * of a DP signature takes the keys of its usage only, so a leaked key signs for its usage alone.
 */
describe('DP keys per usage: each signature verifies under its usage only', () => {
  const fed = new Federation();
  const dp2 = { records: generateKeyPair(), transport: generateKeyPair(), log: generateKeyPair() };
  const unsigned: UnsignedRegistry = {
    ...fed.unsigned,
    dps: [
      ...fed.unsigned.dps,
      {
        ...fed.unsigned.dps[0]!,
        id: 'dp2',
        endpoint: 'https://dp2.example',
        keys: {
          records: [dp2.records.publicKey],
          transport: [dp2.transport.publicKey],
          log: [dp2.log.publicKey],
        },
      },
    ],
  };
  const registry = Registry.open(
    signRegistry(unsigned, fed.registryKey.privateKey),
    fed.registryKey.publicKey,
    {
      now: fed.clock.now(),
    },
  );
  const keys = fed.dpKeys;
  const usages = ['records', 'transport', 'log'] as const;
  const others = (u: (typeof usages)[number]) => usages.filter((x) => x !== u);
  afterAll(() => fed.close());

  it('a mapping signed with the transport or log key: dp-signature-invalid', async () => {
    const { mapping } = await fed.dp.accept(fed.submission('tel:+14155550171', generateKeyPair()));
    const ctx = { registry, policy: {}, now: fed.clock.now() };
    verifyMapping(mapping, ctx);
    for (const u of others('records')) {
      const resigned: Mapping = {
        ...mapping,
        dpSig: signObject(SignPurpose.MappingDp, unsignedMapping(mapping), keys[u].privateKey),
      };
      expect(() => verifyMapping(resigned, ctx), u).toThrow(
        expect.objectContaining({ code: 'dp-signature-invalid' }),
      );
    }
  });

  it('a peer request signed with the records or log key: unauthenticated', async () => {
    const url = 'https://dp2.example/v1/federation/lookup';
    const body = JSON.stringify({ v: 1, origin: 'dp1', csis: ['tel:+14155550171'], budget: { hops: 0 } });
    const now = new Date(fed.clock.now() * 1000);
    const receive = async (key: KeyPair) => {
      const s = await signPeerRequest(
        { method: 'POST', url, body },
        { id: 'dp1', key: key.privateKey },
        {
          created: now,
        },
      );
      return verifyPeerRequest(
        { method: s.method, url: s.url, headers: s.headers, rawBody: s.body },
        registry,
        now,
      );
    };
    await expect(receive(keys.transport)).resolves.toMatchObject({ dp: 'dp1' });
    for (const u of others('transport')) {
      await expect(receive(keys[u]), u).rejects.toMatchObject({ code: 'unauthenticated' });
    }
  });

  it('a DP session request signed with the records or log key: unauthenticated', () => {
    const sessions = new SessionAuthority({ ttlSeconds: configDefaults.sessions.ttlSeconds });
    const request = (key: KeyPair, nonce: string) => {
      const req = {
        v: 1 as const,
        participant: 'dp2',
        role: 'dp' as const,
        audience: 'dp1',
        issuedAt: fed.clock.now(),
        nonce,
      };
      return { ...req, sig: signObject(SignPurpose.Session, req, key.privateKey) };
    };
    expect(
      sessions.open(request(dp2.transport, 'a'.repeat(16)), registry, 'dp1', fed.clock.now()).caller,
    ).toMatchObject({ participant: 'dp2', role: 'dp' });
    for (const u of others('transport')) {
      expect(
        () => sessions.open(request(dp2[u], 'b'.repeat(16)), registry, 'dp1', fed.clock.now()),
        u,
      ).toThrow(expect.objectContaining({ code: 'unauthenticated' }));
    }
  });

  it('a checkpoint signed with the records or transport key: log-checkpoint-invalid', () => {
    const origin = logOrigin('test', 'dp1');
    const checkpoint = (key: KeyPair) =>
      signCheckpoint(
        { origin, size: 1, rootHash: new Uint8Array(32) },
        { name: origin, privateKey: key.privateKey },
      );
    expect(openDpCheckpoint(checkpoint(keys.log), { dp: 'dp1', registry: registry }).checkpoint.size).toBe(1);
    for (const u of others('log')) {
      expect(() => openDpCheckpoint(checkpoint(keys[u]), { dp: 'dp1', registry: registry }), u).toThrow(
        expect.objectContaining({ code: 'log-checkpoint-invalid' }),
      );
    }
  });

  it("a cosignature made with the witness's records or transport key does not count", () => {
    const origin = logOrigin('test', 'dp1');
    const note = signCheckpoint(
      { origin, size: 1, rootHash: new Uint8Array(32) },
      { name: origin, privateKey: keys.log.privateKey },
    );
    const cosigned = (key: KeyPair) =>
      cosignNote(note, { name: witnessName('test', 'dp2'), privateKey: key.privateKey }, fed.clock.now());
    const policy = { minCosignatures: 1 };
    expect(
      openDpCheckpoint(cosigned(dp2.log), { dp: 'dp1', registry: registry, policy: policy }).cosignedBy,
    ).toEqual([witnessName('test', 'dp2')]);
    for (const u of others('log')) {
      expect(
        () => openDpCheckpoint(cosigned(dp2[u]), { dp: 'dp1', registry: registry, policy: policy }),
        u,
      ).toThrow(expect.objectContaining({ code: 'log-cosignatures-missing' }));
    }
  });

  it('an acceptance receipt signed with the transport or log key: log-receipt-invalid', () => {
    const holder = generateKeyPair();
    const client = new HolderClient({ dp: { baseUrl: 'https://dp1.example' }, key: holder });
    const receipt = (key: KeyPair) =>
      logReceipt({
        dp: 'dp1',
        dpKey: key.privateKey,
        mappingId: 'A'.repeat(43),
        holderKey: holder.publicKey,
        pseudonym: new Uint8Array(32).fill(7),
      });
    expect(
      client.openReceipt(receipt(keys.records), { mappingId: 'A'.repeat(43), registry: registry }),
    ).toHaveLength(43);
    for (const u of others('records')) {
      expect(
        () => client.openReceipt(receipt(keys[u]), { mappingId: 'A'.repeat(43), registry: registry }),
        u,
      ).toThrow(expect.objectContaining({ code: 'log-receipt-invalid' }));
    }
  });
});

describe('the registry document: versions and per-usage keys', () => {
  const fed = new Federation();
  afterAll(() => fed.close());
  const open = (doc: unknown) => Registry.open(doc, fed.registryKey.publicKey, { now: fed.clock.now() });
  const sign = (doc: UnsignedRegistry) => signRegistry(doc, fed.registryKey.privateKey);

  it('refuses a v2 document with one key for two usages, or for two DPs (record-invalid)', () => {
    const dp = fed.unsigned.dps[0]!;
    const twice = { ...dp, keys: { ...dp.keys, log: dp.keys.records } };
    expect(() => sign({ ...fed.unsigned, dps: [twice] })).toThrow(
      expect.objectContaining({ code: 'record-invalid' }),
    );
    const copy = { ...dp, id: 'dp2' };
    expect(() => sign({ ...fed.unsigned, dps: [dp, copy] })).toThrow(
      expect.objectContaining({ code: 'record-invalid' }),
    );
  });

  it('opens a v1 document (transition), its key list serving every usage; refuses v1 keys in v2 and v3', () => {
    const one = generateKeyPair().publicKey;
    const { keys: _k, ...rest } = fed.unsigned.dps[0]!;
    const v1 = open(sign({ ...fed.unsigned, v: 1, dps: [{ ...rest, keys: [one] }] }));
    expect(v1.dpKeys('dp1', 'records')).toEqual([one]);
    expect(v1.dpKeys('dp1', 'transport')).toEqual([one]);
    expect(v1.dpKeys('dp1', 'log')).toEqual([one]);
    const doc = sign(fed.unsigned);
    expect(() => open({ ...doc, dps: [{ ...rest, keys: [one] }] })).toThrow(
      expect.objectContaining({ code: 'record-invalid' }),
    );
    expect(() => open({ ...doc, v: 3 })).toThrow(expect.objectContaining({ code: 'unknown-version' }));
    // A node on a v2 document takes no v1 one after it, whatever its serial (§8.1.2).
    const later = sign({ ...fed.unsigned, v: 1, serial: 9, dps: [{ ...rest, keys: [one] }] });
    expect(() =>
      Registry.open(later, fed.registryKey.publicKey, { now: fed.clock.now(), minSerial: 1, minVersion: 2 }),
    ).toThrow(expect.objectContaining({ code: 'registry-rollback' }));
  });
});

describe('a node signs with the key the registry names for each usage (config)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-dp-keys-'));
  const fed = new Federation();
  afterAll(async () => {
    await fed.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const write = (name: string, pair: KeyPair) => {
    writeFileSync(join(dir, name), JSON.stringify(keyPairToJwk(pair)));
    return name;
  };
  const files = {
    records: write('records.jwk', fed.dpKeys.records),
    transport: write('transport.jwk', fed.dpKeys.transport),
    log: write('log.jwk', fed.dpKeys.log),
  };
  const loaded = (dp: object) => {
    const config = checkConfig({
      dp: { id: 'dp1', ...dp },
      registry: { location: 'registry.json', pinnedKey: fed.registryKey.publicKey },
      store: { backend: 'sqlite', path: 'dp1.db' },
      listen: { host: '127.0.0.1', port: 7300 },
    });
    return loadedConfig(config, dir);
  };

  it('reads one key per usage', () => {
    const keys = readDpKeys(loaded({ keyFiles: files }), fed.registry, readKeyFile);
    expect(keys.log.publicKey).toBe(fed.dpKeys.log.publicKey);
    expect(keys.transport.publicKey).toBe(fed.dpKeys.transport.publicKey);
  });

  it('refuses a key given for another usage, and one key for all under a v2 registry (config-invalid)', () => {
    const swapped = { ...files, log: files.records };
    const good = loaded({ keyFiles: swapped }); // a valid config: the registry is what refuses it
    expect(() => readDpKeys(good, fed.registry, readKeyFile)).toThrow(
      expect.objectContaining({ code: 'config-invalid' }),
    );
    const single = loaded({ keyFile: files.records });
    expect(() => readDpKeys(single, fed.registry, readKeyFile)).toThrow(
      expect.objectContaining({ code: 'config-invalid' }),
    );
    expect(() => loaded({})).toThrow(expect.objectContaining({ code: 'config-invalid' }));
    expect(() => loaded({ keyFile: files.records, keyFiles: files })).toThrow(
      expect.objectContaining({ code: 'config-invalid' }),
    );
  });
});
