import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resignDevnetRegistry } from '../../src/cli/devnet-files.js';
import { ohttpFetch } from '../../src/client/ohttp-transport.js';
import { MemoryOprfCache } from '../../src/client/oprf-cache.js';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { decodeResponse, encodeRequest, type FieldLine } from '../../src/crypto/bhttp.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import {
  decapsulateResponse,
  decodeKeyConfig,
  encapsulateRequest,
  type GatewayKey,
  gatewayKeyFromPrivate,
  OhttpMediaType,
} from '../../src/crypto/ohttp.js';
import { createSodiumOprfClient, type OprfClientEngine } from '../../src/crypto/oprf-client-sodium.js';
import { fromB64u } from '../../src/protocol/encoding.js';
import { Registry } from '../../src/registry/document.js';
import { relayDefaults } from '../../src/server/config.js';
import { innerRequestHeaders } from '../../src/server/ohttp-gateway.js';
import { checkRelayConfig, createRelay, loadedRelayConfig, type Relay } from '../../src/server/relay.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R9, R26 (issue 14 item 2): the private lookup through an Oblivious HTTP relay (RFC 9458) to the
 * DP's gateway, over real HTTP. The relay connects to the gateway from 127.0.0.3, the client to
 * the relay from 127.0.0.1, so "the client's address" is a string the gateway must never hold.
 */
