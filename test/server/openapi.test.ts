import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specFiles } from '../../src/cli/schemas.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { schemaId, type WireName, WireSchemas } from '../../src/protocol/wire-schemas.js';
import { openApiPath, RouteDocs } from '../../src/server/openapi.js';
import { routesOf } from '../adversarial/requests.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

const root = join(import.meta.dirname, '..', '..');
const spec = join(root, 'docs', 'spec');
const committed = (path: string) => readFileSync(join(spec, path), 'utf8');
const vectors = JSON.parse(readFileSync(join(root, 'test', 'vectors', 'mimi-discovery-v1.json'), 'utf8'));

/** The committed JSON Schemas, read by an independent validator (ajv, 2020-12), not by TypeBox. */
function validator() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  for (const f of readdirSync(join(spec, 'schemas'))) {
    if (f !== 'bundle.json') ajv.addSchema(JSON.parse(committed(`schemas/${f}`)));
  }
  return (name: WireName, value: unknown): boolean => {
    const check = ajv.getSchema(schemaId(name));
    if (check === undefined) throw new Error(`no schema ${name}`);
    return check(value) as boolean;
  };
}

/**
 * `METHOD path` -> the schema name each handler decodes its body with (`bodyOf(req, X, ...)`), read
 * from the route sources: what the document says a route takes is what the route checks.
 */
