import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';
import {
  body,
  contentType,
  mutated,
  param,
  query,
  type Route,
  routesOf,
  signatureHeaders,
  wildcardRest,
} from './requests.js';

const known = new Set<string>(Object.values(ErrorCode));
/** Fixed by default, so a run in CI is the same run; MIMI_FUZZ_SEED explores others. */
const seed = Number(process.env.MIMI_FUZZ_SEED ?? 20261201);
// About 150 a route: at 4000 the rarer refusals (signed peer requests) came and went with the
// seed and the number of routes, and the "reached the handlers" check below with them.
const numRuns = Number(process.env.MIMI_FUZZ_RUNS ?? 8000);
const csi = 'tel:+14155550101';

/**
 * Issue "Security": a bounded fuzzer over every route and method of an in-process node, with
 * malformed JSON, deep nesting, huge numbers, duplicate keys, wrong types, odd content types and
 * unicode tricks, with and without a session. Every answer is under 500; every error answer is
 * problem+json with a code from src/protocol/errors.ts; nothing stored changes.
 */
describe('adversarial HTTP fuzzing', () => {
  let net: RunningDevnet;
  let routes: Route[];
  const tokens: Record<string, string> = {};
  /** Real records per route, to mutate. */
  const templates: Record<string, unknown[]> = {};

  /** What a refused request must leave as it was: mappings, the log, the outbox, what is served. */
  async function digest(): Promise<unknown> {
    const s = net.ctx.store;
    const served = await s.activeMappings([csi], net.clock.now());
    return {
      stats: await s.stats(),
      head: await s.logHead(),
      outbox: await s.outboxDepth(),
      served: [...served.values()].flat().map((m) => m.id),
    };
  }

  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          // The budgets would answer 429 before the handlers see most requests.
          c.limits = { ...c.limits, anonymousPerMinute: 1e9, callerPointsPerMinute: 1e9 };
          c.log = { ...c.log, requestsPerMinute: 1e9 };
          const budget = { points: 1e9, perSeconds: 60 };
          c.privateLookup = {
            ...c.privateLookup,
            bucketRequestsPerMinute: 1e9,
            mspEvaluations: budget,
            anonymousEvaluations: budget,
          };
        },
      },
    );
    // Something stored that a bad request could change: a published mapping, logged.
    const holder = net.holder();
    const att = await net.prove(holder, csi);
    const agent = net.msp('msp1');
    const submission = await agent.confirm(
      holder.signMapping({ csi, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: att }),
    );
    await agent.submit(submission);
    // Real records to mutate, so fuzzed requests get past the schemas to the signatures and rules.
    const now = net.clock.now();
    const mspKey = readJwkFile(net.layout.msps.find((m) => m.id === 'msp1')!.keyFile);
    const session = {
      v: 1,
      participant: 'msp1',
      role: 'msp',
      audience: 'dp1',
      issuedAt: now,
      nonce: 'fuzzfuzzfuzzfuzz0',
    };
    const sig = signObject(SignPurpose.Session, session, mspKey.privateKey);
    const epoch = net.ctx.privateLookup?.index.current() ?? 1;
    const b64 = (n: number) => randomBytes(n).toString('base64url');
    const lookup = [
      { v: 1, csis: [csi, 'mailto:bob@example.com'], format: 'compact', federation: true, dpList: ['dp2'] },
      { v: 1, csis: [csi], mspFilter: ['msp1'], federation: false },
    ];
    const invalidation = {
      v: 1,
      csi,
      holderKey: holder.publicKey,
      target: null,
      issuedAt: now,
      sig: b64(64),
    };
    Object.assign(templates, {
      '/v1/mappings': [submission],
      '/v1/mappings/batch': [{ v: 1, submissions: [submission, submission] }],
      '/v1/holder/opt-out': [submission],
      '/v1/holder/invalidate': [invalidation],
      '/v1/holder/reaffirm': [{ ...invalidation, attestation: att }],
      '/v1/session': [{ ...session, sig }],
      '/v1/lookup': lookup,
      '/v1/federation/lookup': [{ v: 1, origin: 'dp2', csis: [csi] }],
      '/v1/private/evaluate': [{ v: 1, epoch, elements: [b64(32), b64(32)] }],
      '/v1/private/buckets': [{ v: 1, epoch, buckets: [0, 1, 2] }],
      '/v1/verifier/challenges': [{ v: 1, csi, holderKey: holder.publicKey }],
      '/v1/verifier/challenges/:id/answer': [{ v: 1, code: '123456' }],
      '/v1/federation/log/checkpoint': [{ v: 1, from: 1 }],
      '/v1/federation/log/proof': [{ v: 1, index: 0 }],
    });
    const expiresAt = net.clock.now() + 3600;
    tokens.msp = net.ctx.sessions.issue({ participant: 'msp1', role: 'msp', expiresAt });
    tokens.dp = net.ctx.sessions.issue({ participant: 'dp2', role: 'dp', expiresAt });
    routes = routesOf(net.app);
  });
  afterAll(() => net.close());

  it('finds every route fastify registered', () => {
    const names = routes.map((r) => `${r.method} ${r.url}`);
    for (const r of [
      'POST /v1/mappings',
      'GET /v1/mappings/:id',
      'POST /v1/lookup',
      'POST /v1/private/evaluate',
    ]) {
      expect(names).toContain(r);
    }
    expect(names).toContain('GET /v1/private/buckets/:epoch/:bucket');
    expect(names).toContain('GET /v1/log/tiles/tile/*');
    expect(routes.length).toBeGreaterThan(30);
  });

  it('never a 5xx, always problem+json with a known code, nothing stored changes', async () => {
    const before = await digest();
    const codes = new Map<string, number>();
    const request = fc.constantFrom(...routes).chain((route) => {
      const real = templates[route.url];
      return fc.record({
        route: fc.constant(route),
        params: fc.array(param, { minLength: 2, maxLength: 2 }),
        rest: wildcardRest,
        query,
        body: real === undefined ? body : fc.oneof(body, mutated(real), mutated(real)),
        contentType: fc.oneof(fc.constant('application/json'), contentType),
        auth: fc.constantFrom('none', 'msp', 'msp', 'dp', 'garbage', 'empty'),
        signed: signatureHeaders,
      });
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        let i = 0;
        const url =
          r.route.url.replace(/:[a-z]+/g, () => r.params[i++] ?? '0').replace(/\*$/, () => r.rest) + r.query;
        const headers: Record<string, string> = { ...r.signed };
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.auth === 'msp' || r.auth === 'dp') headers.authorization = `Bearer ${tokens[r.auth]}`;
        if (r.auth === 'garbage') headers.authorization = 'Bearer \u00ff.\u00ff';
        if (r.auth === 'empty') headers.authorization = 'Bearer ';
        const hasBody = r.route.method !== 'GET' && r.route.method !== 'HEAD';
        const res = await net.app.inject({
          method: r.route.method as 'GET',
          url,
          headers,
          ...(hasBody ? { payload: r.body } : {}),
        });
        const what = `${r.route.method} ${url.slice(0, 120)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
        expect(res.statusCode, what).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.headers['content-type'], what).toContain('application/problem+json');
          if (r.route.method !== 'HEAD') {
            const problem = JSON.parse(res.body) as { code: string; status: number; type: string };
            expect(known.has(problem.code), what).toBe(true);
            expect(problem.status, what).toBe(res.statusCode);
            expect(problem.type, what).toBe(`urn:mimi-discovery:problem:${problem.code}`);
            codes.set(problem.code, (codes.get(problem.code) ?? 0) + 1);
          }
        }
      }),
      { seed, numRuns, endOnFailure: true },
    );
    if (process.env.MIMI_FUZZ_DEBUG) console.log(codes);
    expect(await digest()).toEqual(before);
    // The requests reached the handlers: refusals from the records' and callers' checks, not
    // only from the router and the JSON parser.
    const deep = [...codes.keys()].filter(
      (c) => !['not-found', 'malformed-json', 'request-invalid', 'body-too-large'].includes(c),
    );
    expect(deep).toEqual(expect.arrayContaining(['record-invalid', 'unauthenticated', 'forbidden']));
    expect(deep.length).toBeGreaterThanOrEqual(10);
  });
});