describe('private lookup through an OHTTP relay and the DP gateway', () => {
  const gatewayLines: string[] = [];
  const relayLines: string[] = [];
  let net: RunningDevnet;
  let relay: Relay;
  let relayUrl: string;
  let oprf: OprfClientEngine;
  const relayAddress = '127.0.0.3';
  const clientAddress = '127.0.0.1';
  const bob = 'tel:+14155550101';
  const carol = 'mailto:carol@example.org';
  const dave = 'tel:+14155550102';
  const nobody = 'tel:+14155550150';
  const asked = [bob, carol, dave, nobody];

  const gatewayKey = () => decodeKeyConfig(fromB64u(net.registry.dp('dp1')!.ohttp!.keyConfigs[0]!, 'k'));
  const client = (opts: Partial<ConstructorParameters<typeof PrivateLookupClient>[0]> = {}) =>
    new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      now: net.clock.now,
      oprf,
      ...opts,
    });

  /** One request straight to the gateway: its HTTP status, type and body. */
  async function post(body: Uint8Array, type: string = OhttpMediaType.Request) {
    const res = await fetch(`${net.url}/v1/ohttp`, {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    });
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: new Uint8Array(await res.arrayBuffer()),
    };
  }

  function inner(method: string, path: string, headers: FieldLine[] = [], content = '') {
    return encodeRequest({
      method,
      scheme: 'http',
      authority: new URL(net.url).host,
      path,
      headers: [['date', new Date(net.clock.now() * 1000).toUTCString()], ...headers],
      content: new TextEncoder().encode(content),
    });
  }

  beforeAll(async () => {
    net = await startDevnet(
      {},
      { app: { logger: { level: 'trace', stream: { write: (l: string) => gatewayLines.push(l) } } } },
    );
    oprf = await createSodiumOprfClient();
    const msp1 = net.msp('msp1');
    const msp2 = net.msp('msp2');
    const hb = net.holder();
    const ab = await net.prove(hb, bob);
    await msp1.submit(
      await msp1.confirm(
        hb.signMapping({ csi: bob, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: ab }),
      ),
    );
    await msp2.submit(
      await msp2.confirm(
        hb.signMapping({
          csi: bob,
          msp: 'msp2',
          ssi: 'mimi://talk.example/u/bob',
          tag: 'work',
          attestation: ab,
        }),
      ),
    );
    const hc = net.holder();
    await hc.optOut(await net.prove(hc, carol));
    const hd = net.holder();
    const ad = await net.prove(hd, dave);
    await msp2.submit(
      await msp2.confirm(
        hd.signMapping({ csi: dave, msp: 'msp2', ssi: 'mimi://talk.example/u/dave', attestation: ad }),
      ),
    );
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

  it('R9, R26: the same verified answer as the direct lookup; the gateway holds no client address, CSI or OPRF output', async () => {
    const direct = await client().lookup(asked);
    expect(direct.map((r) => r.status)).toEqual(['several', 'opt-out', 'one', 'none']);
    const dbFile = join(net.layout.dir, 'dp1.db');
    const db = new Database(dbFile, { readonly: true });
    // The MSP's session is made directly (an MSP server's own request); the lookups then are not.
    const token = await net.msp('msp3').sessionToken();
    const gatewayFrom = gatewayLines.length;
    const relayFrom = relayLines.length;
    const cache = new MemoryOprfCache();
    // Credentialed (the Authorization header reaches /v1/private/evaluate inside) and anonymous.
    const viaRelay = client({ relay: relayUrl, cache, credential: () => token });
    const through = await viaRelay.lookup(asked);
    expect(through).toEqual(direct);
    const anonymous = await client({ relay: relayUrl, bucketBatch: false }).lookup(asked);
    expect(anonymous).toEqual(direct);

    const log = gatewayLines.slice(gatewayFrom).join('');
    expect(log).toContain('"url":"/v1/ohttp"');
    expect(log).toContain('"url":"/v1/private/evaluate"');
    expect(log).toContain(relayAddress);
    expect(log).not.toContain(clientAddress);
    const outs = asked.map((csi) => cache.get('dp1', viaRelay.lastStats!.epochs[0]!, csi)!);
    const secrets = [...asked, '4155550101', '4155550150', 'carol@', token];
    for (const s of secrets) expect(log).not.toContain(s);
    for (const o of outs) {
      for (const enc of ['base64url', 'hex', 'base64'] as const)
        expect(log).not.toContain(Buffer.from(o).toString(enc));
    }
    // Metrics: by route, method and status, never an address.
    const metrics = (await net.ctx.metrics.render()).body;
    expect(metrics).toContain('route="/v1/ohttp"');
    expect(metrics).not.toContain(clientAddress);
    expect(metrics).not.toContain(relayAddress);
    // Tables and files: no address, no CSI, no OPRF output.
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    for (const { name } of tables) {
      const text = JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all(), (_k, v) =>
        Buffer.isBuffer(v) ? v.toString('hex') : v,
      );
      expect(text).not.toContain(clientAddress);
      expect(text).not.toContain(relayAddress);
    }
    db.close();
    for (const file of [dbFile, `${dbFile}-wal`]) {
      if (!existsSync(file)) continue;
      const content = readFileSync(file);
      for (const o of outs) expect(content.includes(Buffer.from(o))).toBe(false);
      expect(content.includes(Buffer.from(clientAddress))).toBe(false);
    }

    // The relay's logs: who asked and which DP, never what (no path, body, token or CSI inside).
    const relayLog = relayLines.slice(relayFrom).join('');
    expect(relayLog).toContain('"url":"/v1/relay/:dp"');
    expect(relayLog).toContain('"dp":"dp1"');
    for (const s of [...secrets, '/v1/private', 'Bearer', 'evaluate']) expect(relayLog).not.toContain(s);
  });

  it('the relay forwards only to gateways the verified registry lists', async () => {
    for (const target of ['dp9', 'msp1', 'verifier1', encodeURIComponent('http://127.0.0.1:1/x')]) {
      const res = await fetch(`${relayUrl}/v1/relay/${target}`, {
        method: 'POST',
        headers: { 'content-type': OhttpMediaType.Request },
        body: new Uint8Array(64),
      });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('relay-target-unknown');
    }
    // A client asked for a DP without a gateway is refused before anything is sent.
    const noGateway = ohttpFetch({ relay: relayUrl, dp: 'dp9', registry: () => net.registry });
    await expect(noGateway(new URL(`${net.url}/v1/private/epochs`), {})).rejects.toMatchObject({
      code: 'relay-target-unknown',
    });
  });

  it('the relay adds nothing that names the client and bounds sizes', async () => {
    // A gateway stand-in that records what arrives: only the content type and length.
    const seen: Record<string, string | string[] | undefined>[] = [];
    const tooLarge = relayDefaults.limits.maxResponseBytes + 2 ** 20;
    const probe = createServer((req, res) => {
      seen.push(req.headers);
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
      });
      req.on('end', () => {
        const type = { 'content-type': OhttpMediaType.Response };
        // 101 bytes asked: an answer declared larger than the relay takes (its default bound);
        // 102: one that grows past it without declaring its length.
        if (n === 101) res.writeHead(200, { ...type, 'content-length': String(tooLarge) }).write('x');
        else if (n === 102) {
          res.writeHead(200, type);
          const chunk = Buffer.alloc(2 ** 20);
          let sent = 0;
          const more = () => {
            while (sent < tooLarge / chunk.length && res.write(chunk)) sent++;
            if (sent < tooLarge / chunk.length) res.once('drain', more);
            else res.end();
          };
          more();
        } else res.writeHead(200, type).end('x');
      });
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    resignDevnetRegistry(net.layout, (doc) => ({
      ...doc,
      dps: doc.dps
        .map((d) => (d.id === 'dp1' ? d : d))
        .concat([
          {
            id: 'probe',
            endpoint: `http://127.0.0.1:${port}`,
            // A key serves one DP and one usage (registry v2): the probe gets keys of its own.
            keys: {
              records: [generateKeyPair().publicKey],
              transport: [generateKeyPair().publicKey],
              log: [generateKeyPair().publicKey],
            },
            region: 'us',
            operator: 'Probe',
            throughputClass: 'standard',
            ohttp: { v: 1, gateway: `http://127.0.0.1:${port}/g`, keyConfigs: doc.dps[0]!.ohttp!.keyConfigs },
          },
        ]),
    }));
    await relay.registry.load();
    try {
      const res = await fetch(`${relayUrl}/v1/relay/probe`, {
        method: 'POST',
        headers: {
          'content-type': OhttpMediaType.Request,
          'x-forwarded-for': '10.1.2.3',
          cookie: 'id=42',
          'user-agent': 'client/1.0',
          authorization: 'Bearer secret',
        },
        body: new Uint8Array(100),
      });
      expect(res.status).toBe(200);
      expect(Object.keys(seen[0]!).sort()).toEqual(['connection', 'content-length', 'content-type', 'host']);
      const big = await fetch(`${relayUrl}/v1/relay/probe`, {
        method: 'POST',
        headers: { 'content-type': OhttpMediaType.Request },
        body: new Uint8Array(relayDefaults.limits.maxRequestBytes + 1),
      });
      expect(big.status).toBe(413);
      expect(((await big.json()) as { code: string }).code).toBe('body-too-large');
      // The gateway's answer is bounded too: refused whole when its declared length is too
      // large, cut off at the bound when it grows past it undeclared.
      const ask = (bytes: number) =>
        fetch(`${relayUrl}/v1/relay/probe`, {
          method: 'POST',
          headers: { 'content-type': OhttpMediaType.Request },
          body: new Uint8Array(bytes),
        });
      const declared = await ask(101);
      expect(declared.status).toBe(413);
      expect(((await declared.json()) as { code: string }).code).toBe('body-too-large');
      const undeclared = await ask(102);
      await expect(undeclared.arrayBuffer()).rejects.toThrow();
    } finally {
      probe.close();
    }
  });

  it('bytes tampered with by a relay are refused with a code, either way', async () => {
    const tamper = (which: 'request' | 'response'): Promise<Server> =>
      new Promise((resolve) => {
        const srv = createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            const body = Buffer.concat(chunks);
            if (which === 'request') body[body.length - 3]! ^= 1;
            const fwd = request(
              new URL(req.url!, relayUrl),
              { method: 'POST', headers: { 'content-type': OhttpMediaType.Request } },
              (up) => {
                const back: Buffer[] = [];
                up.on('data', (c: Buffer) => back.push(c));
                up.on('end', () => {
                  const answer = Buffer.concat(back);
                  if (which === 'response' && up.statusCode === 200) answer[answer.length - 1]! ^= 1;
                  res.writeHead(up.statusCode!, { 'content-type': up.headers['content-type']! }).end(answer);
                });
              },
            );
            fwd.end(body);
          });
        });
        srv.listen(0, '127.0.0.1', () => resolve(srv));
      });
    for (const which of ['request', 'response'] as const) {
      const srv = await tamper(which);
      try {
        const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
        await expect(client({ relay: url }).lookup([bob])).rejects.toMatchObject({
          code: 'ohttp-decrypt-failed',
        });
      } finally {
        srv.close();
      }
    }
  });

  it('malformed encapsulations, wrong key ids and other suites are refused in plain problems', async () => {
    const cfg = gatewayKey();
    const codeOf = async (r: { status: number; type: string; body: Uint8Array }) => {
      expect(r.type).toContain('application/problem+json');
      return {
        status: r.status,
        code: (JSON.parse(Buffer.from(r.body).toString()) as { code: string }).code,
      };
    };
    expect(await codeOf(await post(new Uint8Array(10)))).toEqual({ status: 400, code: 'ohttp-malformed' });
    expect(await codeOf(await post(new Uint8Array(0)))).toMatchObject({ status: 400 });
    const { encapsulated } = await encapsulateRequest(cfg, inner('GET', '/v1/private/epochs'));
    const wrongId = encapsulated.slice();
    wrongId[0] = (cfg.keyId + 1) % 256;
    expect(await codeOf(await post(wrongId))).toEqual({ status: 400, code: 'ohttp-key-unknown' });
    const otherAead = encapsulated.slice();
    otherAead[6] = 2;
    expect(await codeOf(await post(otherAead))).toEqual({ status: 400, code: 'ohttp-key-unknown' });
    const flipped = encapsulated.slice();
    flipped[20]! ^= 1;
    expect(await codeOf(await post(flipped))).toEqual({ status: 400, code: 'ohttp-decrypt-failed' });
    expect(await codeOf(await post(encapsulated.slice(0, 60)))).toEqual({
      status: 400,
      code: 'ohttp-decrypt-failed',
    });
    // The keys are served as application/ohttp-keys, the registry's first.
    const keys = await fetch(`${net.url}/v1/ohttp/keys`);
    expect(keys.headers.get('content-type')).toBe(OhttpMediaType.Keys);
    expect(
      Buffer.from(await keys.arrayBuffer())
        .subarray(2)
        .toString('base64url'),
    ).toBe(net.registry.dp('dp1')!.ohttp!.keyConfigs[0]);
  });

  it('inside: only the private lookup is forwarded; a replay, a missing or stale Date, a bad inner message are refused encapsulated', async () => {
    const cfg = gatewayKey();
    const send = async (bytes: Uint8Array) => {
      const { encapsulated, context } = await encapsulateRequest(cfg, bytes);
      const r = await post(encapsulated);
      expect(r.status).toBe(200);
      expect(r.type).toBe(OhttpMediaType.Response);
      return { encapsulated, answer: decodeResponse(decapsulateResponse(context, r.body)), context };
    };
    const codeIn = (a: { content: Uint8Array }) =>
      (JSON.parse(Buffer.from(a.content).toString()) as { code: string }).code;
    for (const [method, path] of [
      ['GET', '/v1/registry'],
      ['POST', '/v1/lookup'],
      ['GET', '/.well-known/mimi-discovery'],
      ['GET', '/v1/private/epochs?x=1'],
      ['GET', '/v1/ohttp/keys'],
      ['POST', '/v1/ohttp'],
    ] as const) {
      const { answer } = await send(inner(method, path));
      expect(answer.status).toBe(404);
      expect(codeIn(answer)).toBe('ohttp-target-forbidden');
    }
    const ok = await send(inner('GET', '/v1/private/epochs'));
    expect(ok.answer.status).toBe(200);
    // The same encapsulated request again: refused, encapsulated to the same client.
    const again = await post(ok.encapsulated);
    const replay = decodeResponse(decapsulateResponse(ok.context, again.body));
    expect([replay.status, codeIn(replay)]).toEqual([409, 'ohttp-replayed']);
    // No Date, or one outside the window.
    const noDate = encodeRequest({
      method: 'GET',
      scheme: 'http',
      authority: 'x',
      path: '/v1/private/epochs',
      headers: [],
      content: new Uint8Array(),
    });
    expect(codeIn((await send(noDate)).answer)).toBe('ohttp-date-invalid');
    const stale = encodeRequest({
      method: 'GET',
      scheme: 'http',
      authority: 'x',
      path: '/v1/private/epochs',
      headers: [['date', new Date((net.clock.now() - 600) * 1000).toUTCString()]],
      content: new Uint8Array(),
    });
    expect(codeIn((await send(stale)).answer)).toBe('ohttp-date-invalid');
    // Not Binary HTTP inside.
    expect(codeIn((await send(new Uint8Array([9, 9, 9]))).answer)).toBe('ohttp-malformed');
    // The inner Authorization reaches the endpoint: a bad session is the endpoint's refusal.
    const evaluate = await send(
      inner(
        'POST',
        '/v1/private/evaluate',
        [
          ['content-type', 'application/json'],
          ['authorization', 'Bearer nope'],
        ],
        '{"v":1,"epoch":1,"elements":[]}',
      ),
    );
    expect([evaluate.answer.status, codeIn(evaluate.answer)]).toEqual([401, 'unauthenticated']);
    // Address-naming fields never reach the endpoint.
    expect(
      innerRequestHeaders([
        ['x-forwarded-for', '10.0.0.1'],
        ['forwarded', 'for=10.0.0.1'],
        ['x-real-ip', '10.0.0.1'],
        ['authorization', 'PrivateToken token=abc'],
      ]),
    ).toEqual({
      authorization: 'PrivateToken token=abc',
    });
  });

  it('a gateway key rotated mid-sync: the client takes the registry next key and the sync completes', async () => {
    // Rotation with an overlap ends: key 1 is retired and key 2 announced in a new registry.
    const sk2 = randomBytes(32);
    const key2: GatewayKey = await gatewayKeyFromPrivate(2, sk2);
    const old = net.registry;
    resignDevnetRegistry(net.layout, (doc) => ({
      ...doc,
      dps: doc.dps.map((d) =>
        d.id === 'dp1'
          ? { ...d, ohttp: { ...d.ohttp!, keyConfigs: [Buffer.from(key2.config).toString('base64url')] } }
          : d,
      ),
    }));
    const next = Registry.open(
      JSON.parse(readFileSync(join(net.layout.dir, 'registry.json'), 'utf8')),
      net.layout.registryKey,
      {
        now: net.clock.now(),
      },
    );
    let current = old;
    let calls = 0;
    const byId = net.ctx.ohttp!.byId as Map<number, GatewayKey>;
    const key1 = byId.get(1)!;
    const rotating = client({
      relay: relayUrl,
      registry: () => current,
      evaluateChunk: 1,
      // Called before each evaluation request: the gateway rotates after the first.
      credential: () => {
        if (++calls === 2) {
          byId.set(2, key2);
          byId.delete(1);
          current = next;
        }
        return undefined;
      },
    });
    const refusals = async () =>
      Number(
        /mimi_rejects_total\{code="ohttp-key-unknown"\} (\d+)/.exec(
          (await net.ctx.metrics.render()).body,
        )?.[1] ?? 0,
      );
    const refusedBefore = await refusals();
    try {
      const results = await rotating.lookup(asked);
      expect(results.map((r) => r.status)).toEqual(['several', 'opt-out', 'one', 'none']);
      expect(calls).toBeGreaterThanOrEqual(2);
      // The old key was refused once and the request sent again under the new one.
      expect(await refusals()).toBe(refusedBefore + 1);
      // With only the retired key, the refusal surfaces with its code.
      current = old;
      const stuck = client({ relay: relayUrl, registry: () => old });
      await expect(stuck.lookup([bob])).rejects.toMatchObject({ code: 'ohttp-key-unknown' });
    } finally {
      byId.set(1, key1);
      byId.delete(2);
    }
  });
});
