import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WWWAuthenticateHeader } from '@cloudflare/privacypass-ts';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile, resignDevnetRegistry } from '../../src/cli/devnet-files.js';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { blindTokenRequest } from '../../src/crypto/privacy-pass.js';
import { tokenKeyOf } from '../../src/crypto/token-key.js';
import {
  PrivacyPass,
  parsePrivateTokenHeader,
  privateTokenHeader,
  tokenChallengeFor,
} from '../../src/protocol/privacy-pass.js';
import { Registry, signRegistry, type UnsignedRegistry } from '../../src/registry/document.js';
import { blindSign, loadIssuerKey, startTokenIssuer } from '../../src/server/token-issuer.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * Issue 14 item 3 (R9, R22, R26): Privacy Pass on the private lookup. Each MSP's issuer (a real
 * HTTP service with its SQLite counts) issues type-2 tokens to its users; dp1 redeems one per
 * evaluation request, over real HTTP, and refuses every token it must not accept, each with its
 * code. The DP's logs, tables and metrics tie no client address to a token.
 */
const bob = 'tel:+14155550101';
const perDay = 4;

async function evaluate(net: RunningDevnet, authorization: string | undefined): Promise<Response> {
  const epochs = (await (await fetch(`${net.url}/v1/private/epochs`)).json()) as { current: number };
  // A valid element: the ristretto255 base point, as RFC 9497 encodes it.
  const element = Buffer.from('e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76', 'hex');
  return fetch(`${net.url}/v1/private/evaluate`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: JSON.stringify({ v: 1, epoch: epochs.current, elements: [element.toString('base64url')] }),
  });
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { code: string }).code;
}

