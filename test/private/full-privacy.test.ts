import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryOprfCache } from '../../src/client/oprf-cache.js';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { decodeResponse, encodeRequest } from '../../src/crypto/bhttp.js';
import {
  decapsulateResponse,
  decodeKeyConfig,
  encapsulateRequest,
  OhttpMediaType,
} from '../../src/crypto/ohttp.js';
import { createSodiumOprfClient, type OprfClientEngine } from '../../src/crypto/oprf-client-sodium.js';
import { fromB64u } from '../../src/protocol/encoding.js';
import { parsePrivateTokenHeader } from '../../src/protocol/privacy-pass.js';
import { checkRelayConfig, createRelay, loadedRelayConfig, type Relay } from '../../src/server/relay.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R9, R26 (issue 14, "Done means"): the full-privacy path, over real HTTP with real nodes: the
 * SDK's private lookup (VOPRF) through an Oblivious HTTP relay to dp1's gateway, each evaluation
 * paid with a Privacy Pass token from the user's own MSP issuer, carried inside the encapsulated
 * request. The relay connects from 127.0.0.3, the client from 127.0.0.1: the client's address is
 * a string the DP must never hold. docs/privacy.md, row "private, through a relay, with tokens".
 */
describe('private, through a relay, with tokens', () => {
  const dpLines: string[] = [];
  const relayLines: string[] = [];
  let net: RunningDevnet;
  let relay: Relay;
  let relayUrl: string;
  let oprf: OprfClientEngine;
  const relayAddress = '127.0.0.3';
  const clientAddress = '127.0.0.1';
  const bob = 'tel:+14155550101';
  const carol = 'mailto:carol@example.org';
  const nobody = 'tel:+14155550150';
  const asked = [bob, carol, nobody];
  /** Every token header the SDK spent, in order. */
  const spent: string[] = [];

  const client = (opts: Partial<ConstructorParameters<typeof PrivateLookupClient>[0]> = {}) =>
    new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      now: net.clock.now,
      oprf,
      ...opts,
    });
  /** alice's tokens at msp3's issuer, for dp1, noting each one spent. */
  const aliceTokens = () => {
    const tokens = net.tokens('msp3', 'alice');
    return {
      async next() {
        const h = await tokens.next();
        spent.push(h);
        return h;
      },
    };
  };

  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        issuers: { tokensPerDay: 20 },
        app: { logger: { level: 'trace', stream: { write: (l: string) => dpLines.push(l) } } },
      },
    );
    oprf = await createSodiumOprfClient();
    const msp1 = net.msp('msp1');
    const hb = net.holder();
    await msp1.submit(
      await msp1.confirm(
        hb.signMapping({
          csi: bob,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/bob',
          attestation: await net.prove(hb, bob),
        }),
      ),
    );
    const hc = net.holder();
    await hc.optOut(await net.prove(hc, carol));
    relay = await createRelay(
      loadedRelayConfig(
        checkRelayConfig({
          listen: { host: '127.0.0.1', port: 0 },
          registry: { location: 'registry.json', pinnedKey: net.layout.registryKey },
          egressAddress: relayAddress,
        }),
        net.layout.dir,
      ),
      {
        logger: { level: 'trace', stream: { write: (l: string) => relayLines.push(l) } },
        now: net.clock.now,
      },
    );
    relayUrl = await relay.listen();
  });
  afterAll(async () => {
    await relay?.close();
    await net?.close();
  });

  it('R9, R26: the verified answer of the direct lookup; the DP holds no address, CSI, OPRF output or token link; the relay nothing inside', async () => {
    const session = await net.msp('msp3').sessionToken();
    const direct = await client({ credential: () => session }).lookup(asked);
    expect(direct.map((r) => r.status)).toEqual(['one', 'opt-out', 'none']);
    const dpFrom = dpLines.length;
    const relayFrom = relayLines.length;
    const cache = new MemoryOprfCache();
    const full = client({ relay: relayUrl, tokens: aliceTokens(), cache });
    expect(await full.lookup(asked)).toEqual(direct);
    // One evaluation request for the three CSIs: one token, redeemed at dp1 through the gateway.
    expect(full.lastStats?.evaluated).toBe(3);
    expect(spent).toHaveLength(1);
    const metrics = (await net.ctx.metrics.render()).body;
    expect(metrics).toMatch(/mimi_private_tokens_total\{outcome="redeemed"\} 1/);

    const token = parsePrivateTokenHeader(spent[0]!)!;
    const nonce = Buffer.from(token.subarray(2, 34)).toString('hex');
    const keyId = Buffer.from(token.subarray(66, 98)).toString('hex');
    const tokenB64 = Buffer.from(token).toString('base64url');
    const outs = asked.map((csi) => cache.get('dp1', full.lastStats!.epochs[0]!, csi)!);
    const secrets = [...asked, '4155550101', '4155550150', 'carol@', tokenB64.slice(0, 40), nonce, keyId];

    // The DP's logs: the gateway saw the relay's address; nothing of the client, the CSIs, the
    // OPRF outputs or the token; the evaluation's own lines name neither address nor MSP.
    const log = dpLines.slice(dpFrom).join('');
    expect(log).toContain('"url":"/v1/ohttp"');
    expect(log).toContain('"url":"/v1/private/evaluate"');
    expect(log).not.toContain(clientAddress);
    for (const s of secrets) expect(log).not.toContain(s);
    for (const o of outs) {
      for (const enc of ['base64url', 'hex', 'base64'] as const)
        expect(log).not.toContain(Buffer.from(o).toString(enc));
    }
    const evalIds = new Set(
      dpLines
        .slice(dpFrom)
        .filter((l) => l.includes('/v1/private/evaluate'))
        .map((l) => (JSON.parse(l) as { reqId: string }).reqId),
    );
    expect(evalIds.size).toBe(1);
    for (const l of dpLines.slice(dpFrom)) {
      if (!evalIds.has((JSON.parse(l) as { reqId?: string }).reqId ?? '')) continue;
      for (const s of [clientAddress, relayAddress, 'msp3', net.registry.msp('msp3')!.issuer!.name])
        expect(l).not.toContain(s);
    }
    // Metrics: no address, and the token counter labelled by outcome only.
    expect(metrics).not.toContain(clientAddress);
    expect(metrics).not.toContain(relayAddress);
    for (const l of metrics.split('\n').filter((x) => x.includes('token')))
      expect(l).not.toMatch(/msp3|issuer\./);

    // Tables and files: the spent token is (key id, nonce, key expiry) and nothing ties it to an
    // address; no table holds the client's address, a CSI or an OPRF output.
    const dbFile = join(net.layout.dir, 'dp1.db');
    const db = new Database(dbFile, { readonly: true });
    try {
      expect(db.prepare('SELECT * FROM spent_tokens WHERE nonce = ?').get(nonce)).toEqual({
        key_id: keyId,
        nonce,
        expires_at: net.registry.msp('msp3')!.issuer!.tokenKeys[0]!.notAfter,
      });
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[];
      for (const { name } of tables) {
        const dump = JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all(), (_k, v) =>
          Buffer.isBuffer(v) ? v.toString('hex') : v,
        );
        expect(dump).not.toContain(clientAddress);
        expect(dump).not.toContain(relayAddress);
        for (const o of outs) expect(dump).not.toContain(Buffer.from(o).toString('hex'));
      }
    } finally {
      db.close();
    }
    for (const file of [dbFile, `${dbFile}-wal`]) {
      if (!existsSync(file)) continue;
      const content = readFileSync(file);
      for (const o of outs) expect(content.includes(Buffer.from(o))).toBe(false);
      expect(content.includes(Buffer.from(clientAddress))).toBe(false);
    }

    // The relay's logs: the client's address and the DP, never what was inside.
    const relayLog = relayLines.slice(relayFrom).join('');
    expect(relayLog).toContain('"url":"/v1/relay/:dp"');
    expect(relayLog).toContain('"dp":"dp1"');
    for (const s of [...secrets, '/v1/private', 'PrivateToken', 'evaluate'])
      expect(relayLog).not.toContain(s);
  });

  it('a token double-spent through the relay is refused with token-spent, encapsulated, and counted', async () => {
    const header = spent[0] ?? (await aliceTokens().next());
    // The SDK: a client that pays with the spent token again gets the DP's code.
    const replaying = client({ relay: relayUrl, tokens: { next: async () => header } });
    await expect(replaying.lookup([bob])).rejects.toMatchObject({ code: 'token-spent' });
    // On the wire: the relay answers 200 with an encapsulated response; the 401 is inside it.
    const epochs = (await (await fetch(`${net.url}/v1/private/epochs`)).json()) as { current: number };
    const cfg = decodeKeyConfig(fromB64u(net.registry.dp('dp1')!.ohttp!.keyConfigs[0]!, 'k'));
    const element = Buffer.from('e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76', 'hex');
    const { encapsulated, context } = await encapsulateRequest(
      cfg,
      encodeRequest({
        method: 'POST',
        scheme: 'http',
        authority: new URL(net.url).host,
        path: '/v1/private/evaluate',
        headers: [
          ['date', new Date(net.clock.now() * 1000).toUTCString()],
          ['content-type', 'application/json'],
          ['authorization', header],
        ],
        content: new TextEncoder().encode(
          JSON.stringify({ v: 1, epoch: epochs.current, elements: [element.toString('base64url')] }),
        ),
      }),
    );
    const res = await fetch(`${relayUrl}/v1/relay/dp1`, {
      method: 'POST',
      headers: { 'content-type': OhttpMediaType.Request },
      body: encapsulated,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(OhttpMediaType.Response);
    const inner = decodeResponse(decapsulateResponse(context, new Uint8Array(await res.arrayBuffer())));
    expect(inner.status).toBe(401);
    expect((JSON.parse(Buffer.from(inner.content).toString()) as { code: string }).code).toBe('token-spent');
    const metrics = (await net.ctx.metrics.render()).body;
    expect(metrics).toMatch(/mimi_private_tokens_total\{outcome="token-spent"\} 2/);
  });
});
