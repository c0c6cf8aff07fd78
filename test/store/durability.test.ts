import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { HolderClient } from '../../src/client/holder.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import { Registry } from '../../src/registry/document.js';
import { freePort } from '../support/devnet.js';
import { kill9, startNode } from '../support/node-process.js';

describe('a mapping acknowledged to the caller survives kill -9 (SQLite WAL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-kill-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every acknowledged mapping is served after the process is killed and restarted', async () => {
    const port = await freePort();
    writeDevnet(dir, { port });
    const layout = readDevnet(dir);
    const registry = Registry.open(
      JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')),
      layout.registryKey,
      {
        now: Math.floor(Date.now() / 1000),
      },
    );
    const http = { baseUrl: layout.endpoint };
    const msp = new MspAgent({
      id: 'msp1',
      key: readJwkFile(layout.msps[0]!.keyFile),
      dp: { ...http, id: 'dp1' },
      registry: () => registry,
      isOwnUser: () => true,
    });
    const vKey = readJwkFile(join(dir, 'keys', 'verifier1.jwk'));
    const { signAttestation } = await import('../../src/verifier/attestation.js');

    const subs = [];
    for (let i = 0; i < 120; i++) {
      const csi = `tel:+1415555${String(2000 + i)}`;
      const holder = new HolderClient({ dp: http });
      const att = signAttestation(
        {
          csi,
          holderKey: holder.publicKey,
          method: 'sms-otp',
          issuer: 'verifier1',
          issuedAt: Math.floor(Date.now() / 1000),
          lifetimeSeconds: 86_400,
        },
        vKey.privateKey,
      );
      subs.push(
        await msp.confirm(
          holder.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/u${i}`, attestation: att }),
        ),
      );
    }
    let node = await startNode(layout.configFile);
    await msp.lookup(['tel:+14155550100']); // opens the session before the stream starts
    // Submit everything at once, eight at a time, and kill -9 the node while requests are in flight.
    const acknowledged: string[] = [];
    let killed: Promise<void> | undefined;
    const queue = [...subs];
    const worker = async () => {
      for (let sub = queue.shift(); sub !== undefined; sub = queue.shift()) {
        try {
          await msp.submit(sub);
          acknowledged.push(sub.body.csi);
          if (acknowledged.length === 50) killed = kill9(node);
        } catch {
          // refused or cut off by the kill: not acknowledged, so not promised
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await killed;
    expect(acknowledged.length).toBeGreaterThanOrEqual(50);
    expect(acknowledged.length).toBeLessThan(120);
    node = await startNode(layout.configFile);
    const results = await msp.lookup(acknowledged);
    expect(results.map((r) => r.status)).toEqual(acknowledged.map(() => 'one'));
    await kill9(node);
  });
});
