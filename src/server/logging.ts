import type { FastifyReply, FastifyRequest } from 'fastify';
import { isPrivateTokenHeader } from '../protocol/privacy-pass.js';

/**
 * Logs never hold a CSI in clear (issue 6 §5, R9, R28). Two layers:
 *
 * 1. Serializers log what a request is without what it carries: the route pattern in place of the
 *    URL (a path or query string may hold a CSI, even on a route that does not exist), and of an
 *    error only its type, code, message and stack (never a driver's `detail`, which quotes rows,
 *    nor a MimiError's extra members). Bodies are never logged.
 * 2. Every line is scrubbed as it is written (pino's streamWrite hook): inside JSON strings,
 *    anything shaped like a CSI (a tel:/mailto: URI, an email address, a run of seven or more
 *    digits with or without "+" and separators) is replaced. This catches what layer 1 cannot
 *    foresee, such as an error message quoting its input. Numbers outside strings (time, pid,
 *    status, durations) are left alone.
 */

const uri = /\b(?:tel|mailto):[^\s"\\]*/gi;
const email = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
// Seven digits or more, with single spaces, dashes or brackets between them, not inside a token.
const number = /(?<![A-Za-z0-9_])\+?\(?\d(?:[\s()-]?\d){6,}(?![A-Za-z0-9_])/g;
const jsonString = /"(?:[^"\\]|\\.)*"/g;

/** `text` with everything CSI-shaped replaced. */
export function scrubCsis(text: string): string {
  return text.replace(uri, '[csi]').replace(email, '[email]').replace(number, '[number]');
}

/** A serialized log line (JSON) with every string scrubbed; the JSON stays valid. */
export function scrubLogLine(line: string): string {
  return line.replace(jsonString, scrubCsis);
}

export const logSerializers = {
  req(req: FastifyRequest) {
    return {
      method: req.method,
      // The route pattern (`/v1/mappings/:id`) under fastify's usual key, never the URL asked.
      url: req.routeOptions?.url ?? '(no route)',
      // R26: a request paying with a Privacy Pass token is logged without its address, so no
      // line ties a client to a redemption (docs/privacy.md).
      remoteAddress: isPrivateTokenHeader(req.headers?.authorization ?? '') ? undefined : req.ip,
    };
  },
  res(reply: FastifyReply) {
    return { statusCode: reply.statusCode };
  },
  err(err: Error & { code?: unknown }) {
    return {
      type: err.name,
      ...(typeof err.code === 'string' ? { code: err.code } : {}),
      message: scrubCsis(String(err.message)),
      stack: scrubCsis(String(err.stack ?? '')),
    };
  },
};

export type LogOption = boolean | { level: string; stream?: { write(line: string): void } };

/** fastify's `logger` option: pino with the serializers and the line scrubber above. */
export function loggerOptions(option: LogOption | undefined): false | Record<string, unknown> {
  if (option === undefined || option === false) return false;
  const { level, stream } = option === true ? { level: 'info', stream: undefined } : option;
  return {
    level,
    ...(stream === undefined ? {} : { stream }),
    serializers: logSerializers,
    hooks: { streamWrite: scrubLogLine },
  };
}

/** What a background job's log line goes through: a pino logger's `info` and `warn`. */
interface LineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  child(bindings: Record<string, unknown>): LineLogger;
}

/**
 * Where the node's background jobs write (outbox deliveries, peer calls, leadership): they are
 * made before the HTTP app and its logger, so the app attaches its logger here when it is built
 * (buildApp), with the same serializers and CSI scrubbing; until then lines are dropped.
 */
export class BackgroundLog {
  private logger: LineLogger | undefined;

  attach(logger: LineLogger): void {
    this.logger = logger.child({ component: 'background' });
  }

  info(obj: object, msg: string): void {
    this.logger?.info(obj, msg);
  }

  warn(obj: object, msg: string): void {
    this.logger?.warn(obj, msg);
  }
}
