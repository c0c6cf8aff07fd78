import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply } from 'fastify';
import { type ErrorCode, isWireCode, MimiError, toProblem } from '../protocol/errors.js';

/**
 * The HTTP boundary's one translation: every error the HTTP layer answers goes through here
 * (RFC 9457): route errors (any MimiError subclass with a wire code), fastify's own (routing, body
 * parsing) and node's (a request line or headers too large, a timeout), so every answer is RFC 9457
 * problem+json with a code from src/protocol/errors.ts. A MimiError with a layer's own code (a
 * TlogError, say) that reaches HTTP is a fault of ours, answered as `internal`.
 */

/** fastify's error codes and ours. Not listed and 4xx: request-invalid; 5xx: internal. */
const frameworkCodes: Record<string, [ErrorCode, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['body-too-large', 'the request body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['record-invalid', 'send application/json'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['malformed-json', 'the request body is not valid JSON'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['malformed-json', 'the request body is not valid JSON'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['request-invalid', 'the body does not match its Content-Length'],
  FST_ERR_BAD_URL: ['request-invalid', 'the URL does not decode'],
  FST_ERR_INVALID_URL: ['request-invalid', 'the URL is not valid'],
  FST_ERR_MAX_PARAM_LENGTH: ['uri-too-long', 'a path segment is too long'],
  FST_ERR_NOT_FOUND: ['not-found', 'no such endpoint'],
};

/** node's HTTP parser and server errors (the 'clientError' event). */
const clientCodes: Record<string, [ErrorCode, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: ['request-timeout', 'the request did not arrive in time'],
  HPE_HEADER_OVERFLOW: ['header-too-large', 'the request line and headers are too large'],
};

/** The MimiError behind any error the HTTP layer sees; undefined for a fault of ours (internal). */
export function asMimiError(err: FastifyError | Error): MimiError | undefined {
  if (err instanceof MimiError) return isWireCode(err.code) ? err : undefined;
  const code = (err as FastifyError).code;
  const known = code === undefined ? undefined : (frameworkCodes[code] ?? clientCodes[code]);
  if (known !== undefined) return new MimiError(known[0], known[1]);
  // The JSON parser's own (prototype poisoning) and any other parse failure of the body.
  if (err instanceof SyntaxError)
    return new MimiError('malformed-json', 'the request body is not valid JSON');
  const status = (err as FastifyError).statusCode;
  if (status === 404) return new MimiError('not-found', 'no such endpoint');
  if (typeof code === 'string' && code.startsWith('HPE_'))
    return new MimiError('request-invalid', 'malformed HTTP request');
  if (status !== undefined && status >= 400 && status < 500) {
    return new MimiError('request-invalid', 'the request cannot be processed');
  }
  return undefined;
}

/**
 * The MimiError an error handler answers for any thrown value; a fault of ours is logged (with its
 * cause) and answered as `internal`, saying nothing more.
 */
export function problemOf(err: unknown, log: { error(obj: object, msg: string): void }): MimiError {
  const mimi = err instanceof Error ? asMimiError(err) : undefined;
  // A typed fault of ours (a store's exhausted write conflict, a closed store) is logged as an
  // untyped one is: its cause carries what the operator needs.
  if (mimi !== undefined && mimi.code !== 'internal') return mimi;
  log.error({ err }, 'internal error');
  if (mimi !== undefined) return mimi;
  return new MimiError('internal', 'internal error');
}

/** Sends `err` as problem+json; a timeout also closes the connection (the rest of the body never came). */
export function sendProblem(reply: FastifyReply, err: MimiError): FastifyReply {
  // rate-limited, store-unavailable: the caller may repeat the request after this many seconds.
  if (typeof err.extra?.retryAfter === 'number') reply.header('retry-after', String(err.extra.retryAfter));
  if (err.code === 'request-timeout') reply.header('connection', 'close');
  return reply.code(err.status).type('application/problem+json').send(toProblem(err));
}

/** A whole HTTP/1.1 response for a socket fastify never saw a request on; the connection then closes. */
export function rawProblemResponse(err: MimiError): string {
  const body = JSON.stringify(toProblem(err));
  const retry = typeof err.extra?.retryAfter === 'number' ? `Retry-After: ${err.extra.retryAfter}\r\n` : '';
  return (
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\n` +
    'Content-Type: application/problem+json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`
  );
}

/** node's 'clientError': a request fastify cannot be handed. undefined: nothing to answer (reset). */
export function clientErrorOf(err: NodeJS.ErrnoException): MimiError | undefined {
  if (err.code === 'ECONNRESET') return undefined;
  return asMimiError(err) ?? new MimiError('request-invalid', 'malformed HTTP request');
}