describe('Privacy Pass tokens pay for private evaluations (RFC 9576-9578)', () => {
  const lines: string[] = [];
  let net: RunningDevnet;

  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        issuers: { tokensPerDay: perDay },
        app: { logger: { level: 'trace', stream: { write: (l: string) => lines.push(l) } } },
      },
    );
    const msp1 = net.msp('msp1');
    const h = net.holder();
    await msp1.submit(
      await msp1.confirm(
        h.signMapping({
          csi: bob,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/bob',
          attestation: await net.prove(h, bob),
        }),
      ),
    );
  });
  afterAll(async () => {
    await net.close();
  });

  it('end to end: a user of msp3 looks Bob up privately, paying one token per evaluation request', async () => {
    const tokens = net.tokens('msp3', 'alice');
    const client = new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      now: net.clock.now,
      tokens,
    });
    const [found, none] = await client.lookup([bob, 'tel:+14155550150']);
    expect(found?.status).toBe('one');
    expect(found?.mappings[0]?.mapping.body.ssi).toBe('mimi://chat.example/u/bob');
    expect(none?.status).toBe('none');
    // One request for both CSIs: one token, fetched on demand.
    expect(client.lastStats?.evaluated).toBe(2);
    expect(tokens.available).toBe(0);
    const metrics = await net.ctx.metrics.registry.metrics();
    expect(metrics).toMatch(/mimi_private_tokens_total\{outcome="redeemed"\} 1/);
  });

  it('a lookup has the tokens of all its evaluation requests fetched at once, before the first is sent', async () => {
    const tokens = net.tokens('msp3', 'bob');
    const asked: number[] = [];
    const prepare = tokens.prepare.bind(tokens);
    tokens.prepare = (n) => {
      asked.push(n);
      prepare(n);
      // All under way before the first request spends one.
      expect(tokens.available).toBe(n);
    };
    const client = new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      now: net.clock.now,
      tokens,
      evaluateChunk: 1,
    });
    const results = await client.lookup([bob, 'tel:+14155550151', 'tel:+14155550152']);
    expect(results.map((r) => r.status)).toEqual(['one', 'none', 'none']);
    expect(asked).toEqual([3]);
    expect(tokens.available).toBe(0);
    const metrics = await net.ctx.metrics.registry.metrics();
    expect(metrics).toMatch(/mimi_private_tokens_total\{outcome="redeemed"\} 4/);
  });

  it('the 401 carries one PrivateToken challenge per issuer, with origin_info = this DP (RFC 9577 §2.1)', async () => {
    const res = await evaluate(net, 'PrivateToken token=AAAA');
    expect(res.status).toBe(401);
    expect(await codeOf(res)).toBe('token-malformed');
    const parsed = WWWAuthenticateHeader.parse(res.headers.get('www-authenticate') ?? '');
    expect(parsed).toHaveLength(3);
    const msp3 = net.registry.msp('msp3')!;
    const ours = parsed.find((p) => p.challenge.issuerName === msp3.issuer!.name)!;
    expect(Buffer.from(ours.challenge.serialize())).toEqual(
      Buffer.from(tokenChallengeFor(msp3.issuer!.name, 'dp1').serialize()),
    );
    expect(Buffer.from(ours.tokenKey).toString('base64url')).toBe(msp3.issuer!.tokenKeys[0]!.key);
    expect(ours.challenge.originInfo).toEqual(['dp1']);
    expect(ours.challenge.redemptionContext).toHaveLength(0);
  });

  it('a token is spent once: the second redemption is token-spent, and counted', async () => {
    const header = await net.tokens('msp2', 'alice').next();
    expect((await evaluate(net, header)).status).toBe(200);
    const again = await evaluate(net, header);
    expect(again.status).toBe(401);
    expect(await codeOf(again)).toBe('token-spent');
    const metrics = await net.ctx.metrics.registry.metrics();
    expect(metrics).toMatch(/mimi_private_tokens_total\{outcome="token-spent"\} 1/);
  });

  it('a token for another DP (origin) is token-challenge-mismatch', async () => {
    const forDp2 = await net.tokens('msp3', 'bob', 'dp2').next();
    const res = await evaluate(net, forDp2);
    expect(await codeOf(res)).toBe('token-challenge-mismatch');
  });

  it('a token under an issuer key the registry does not list is token-key-unknown', async () => {
    // A rogue issuer: a key of its own, the right issuer name and challenge, a valid signature.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const rogue = loadIssuerKey(pem, net.clock.now() + 3600);
    const pending = await blindTokenRequest(rogue.tokenKey, net.registry.msp('msp1')!.issuer!.name, 'dp1');
    const token = await pending.finalize(blindSign(rogue.key, pending.request.subarray(3)));
    expect(await codeOf(await evaluate(net, privateTokenHeader(token)))).toBe('token-key-unknown');
  });

  it('tampered, truncated and padded tokens are refused, and a refused copy does not burn the good one', async () => {
    const header = await net.tokens('msp1', 'alice').next();
    const token = parsePrivateTokenHeader(header)!;
    const flip = (at: number) => {
      const t = token.slice();
      t[at]! ^= 1;
      return privateTokenHeader(t);
    };
    expect(await codeOf(await evaluate(net, flip(10)))).toBe('token-invalid'); // nonce
    expect(await codeOf(await evaluate(net, flip(300)))).toBe('token-invalid'); // authenticator
    expect(await codeOf(await evaluate(net, flip(40)))).toBe('token-challenge-mismatch'); // challenge digest
    expect(await codeOf(await evaluate(net, flip(70)))).toBe('token-key-unknown'); // key id
    expect(await codeOf(await evaluate(net, flip(1)))).toBe('token-malformed'); // token type
    expect(await codeOf(await evaluate(net, privateTokenHeader(token.subarray(0, 353))))).toBe(
      'token-malformed',
    );
    expect(await codeOf(await evaluate(net, privateTokenHeader(new Uint8Array([...token, 0]))))).toBe(
      'token-malformed',
    );
    expect(await codeOf(await evaluate(net, 'PrivateToken nonsense'))).toBe('token-malformed');
    expect((await evaluate(net, header)).status).toBe(200);
  });

  it('a token whose key passed its notAfter is token-key-unknown', async () => {
    const header = await net.tokens('msp2', 'bob').next();
    resignDevnetRegistry(net.layout, (doc) => ({
      ...doc,
      msps: doc.msps.map((m) =>
        m.id === 'msp2'
          ? {
              ...m,
              issuer: {
                ...m.issuer!,
                tokenKeys: [{ ...m.issuer!.tokenKeys[0]!, notAfter: net.clock.now() + 60 }],
              },
            }
          : m,
      ),
    }));
    await net.ctx.registry.load();
    net.clock.advance(120);
    try {
      expect(await codeOf(await evaluate(net, header))).toBe('token-key-unknown');
    } finally {
      net.clock.advance(-120);
    }
  });

  it('the issuer: a bounded number of tokens per user per day, counted across a restart', async () => {
    const carol = net.tokens('msp1', 'carol');
    await carol.fetch(perDay);
    await expect(carol.fetch(1)).rejects.toMatchObject({ code: 'token-issuance-limit' });
    // Another user of the same MSP has a count of its own.
    await net.tokens('msp1', 'bob').fetch(1);
    const m = net.layout.msps.find((x) => x.id === 'msp1')!;
    await net.issuers.get('msp1')!.close();
    const restarted = await startTokenIssuer(m.issuer!.configFile, { now: net.clock.now });
    net.issuers.set('msp1', restarted);
    await expect(carol.fetch(1)).rejects.toMatchObject({ code: 'token-issuance-limit' });
    net.clock.advance(86_400);
    try {
      await carol.fetch(1);
      expect(carol.available).toBe(perDay + 1);
    } finally {
      net.clock.advance(-86_400);
    }
  });

  it('the issuer refuses unknown users and malformed requests, with their codes', async () => {
    const url = net.layout.msps.find((x) => x.id === 'msp2')!.issuer!.url;
    const post = (body: Uint8Array, auth: string, type: string = PrivacyPass.RequestMediaType) =>
      fetch(`${url}/token-request`, {
        method: 'POST',
        headers: { 'content-type': type, authorization: auth },
        body,
      });
    const cred = net.layout.msps.find((x) => x.id === 'msp2')!.issuer!.users.carol!;
    const good = (
      await blindTokenRequest(
        Buffer.from(net.registry.msp('msp2')!.issuer!.tokenKeys[0]!.key, 'base64url'),
        'x',
        'dp1',
      )
    ).request;
    expect(await codeOf(await post(good, 'Bearer wrong'))).toBe('unauthenticated');
    expect(await codeOf(await post(good.subarray(0, 258), `Bearer ${cred}`))).toBe('token-request-malformed');
    const other = good.slice();
    other[2]! ^= 0xff;
    expect(await codeOf(await post(other, `Bearer ${cred}`))).toBe('token-key-unknown');
    expect(await codeOf(await post(good, `Bearer ${cred}`, 'application/octet-stream'))).toBe(
      'token-request-malformed',
    );
    // The issuer directory (RFC 9578 §4) lists the key the registry lists.
    const dir = (await (await fetch(`${url}${PrivacyPass.DirectoryPath}`)).json()) as {
      'token-keys': { 'token-type': number; 'token-key': string }[];
    };
    expect(dir['token-keys']).toEqual([
      { 'token-type': 2, 'token-key': net.registry.msp('msp2')!.issuer!.tokenKeys[0]!.key },
    ]);
  });

  it("the DP's logs, tables and metrics tie no client address to a token", async () => {
    const tokens = net.tokens('msp3', 'carol');
    const header = await tokens.next();
    const token = parsePrivateTokenHeader(header)!;
    const before = lines.length;
    expect((await evaluate(net, header)).status).toBe(200);
    const nonce = Buffer.from(token.subarray(2, 34)).toString('hex');
    const keyId = Buffer.from(token.subarray(66, 98)).toString('hex');
    const b64 = Buffer.from(token).toString('base64url');
    const issuerName = net.registry.msp('msp3')!.issuer!.name;
    // The evaluation's lines (by request id): no address, no token, nonce, key id, MSP or issuer.
    const ids = new Set(
      lines
        .slice(before)
        .filter((l) => l.includes('/v1/private/evaluate'))
        .map((l) => (JSON.parse(l) as { reqId: string }).reqId),
    );
    expect(ids.size).toBe(1);
    const mine = lines.filter((l) => ids.has((JSON.parse(l) as { reqId?: string }).reqId ?? ''));
    expect(mine.length).toBeGreaterThanOrEqual(2);
    for (const l of mine) {
      for (const secret of ['127.0.0.1', b64.slice(0, 40), nonce, keyId, issuerName, 'msp3']) {
        expect(l).not.toContain(secret);
      }
    }
    // Tables: the spent token is (key id, nonce, key expiry), nothing else; no table holds an address.
    const db = new Database(join(net.layout.dir, 'dp1.db'), { readonly: true });
    try {
      const cols = db.prepare('SELECT name FROM pragma_table_info(?)').all('spent_tokens') as {
        name: string;
      }[];
      expect(cols.map((c) => c.name)).toEqual(['key_id', 'nonce', 'expires_at']);
      const row = db.prepare('SELECT * FROM spent_tokens WHERE nonce = ?').get(nonce) as Record<
        string,
        unknown
      >;
      expect(row).toEqual({
        key_id: keyId,
        nonce,
        expires_at: net.registry.msp('msp3')!.issuer!.tokenKeys[0]!.notAfter,
      });
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[];
      for (const { name } of tables) {
        const dump = JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all(), (_k, v) =>
          Buffer.isBuffer(v) ? v.toString('latin1') : v,
        );
        expect(dump).not.toContain('127.0.0.1');
      }
    } finally {
      db.close();
    }
    const metrics = await net.ctx.metrics.registry.metrics();
    for (const l of metrics.split('\n').filter((x) => x.includes('token'))) {
      expect(l).not.toMatch(/127\.0\.0\.1|msp3|issuer\./);
    }
    expect(readFileSync(net.layout.configFile, 'utf8')).toBeTruthy();
  });
});

