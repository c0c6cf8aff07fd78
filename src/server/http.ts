import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MimiError } from '../protocol/errors.js';
import { decodeRecord } from '../protocol/records.js';
import type { Caller } from './auth.js';
import type { Context } from './context.js';

/** Validates a request body against its record schema (typed errors, never a guess). */
export function bodyOf<S extends TSchema>(req: FastifyRequest, schema: S, what: string): Static<S> {
  return decodeRecord(schema, req.body, what);
}

/** R23: the caller behind the bearer token; charges `cost` points of its budget (R22). */
export async function authenticate(req: FastifyRequest, ctx: Context, cost = 1): Promise<Caller> {
  const header = req.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ')) {
    throw new MimiError('unauthenticated', 'this endpoint needs a session token (POST /v1/session)');
  }
  const caller = ctx.sessions.check(header.slice(7), ctx.now());
  await ctx.callerLimiter.consume(`${caller.role}:${caller.participant}`, cost);
  return caller;
}

/** Unauthenticated routes are limited per client address. */
export async function limitAnonymous(req: FastifyRequest, ctx: Context, scope: string): Promise<void> {
  await ctx.anonymousLimiter.consume(`${scope}:${req.ip}`);
}

/** `json` as the answer: text, or its UTF-8 bytes as written by JsonBytes (sent as they are). */
export function sendJson(reply: FastifyReply, status: number, json: string | Buffer): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(json);
}
