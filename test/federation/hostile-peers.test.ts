import { createServer, request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { signPeerRequest } from '../../src/federation/http-signature.js';
import { mappingId } from '../../src/registry/verify-mapping.js';
import { freePort } from '../support/devnet.js';
import { DpNodes } from '../support/dp-nodes.js';

/**
 * Issue scenario: a peer that answers garbage, a forged mapping, a slow or oversized answer is
 * refused and reported in the peer status, never trusted; unsigned and replayed forwarded
 * requests are refused.
 */
describe('hostile and broken peers', () => {
  let net: DpNodes;
  let fake: Server;
  let mode = 'garbage';
  let realAnswer = '';
  const rogue = generateKeyPair();
  const csi = 'tel:+14155550161';

  beforeAll(async () => {
    const port = await freePort();
    fake = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (mode === 'garbage') res.end('<html>surprise</html>');
        else if (mode === 'forged') res.end(realAnswer.replace('"tag":"Default"', '"tag":"business"'));
        else if (mode === 'forged-rehashed') {
          // A forger who also recomputes the id: caught by the holder signature.
          const a = JSON.parse(realAnswer.replace('"tag":"Default"', '"tag":"business"'));
          for (const r of a.results) for (const m of r.mappings) m.id = mappingId(m.mapping);
          res.end(JSON.stringify(a));
        } else if (mode === 'huge')
          res.end(`{"v":1,"format":"verbose","dp":"dp4","results":[],"pad":"${'x'.repeat(10 * 64 * 1024)}"}`);
        else if (mode === 'slow') setTimeout(() => res.end(realAnswer), 3000);
        else if (mode === 'wrong-csi') res.end(realAnswer.replaceAll(csi, 'tel:+14155550162'));
        else res.end(realAnswer);
      });
    });
    await new Promise<void>((r) => fake.listen(port, '127.0.0.1', r));
    net = await DpNodes.start(2, {
      extraDps: [{ id: 'dp4', endpoint: `http://127.0.0.1:${port}`, keys: { transport: rogue.publicKey } }],
      // dp1 keeps asking whatever happens, to see each failure; dp2 has the default breaker.
      configure: (dp, config) =>
        dp === 'dp1' ? { ...config, federation: { ...config.federation, breakerFailures: 1000 } } : config,
    });
    const holder = net.holder();
    const att = await net.prove(holder, csi);
    await net.publish(holder, att, 'msp1', 'bob'); // at dp1
    // What an honest dp4 holding Bob's mapping would answer.
    const real = await fetch(
      `${net.endpoint('dp1')}/v1/federation/lookup`,
      await signedLookup('dp1', 'dp2', net.endpoint('dp1')),
    );
    realAnswer = (await real.text()).replace('"dp":"dp1"', '"dp":"dp4"');
  });
  afterAll(async () => {
    await net.close();
    fake.close();
  });

  /** A forwarded lookup as `origin` would send it, signed with the rogue key when origin is dp4. */
  async function signedLookup(
    _to: string,
    origin: string,
    endpoint: string,
    body = { v: 1, origin, csis: [csi], budget: { hops: 0 } },
  ) {
    const url = `${endpoint}/v1/federation/lookup`;
    const key =
      origin === 'dp4'
        ? rogue
        : (await import('../../src/cli/devnet-files.js')).readJwkFile(
            `${net.layout.dir}/keys/${origin}.transport.jwk`,
          );
    const s = await signPeerRequest(
      { method: 'POST', url, body: JSON.stringify(body) },
      { id: origin, key: key.privateKey },
    );
    return { method: 'POST', headers: s.headers, body: s.body };
  }

  /** Appends a member to both signature fields (an attacker needs no key for that). */
  function withEntry(signed: { headers: Record<string, string> }, input: string, signature: string) {
    const headers = { ...signed.headers };
    for (const [name, extra] of [
      ['signature-input', input],
      ['signature', signature],
    ] as const) {
      const key = Object.keys(headers).find((k) => k.toLowerCase() === name)!;
      headers[key] = `${headers[key]}, ${extra}`;
    }
    return { ...signed, headers };
  }
  const hmacEntry = (keyid: string, nonce: string) =>
    `x=("@method");created=${Math.floor(Date.now() / 1000)};keyid="${keyid}";alg="hmac-sha256";nonce="${nonce}"`;
  const codeOf = async (res: Response) => [res.status, ((await res.json()) as { code?: string }).code];

  /** Asks through dp1 (which holds Bob's mapping itself) or dp2 (which learns it from dp1). */
  const ask = async (via: 'dp1' | 'dp2' = 'dp1') => {
    const agent = via === 'dp1' ? net.msp('msp1') : net.msp('msp2');
    const { results, peers } = await agent.lookupWithPeers([csi], {
      federation: true,
      dpList: ['dp4', 'dp1', 'dp2'],
    });
    return {
      msps: results[0]!.mappings.map((m) => m.mapping.body.msp),
      dp4: peers.find((p) => p.dp === 'dp4'),
    };
  };

  it.each([
    ['garbage', 'error', 'malformed-json'],
    ['forged', 'error', 'record-invalid'],
    ['forged-rehashed', 'error', 'holder-signature-invalid'],
    ['huge', 'error', 'body-too-large'],
    ['wrong-csi', 'error', 'record-invalid'],
  ])('a peer answering %s is reported as %s/%s and its answer is not used', async (m, status, code) => {
    mode = m;
    const r = await ask();
    expect(r.dp4).toMatchObject({ status, code });
    expect(r.msps).toEqual(['msp1']); // dp1's honest answer still comes through
  });

  it('a slow peer times out within the published timeout; the answer still arrives', async () => {
    mode = 'slow';
    const started = Date.now();
    const r = await ask();
    expect(Date.now() - started).toBeLessThan(2500);
    expect(r.dp4?.status).toBe('timeout');
    expect(r.msps).toEqual(['msp1']);
  });

  it('after repeated failures the circuit opens and the peer is skipped', async () => {
    mode = 'garbage';
    for (let i = 0; i < 3; i++) expect((await ask('dp2')).dp4?.status).toBe('error');
    const skipped = await ask('dp2');
    expect(skipped.dp4).toMatchObject({ status: 'unavailable', code: 'circuit-open' });
    expect(skipped.msps).toEqual(['msp1']);
  });

  it('unsigned, replayed, impersonating and foreign-key forwarded requests are refused', async () => {
    const url = `${net.endpoint('dp1')}/v1/federation/lookup`;
    const plain = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, origin: 'dp2', csis: [csi], budget: { hops: 0 } }),
    });
    expect([plain.status, ((await plain.json()) as { code: string }).code]).toEqual([401, 'unauthenticated']);

    const once = await signedLookup('dp1', 'dp2', net.endpoint('dp1'));
    expect((await fetch(url, once)).status).toBe(200);
    const again = await fetch(url, once);
    expect([again.status, ((await again.json()) as { code: string }).code]).toEqual([409, 'replayed']);

    // Signed by dp4's key but claiming to come from dp2.
    const lying = await signedLookup('dp1', 'dp4', net.endpoint('dp1'), {
      v: 1,
      origin: 'dp2',
      csis: [csi],
      budget: { hops: 0 },
    });
    expect(((await (await fetch(url, lying)).json()) as { code: string }).code).toBe('forbidden');

    // A request that asks the peer to forward again is not even well formed (one hop only).
    const loop = await signedLookup('dp1', 'dp2', net.endpoint('dp1'), {
      v: 1,
      origin: 'dp2',
      csis: [csi],
      budget: { hops: 1 },
    } as never);
    expect(((await (await fetch(url, loop)).json()) as { code: string }).code).toBe('record-invalid');
  });

  it('Security 3: a second signature entry cannot lend its keyid and nonce to the request', async () => {
    const url = `${net.endpoint('dp1')}/v1/federation/lookup`;
    // Signed by dp2 as itself, with a body naming dp4 (or an unregistered DP) as origin, and an
    // entry that verifies nothing appended in dp4's (the ghost's) name.
    for (const claimed of ['dp4', 'ghost']) {
      const signed = await signedLookup('dp1', 'dp2', net.endpoint('dp1'), {
        v: 1,
        origin: claimed,
        csis: [csi],
        budget: { hops: 0 },
      });
      const forged = withEntry(signed, hmacEntry(claimed, 'n1'), 'x=:AAAA:');
      expect(await codeOf(await fetch(url, forged))).toEqual([401, 'unauthenticated']);
    }
    // A captured request, replayed with an appended entry that carries a fresh nonce.
    const captured = await signedLookup('dp1', 'dp2', net.endpoint('dp1'));
    expect((await fetch(url, captured)).status).toBe(200);
    const refreshed = withEntry(captured, hmacEntry('dp2', 'fresh-nonce-0001'), 'x=:AAAA:');
    expect(await codeOf(await fetch(url, refreshed))).toEqual([401, 'unauthenticated']);
    // A second entry under the profile's own label does not help either.
    const twice = withEntry(
      captured,
      hmacEntry('dp2', 'fresh-nonce-0002').replace(/^x=/, 'mimi='),
      'mimi=:AAAA:',
    );
    expect(await codeOf(await fetch(url, twice))).toEqual([401, 'unauthenticated']);
  });

  it('Security 4: a request signed for dp1 is refused by dp2, whatever Host header it carries', async () => {
    // dp4 (whose key we hold) signs a lookup for dp1 and delivers it to dp2 posing as dp1's host.
    const signed = await signedLookup('dp1', 'dp4', net.endpoint('dp1'));
    const dp1 = new URL(net.endpoint('dp1'));
    const dp2 = new URL(net.endpoint('dp2'));
    const answer = await new Promise<{ status: number; code?: string }>((resolve, reject) => {
      const req = request(
        {
          host: dp2.hostname,
          port: dp2.port,
          method: 'POST',
          path: '/v1/federation/lookup',
          headers: { ...signed.headers, host: dp1.host, 'x-forwarded-host': dp1.host },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode!, code: JSON.parse(text).code }));
        },
      );
      req.on('error', reject);
      req.end(signed.body);
    });
    expect(answer).toEqual({ status: 401, code: 'unauthenticated' });
    // The same request where it was meant to go is good.
    expect((await fetch(`${net.endpoint('dp1')}/v1/federation/lookup`, signed)).status).toBe(200);
  });
});
