import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryOprfCache } from '../../src/client/oprf-cache.js';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { loggerOptions, scrubLogLine } from '../../src/server/logging.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * Issue 6 §5, R9, R28: no log line holds a CSI in clear, at trace level, whatever the request:
 * plain and batch lookups, private lookups, holder requests, federation requests, and failing
 * ones (invalid numbers, CSIs in a URL's path and query, malformed bodies quoting a CSI).
 */
describe('structured logs never contain a CSI', () => {
  const lines: string[] = [];
  let net: RunningDevnet;
  const bob = 'tel:+14155550101';
  const carol = 'mailto:carol.smith@example.org';
  const dave = 'tel:+33612345678';
  const nobody = 'tel:+14155550177';
  const bad = 'tel:+1415555';
  const csis = [bob, carol, dave, nobody, bad];
  /** Each CSI, bare, and a phone's digits alone (with and without its country code). */
  const secrets = [
    ...csis,
    ...csis.map((c) => c.replace(/^(tel|mailto):/, '')),
    '14155550101',
    '4155550101',
    '33612345678',
    '612345678',
    '14155550177',
    'carol.smith@',
    'carol.smith',
  ];

  beforeAll(async () => {
    net = await startDevnet(
      {},
      { app: { logger: { level: 'trace', stream: { write: (l: string) => lines.push(l) } } } },
    );
  });
  afterAll(async () => {
    await net.close();
  });

  it('R9, R28: lines of plain, batch, private, holder, federation and failing requests hold no CSI', async () => {
    const msp1 = net.msp('msp1');
    // Holder requests: a challenge (its body carries the CSI), then a mapping and an opt-out.
    const h = net.holder();
    const att = await net.prove(h, bob);
    await msp1.submit(
      await msp1.confirm(
        h.signMapping({ csi: bob, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: att }),
      ),
    );
    const hc = net.holder();
    await hc.optOut(await net.prove(hc, carol));
    const hd = net.holder();
    await net.prove(hd, dave);
    await hd.invalidate(dave, null).catch(() => undefined);
    // Plain and batch lookups, local and federated.
    expect((await msp1.lookup([bob])).map((r) => r.status)).toEqual(['one']);
    const batch = await msp1.lookup([bob, carol, dave, nobody]);
    expect(batch.map((r) => r.status)).toEqual(['one', 'opt-out', 'none', 'none']);
    await msp1.lookup([bob, nobody], { federation: true, dpList: 'all' });
    // A private lookup.
    const priv = new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      credential: () => msp1.sessionToken(),
      cache: new MemoryOprfCache(),
      now: net.clock.now,
    });
    expect((await priv.lookup([bob, nobody])).map((r) => r.status)).toEqual(['one', 'none']);
    // Failing ones.
    await expect(msp1.lookup([bad])).rejects.toMatchObject({ code: 'invalid-phone' });
    const token = await msp1.sessionToken();
    const post = (path: string, body: string, auth = true) =>
      fetch(new URL(path, net.url), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(auth ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
    expect((await post('/v1/lookup', `{"v":1,"csis":["${bob}", "${carol}"`)).status).toBe(400);
    expect((await post('/v1/lookup', `{"v":1,"csis":["${dave}"],"format":"x"}`)).status).toBe(400);
    expect(
      (await post('/v1/verifier/challenges', `{"v":1,"csi":"${bad}","holderKey":"x"}`, false)).status,
    ).toBe(400);
    // Federation: an unsigned peer lookup carrying CSIs, and an event.
    expect(
      (
        await post(
          '/v1/federation/lookup',
          JSON.stringify({ v: 1, origin: 'dp9', csis: [bob, carol] }),
          false,
        )
      ).status,
    ).toBeGreaterThanOrEqual(400);
    // CSIs in a URL: path and query, on routes that exist and ones that do not.
    const get = (path: string) =>
      fetch(new URL(path, net.url), { headers: { authorization: `Bearer ${token}` } });
    expect(
      (await get(`/v1/mappings/${encodeURIComponent(bob)}?csi=${encodeURIComponent(carol)}`)).status,
    ).toBe(404);
    expect((await get(`/v1/lookup/${bob}?q=${dave}&digits=14155550101`)).status).toBe(404);
    expect((await get(`/.well-known/mimi-discovery?csi=${encodeURIComponent(dave)}`)).status).toBe(200);

    const log = lines.join('');
    // The logs are there, at trace level, and name what was asked by its route.
    expect(lines.length).toBeGreaterThan(30);
    expect(log).toContain('"url":"/v1/lookup"');
    expect(log).toContain('"url":"/v1/mappings/:id"');
    expect(log).toContain('"url":"(no route)"');
    expect(log).toContain('"statusCode":404');
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    for (const s of secrets) expect(log).not.toContain(s);
  });

  it('an error whose message and fields quote a CSI is logged without it', async () => {
    // The node's logger settings, on a real pino through fastify, given the errors a driver or a
    // parser produces (a unique violation's detail quotes the row; JSON.parse quotes its input).
    const out: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        out.push(String(chunk));
        done();
      },
    });
    const app = Fastify({ logger: loggerOptions({ level: 'trace', stream }) });
    await app.ready();
    const pgLike = Object.assign(new Error(`duplicate key value violates unique constraint (csi)=(${bob})`), {
      code: '23505',
      detail: `Key (csi)=(${bob}) already exists.`,
    });
    let parseError: unknown;
    try {
      JSON.parse(`{"csi": "${carol}" ,, "phone": "+33 6 12 34 56 78"}`);
    } catch (err) {
      parseError = err;
    }
    app.log.error({ err: pgLike }, 'internal error');
    app.log.error({ err: parseError }, 'internal error');
    app.log.warn(`lookup of ${dave} (digits 14155550101, 4155550101) failed for ${carol}`);
    await app.close();
    const log = out.join('');
    expect(out.length).toBe(3);
    expect(log).toContain('"code":"23505"');
    expect(log).not.toContain('already exists');
    expect(log).toContain('[csi]');
    for (const s of [...secrets, '+33 6 12 34 56 78', '6 12 34 56 78']) expect(log).not.toContain(s);
    // Numbers outside strings (time, pid, durations) stay as they are; the line stays JSON.
    for (const line of out) expect(typeof JSON.parse(line).time).toBe('number');
    expect(scrubLogLine('{"time":17000000000001,"msg":"ok 127.0.0.1 id=a1b2c3d4"}')).toBe(
      '{"time":17000000000001,"msg":"ok 127.0.0.1 id=a1b2c3d4"}',
    );
  });
});

describe('background jobs log through the node logger', () => {
  it('a failed peer lookup is a warning naming the peer and its outcome, never the CSI', async () => {
    const lines: string[] = [];
    const net = await startDevnet(
      {},
      { dps: 2, app: { logger: { level: 'info', stream: { write: (l: string) => lines.push(l) } } } },
    );
    try {
      const msp1 = net.msp('msp1');
      // dp2 is in the registry but not running: the federated lookup still answers from dp1.
      const [r] = await msp1.lookup(['tel:+14155550101'], { federation: true, dpList: 'all' });
      expect(r?.status).toBe('none');
      const background = lines.map((l) => JSON.parse(l)).filter((l) => l.component === 'background');
      expect(background).toContainEqual(
        expect.objectContaining({ level: 40, peer: 'dp2', msg: 'peer lookup failed' }),
      );
      expect(lines.join('')).not.toContain('4155550101');
    } finally {
      await net.close();
    }
  });
});
