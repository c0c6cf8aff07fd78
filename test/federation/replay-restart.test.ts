import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { signPeerRequest } from '../../src/federation/http-signature.js';
import { freePort } from '../support/devnet.js';
import { kill9, startNode } from '../support/node-process.js';

const codeOf = async (res: Response) => [res.status, ((await res.json()) as { code?: string }).code];

/**
 * Security 5, R23: what a node remembers against replay is in its store, not its memory. One DP
 * node on SQLite without Redis, killed with kill -9 and restarted on the same files, still
 * refuses the signed requests it accepted before.
 */
describe('replay memory survives kill -9 (SQLite, no Redis)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-replay-'));
  let node: ChildProcess | undefined;
  afterAll(async () => {
    if (node !== undefined) await kill9(node);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a signed peer request and a session request accepted before the kill are refused after it', async () => {
    writeDevnet(dir, { port: await freePort(2), dps: 2 });
    const layout = readDevnet(dir);
    const dp1 = layout.dps[0]!;
    // dp2 (not running) is the peer whose key signs; msp1 opens a session.
    const lookup = `${dp1.endpoint}/v1/federation/lookup`;
    const body = JSON.stringify({ v: 1, origin: 'dp2', csis: ['tel:+14155550101'], budget: { hops: 0 } });
    const signed = await signPeerRequest(
      { method: 'POST', url: lookup, body },
      { id: 'dp2', key: readJwkFile(join(dir, 'keys', 'dp2.transport.jwk')).privateKey },
    );
    const peer = () => fetch(lookup, { method: 'POST', headers: signed.headers, body: signed.body });
    const unsigned = {
      v: 1,
      participant: 'msp1',
      role: 'msp',
      audience: 'dp1',
      issuedAt: Math.floor(Date.now() / 1000),
      nonce: randomBytes(16).toString('base64url'),
    };
    const sessionRequest = JSON.stringify({
      ...unsigned,
      sig: signObject(SignPurpose.Session, unsigned, readJwkFile(layout.msps[0]!.keyFile).privateKey),
    });
    const session = () =>
      fetch(`${dp1.endpoint}/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: sessionRequest,
      });

    node = await startNode(dp1.configFile);
    expect((await peer()).status).toBe(200);
    expect((await session()).status).toBe(201);
    await kill9(node);
    node = await startNode(dp1.configFile);
    expect(await codeOf(await peer())).toEqual([409, 'replayed']);
    expect(await codeOf(await session())).toEqual([409, 'replayed']);
  });
});
