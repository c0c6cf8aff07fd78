import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import { HolderClient, LookupClient, RegistrySource } from '../../src/client/index.js';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

const bob = 'tel:+14155550101';

describe('LookupClient: verified lookups with no MSP agent (R3, R9)', () => {
  let net: RunningDevnet;
  let mspKey: KeyPair;
  let published: string;
  const dp = () => ({ baseUrl: net.url, id: 'dp1' });

  beforeAll(async () => {
    net = await startDevnet();
    mspKey = readJwkFile(net.layout.msps.find((m) => m.id === 'msp1')!.keyFile);
    const holder = net.holder();
    const attestation = await net.prove(holder, bob);
    const agent = net.msp('msp1');
    const signed = holder.signMapping({
      csi: bob,
      msp: 'msp1',
      ssi: 'mimi://chat.example/u/bob',
      attestation,
    });
    published = (await agent.submit(await agent.confirm(signed))).id;
  });
  afterAll(() => net.close());

  it('takes the registry as a Registry, a RegistrySource or a function, and verifies what it finds', async () => {
    const source = new RegistrySource({
      location: join(net.layout.dir, 'registry.json'),
      pinnedKey: net.layout.registryKey,
      now: net.clock.now,
    });
    await source.load();
    for (const registry of [net.registry, source, () => net.registry]) {
      const lookups = new LookupClient({
        dp: dp(),
        registry,
        credential: { participant: 'msp1', key: mspKey },
        now: net.clock.now,
      });
      const [r] = await lookups.lookup([bob]);
      expect(r?.status).toBe('one');
      expect(r?.mappings.map((m) => m.id)).toEqual([published]);
      const [c] = await lookups.lookupCompact([bob]);
      expect(c?.msps).toEqual(['msp1']);
    }
  });

  it('authenticates with bearer tokens from a function, e.g. an MSP session kept elsewhere', async () => {
    const agent = net.msp('msp1');
    const lookups = new LookupClient({
      dp: dp(),
      registry: net.registry,
      credential: () => agent.sessionToken(),
      now: net.clock.now,
    });
    const { results, peers } = await lookups.lookupWithPeers([bob]);
    expect(results[0]?.mappings.map((m) => m.id)).toEqual([published]);
    expect(peers).toEqual([]);
  });

  it('a key the registry does not name for the MSP opens no session', async () => {
    const lookups = new LookupClient({
      dp: dp(),
      registry: net.registry,
      credential: { participant: 'msp1', key: generateKeyPair() },
      now: net.clock.now,
    });
    await expect(lookups.lookup([bob])).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('keeps the holder key private: only its public half is readable', () => {
    const holder = new HolderClient({ dp: { baseUrl: net.url } });
    expect(typeof holder.publicKey).toBe('string');
    expect(Object.keys(holder)).toEqual([]);
    expect('key' in holder).toBe(false);
    expect(JSON.stringify(holder)).toBe('{}');
  });
});