describe('the registry lists issuer keys consistently (R30)', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const key = tokenKeyOf(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());

  it('refuses a token key or issuer name listed by two MSPs, and more than two keys per MSP', async () => {
    const net = await startDevnet();
    try {
      const regKey = readJwkFile(net.layout.registryKeyFile).privateKey;
      const { sig: _s, ...doc } = net.registry.doc;
      const withIssuers = (a: string, b: string, kb = key): UnsignedRegistry => ({
        ...doc,
        msps: doc.msps.map((m, i) =>
          i === 0
            ? { ...m, issuer: { name: a, tokenKeys: [{ key, notAfter: 1e10 }] } }
            : i === 1
              ? { ...m, issuer: { name: b, tokenKeys: [{ key: kb, notAfter: 1e10 }] } }
              : m,
        ),
      });
      expect(() => signRegistry(withIssuers('i1', 'i2'), regKey)).toThrow(
        expect.objectContaining({ code: 'record-invalid' }),
      );
      expect(() => signRegistry(withIssuers('i1', 'i1', 'A'.repeat(456)), regKey)).toThrow(
        expect.objectContaining({ code: 'record-invalid' }),
      );
      const ok = signRegistry(withIssuers('i1', 'i2', 'A'.repeat(456)), regKey);
      const opened = Registry.open(ok, net.layout.registryKey, { now: net.clock.now() });
      expect(
        opened.tokenKey(
          Buffer.from(await crypto.subtle.digest('SHA-256', Buffer.from(key, 'base64url'))).toString('hex'),
        )?.msp.id,
      ).toBe('msp1');
      const three = {
        ...doc,
        msps: doc.msps.map((m, i) =>
          i === 0
            ? { ...m, issuer: { name: 'i1', tokenKeys: [1, 2, 3].map((n) => ({ key, notAfter: n })) } }
            : m,
        ),
      };
      expect(() =>
        Registry.open({ ...three, sig: ok.sig }, net.layout.registryKey, { now: net.clock.now() }),
      ).toThrow(expect.objectContaining({ code: 'record-invalid' }));
    } finally {
      await net.close();
    }
  });
});

describe('privateLookup.requireCredential: no anonymous tier', () => {
  it('an evaluation without a credential is 401 unauthenticated, with the PrivateToken challenges; a token pays', async () => {
    const net = await startDevnet(
      {},
      {
        issuers: {},
        configure: (c) => {
          c.privateLookup = { ...c.privateLookup, requireCredential: true };
        },
      },
    );
    try {
      const res = await evaluate(net, undefined);
      expect(res.status).toBe(401);
      expect(await codeOf(res)).toBe('unauthenticated');
      expect(WWWAuthenticateHeader.parse(res.headers.get('www-authenticate') ?? '')).toHaveLength(3);
      expect((await evaluate(net, await net.tokens('msp1', 'alice').next())).status).toBe(200);
      const meta = (await (await fetch(`${net.url}/.well-known/mimi-discovery`)).json()) as {
        privateLookup: { privacyPass: { requireCredential: boolean } };
      };
      expect(meta.privateLookup.privacyPass.requireCredential).toBe(true);
    } finally {
      await net.close();
    }
  });
});
