import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { PrivateSuite } from '../../src/protocol/private.js';
import { serialiseThroughWireSchemas } from '../../src/server/answers.js';

/** A bare fastify with the wire-schema hook, and handlers that answer what they are given. */
function app(answers: Record<string, unknown>) {
  const a = Fastify();
  serialiseThroughWireSchemas(a);
  for (const [key, body] of Object.entries(answers)) {
    const [method, url] = key.split(' ') as ['GET' | 'POST', string];
    a.route({ method, url, handler: async () => body });
  }
  return a;
}

describe('answers are written through their wire schemas (src/server/answers.ts)', () => {
  it("a route's object answer goes through the schema the OpenAPI document names: members it lacks are not sent", async () => {
    const a = app({ 'POST /v1/holder/rotate': { rotated: true, secret: 'not on the wire' } });
    const res = await a.inject({ method: 'POST', url: '/v1/holder/rotate' });
    expect(res.body).toBe('{"rotated":true}');
    await a.close();
  });

  it('the bytes are those JSON.stringify writes for the handlers, in their order (GET /v1/private/epochs)', async () => {
    const epochs = {
      v: 1,
      suite: PrivateSuite.Suite,
      mode: PrivateSuite.Mode,
      current: 1,
      kAnonymity: 16,
      maxEvaluateBatch: 1000,
      maxBucketBatch: 128,
      epochs: [
        {
          id: 1,
          state: 'active',
          publicKey: 'A'.repeat(43),
          bucketBits: 0,
          bucketCount: 1,
          minBucket: 0,
          activatedAt: 1,
          retireAt: null,
          keyLog: { index: 0, checkpoint: 'note\n', leaf: 'AA', proof: ['B'.repeat(43)] },
        },
      ],
    };
    const health = { ok: true };
    const a = app({ 'GET /v1/private/epochs': epochs, 'GET /healthz': health });
    expect((await a.inject({ method: 'GET', url: '/v1/private/epochs' })).body).toBe(JSON.stringify(epochs));
    expect((await a.inject({ method: 'GET', url: '/healthz' })).body).toBe(JSON.stringify(health));
    await a.close();
  });

  it('a route that writes its JSON text itself sends it as it is', async () => {
    const text = '{"id":"x","state":"active","mapping":{"b":1,"a":2},"duplicate":false}';
    const a = Fastify();
    serialiseThroughWireSchemas(a);
    a.post('/v1/mappings', async (_req, reply) => reply.type('application/json; charset=utf-8').send(text));
    expect((await a.inject({ method: 'POST', url: '/v1/mappings' })).body).toBe(text);
    await a.close();
  });
});
