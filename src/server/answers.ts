import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { EpochsAnswerAsServed } from '../protocol/private.js';
import { type WireName, WireSchemas } from '../protocol/wire-schemas.js';
import { RouteDocs } from './openapi.js';

/** Where this node always writes a member the schema has optional (see EpochsAnswerAsServed). */
const servedAs: Partial<Record<WireName, TSchema>> = { EpochsAnswer: EpochsAnswerAsServed };

/**
 * Every route's answers are serialised through their wire schemas (src/protocol/), the ones the
 * OpenAPI document gives them (RouteDocs) and the SDK checks what it receives with: a route's
 * response schema is taken from its RouteDocs entry as it registers, so fastify writes its object
 * answers with fast-json-stringify from that schema. Routes that write JSON text themselves
 * (a stored mapping spliced in: src/protocol/answer-json.ts) send a string, which fastify sends
 * as it is; those writers are checked against the same schemas in test/protocol.
 */
export function serialiseThroughWireSchemas(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    // HEAD is fastify's own twin of a GET: it answers as the GET does.
    const method = methods[0] === 'HEAD' ? 'GET' : methods[0];
    const doc = RouteDocs[`${method} ${route.url}`];
    if (doc === undefined) return;
    const response: Record<number, TSchema> = {};
    for (const [status, c] of Object.entries(doc.responses)) {
      if (typeof c === 'string') response[Number(status)] = servedAs[c] ?? WireSchemas[c];
    }
    if (Object.keys(response).length === 0) return;
    const own = (route.schema?.response ?? {}) as Record<string, unknown>;
    route.schema = { ...route.schema, response: { ...response, ...own } };
  });
}