function bodiesInSource(): Map<string, string | undefined> {
  const dir = join(root, 'src', 'server', 'routes');
  const found = new Map<string, string | undefined>();
  for (const f of readdirSync(dir)) {
    const src = readFileSync(join(dir, f), 'utf8');
    const at = [...src.matchAll(/app\.(get|post|put|patch|delete)(?:<[^>]*>)?\(\s*'([^']+)'/g)];
    at.forEach((m, i) => {
      const handler = src.slice(m.index, at[i + 1]?.index ?? src.length);
      const key = `${m[1]!.toUpperCase()} ${m[2]}`;
      // GET /metrics is served on the operations listener only (buildOperationsApp), not the API.
      if (key !== 'GET /metrics') found.set(key, /bodyOf\(req, (\w+),/.exec(handler)?.[1]);
    });
  }
  return found;
}

describe('machine-readable contract (JSON Schema 2020-12, OpenAPI 3.1)', () => {
  let net: RunningDevnet;
  beforeAll(async () => {
    // Two DPs: the witness routes exist only where there are peers' logs to witness.
    net = await startDevnet({}, { dps: 2 });
  });
  afterAll(() => net.close());

  it('the committed schemas and document are what the code generates (npm run schemas)', () => {
    const files = specFiles();
    for (const [path, content] of files) expect(committed(path), path).toBe(content);
    const onDisk = readdirSync(join(spec, 'schemas')).map((f) => `schemas/${f}`);
    expect(onDisk.sort()).toEqual([...files.keys()].filter((p) => p.startsWith('schemas/')).sort());
  });

  it('every route the node registers is documented, and every documented route exists', () => {
    const documented = Object.keys(RouteDocs).sort();
    for (const key of documented) {
      const [method, url] = key.split(' ') as [string, string];
      expect(net.app.hasRoute({ method, url }), key).toBe(true);
    }
    const registered = routesOf(net.app)
      .filter((r) => r.method !== 'HEAD') // fastify's own HEAD for each GET
      .map((r) => `${r.method} ${r.url}`);
    expect(registered.length).toBe(documented.length);
    for (const key of registered) expect(documented, key).toContain(key);
    const doc = JSON.parse(committed('openapi.json')) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(operations.sort()).toEqual(
      documented.map((k) => k.replace(/ (.*)$/, (_, p: string) => ` ${openApiPath(p)}`)).sort(),
    );
  });

  it("each documented request body is the schema the route's handler decodes", () => {
    const inSource = bodiesInSource();
    expect([...inSource.keys()].sort()).toEqual(Object.keys(RouteDocs).sort());
    for (const [key, doc] of Object.entries(RouteDocs)) {
      const named = typeof doc.body === 'string' ? doc.body : undefined;
      expect(named, key).toBe(inSource.get(key));
      if (named !== undefined) expect(WireSchemas[named], key).toBeDefined();
    }
  });

  it('GET /openapi.json serves the committed document, cacheable', async () => {
    const res = await net.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    expect(res.body).toBe(committed('openapi.json'));
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(
      doc.components.schemas.Problem.properties.code.anyOf.map((c: { const: string }) => c.const),
    ).toEqual(Object.values(ErrorCode));
  });

  it('the wire vectors are valid records per the JSON Schemas; altered ones are not', () => {
    const valid = validator();
    const r = vectors.records;
    // Records and requests are closed (additionalProperties: false); answers may grow fields.
    const answers = new Set<WireName>(['EvaluateAnswer']);
    const cases: [WireName, unknown][] = [
      ['PossessionAttestation', vectors.attestation.record],
      ['Mapping', vectors.mapping.record],
      ['RegistryDocument', vectors.registry],
      ['Invalidation', r.invalidation],
      ['KeyRotation', r.rotation],
      ['Reaffirmation', r.reaffirmation],
      ['SessionRequest', r.session],
      ['CsipEvent', r.csipEvent],
      ['HolderRead', r.holderRead],
      ['PseudonymRequest', r.pseudonymRequest],
      ['ForwardedLookup', JSON.parse(vectors.peerRequest.body)],
      ['EvaluateRequest', vectors.private.evaluate.request],
      ['EvaluateAnswer', vectors.private.evaluate.answer],
      ['BucketsRequest', vectors.private.batch.request],
    ];
    for (const [name, value] of cases) expect(valid(name, value), name).toBe(true);
    for (const [name, value] of cases) {
      if (!answers.has(name))
        expect(valid(name, { ...(value as object), extra: 1 }), `${name} + extra`).toBe(false);
      // 3: a version no record has (mapping bodies and the registry are at 2).
      expect(valid(name, { ...(value as object), v: 3 }), `${name} v: 3`).toBe(false);
    }
  });

  it("the node's answers are valid per the schemas the document gives them", async () => {
    const valid = validator();
    const registry = await net.app.inject({ method: 'GET', url: '/v1/registry' });
    expect(valid('RegistryDocument', registry.json())).toBe(true);
    const meta = await net.app.inject({ method: 'GET', url: '/.well-known/mimi-discovery' });
    expect(valid('DpMetadata', meta.json())).toBe(true);
    const witness = await net.app.inject({ method: 'GET', url: '/v1/log/witness' });
    expect(valid('WitnessReport', witness.json())).toBe(true);
    const epochs = await net.app.inject({ method: 'GET', url: '/v1/private/epochs' });
    expect(valid('EpochsAnswer', epochs.json())).toBe(true);
    const refused = await net.app.inject({ method: 'POST', url: '/v1/lookup', payload: { v: 1, csis: [] } });
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(valid('Problem', refused.json())).toBe(true);
    expect(valid('Problem', { ...(refused.json() as object), code: 'no-such-code' })).toBe(false);
    // A batch answers 200 with one result per submission, rejected ones with their problem.
    const token = net.ctx.sessions.issue({
      participant: 'msp1',
      role: 'msp',
      expiresAt: net.clock.now() + 600,
    });
    const batch = await net.app.inject({
      method: 'POST',
      url: '/v1/mappings/batch',
      headers: { authorization: `Bearer ${token}` },
      payload: { v: 1, submissions: [{ v: 1 }] },
    });
    expect(batch.statusCode).toBe(200);
    expect(batch.json().rejected).toBe(1);
    expect(valid('SubmissionBatchAnswer', batch.json())).toBe(true);
    expect(valid('SubmissionBatchAnswer', { ...(batch.json() as object), rejected: '1' })).toBe(false);
  });
});

describe('GET /openapi.json budget', () => {
  it('draws on the per-address budget of unauthenticated reads (R22)', async () => {
    const net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.limits = { ...c.limits, anonymousPerMinute: 2 };
        },
      },
    );
    try {
      const get = () => net.app.inject({ method: 'GET', url: '/openapi.json' });
      expect((await get()).statusCode).toBe(200);
      expect((await get()).statusCode).toBe(200);
      const over = await get();
      expect(over.statusCode).toBe(429);
      expect(over.json().code).toBe(ErrorCode.RateLimited);
    } finally {
      await net.close();
    }
  });
});
