import type { Server } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { MimiError } from '../protocol/errors.js';
import type { Limits } from './config.js';
import type { NodeMetrics } from './metrics.js';
import { clientErrorOf, rawProblemResponse } from './problems.js';

/**
 * R22: what one client may hold of the node's connections and time. Separate bounds for the
 * headers (node's headersTimeout), the body (bodyTimeoutMs, here), the whole request (node's
 * requestTimeout), an idle keep-alive connection (keepAliveTimeout), and the open connections of
 * one client address.
 */

/** The options node's HTTP server takes at creation for the header and request bounds. */
export function serverTimeouts(limits: Limits): {
  requestTimeout: number;
  headersTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    // node checks these bounds only this often (30 s by default: slow clients were held 90 s).
    connectionsCheckingInterval: Math.max(
      25,
      Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)),
    ),
  };
}

/** An IPv4 client on a dual-stack listener arrives as ::ffff:a.b.c.d; count it as a.b.c.d. */
function addressOf(socket: Socket): string {
  const a = socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** The trusted proxies (listen.trustProxy) as a BlockList: they speak for many clients. */
function proxyList(trustProxy: readonly string[] | undefined): BlockList {
  const list = new BlockList();
  const add = (entry: string) => {
    const [net, bits] = entry.split('/');
    const type = isIP(net ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (isIP(net ?? '') === 0) return;
    if (bits === undefined) list.addAddress(net!, type);
    else list.addSubnet(net!, Number(bits), type);
  };
  const named: Record<string, string[]> = {
    loopback: ['127.0.0.0/8', '::1/128'],
    linklocal: ['169.254.0.0/16', 'fe80::/10'],
    uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  };
  for (const entry of trustProxy ?? []) {
    for (const e of entry.split(',').map((s) => s.trim())) (named[e] ?? [e]).forEach(add);
  }
  return list;
}

/**
 * Caps the open connections per client address: one over the cap is answered 429 `rate-limited`
 * (problem+json) and closed before its request is read. The trusted proxies are not capped: behind
 * them every client shares their address.
 */
export function capConnections(
  server: Server,
  opts: { maxPerAddress: number; trustProxy?: readonly string[]; tls: boolean; metrics: NodeMetrics },
): void {
  const open = new Map<string, number>();
  const proxies = proxyList(opts.trustProxy);
  const refusal = rawProblemResponse(
    new MimiError('rate-limited', 'too many open connections from this address', { retryAfter: 1 }),
  );
  // Before node's own listener, so a refused socket is closed before its request is parsed.
  server.prependListener('connection', (socket: Socket) => {
    const address = addressOf(socket);
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (address === '' || proxies.check(address, family)) return;
    const n = (open.get(address) ?? 0) + 1;
    if (n > opts.maxPerAddress) {
      opts.metrics.rejects.inc({ code: 'rate-limited' });
      // Under TLS the handshake has not happened yet: nothing readable can be said, only closed.
      if (opts.tls) socket.destroy();
      else socket.end(refusal, () => socket.destroy());
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/**
 * The body must arrive within `bodyTimeoutMs` of the headers, else 408 `request-timeout` and the
 * connection closes. The timer fails the read the body parser is waiting on (fastify's reader
 * listens for 'error' on the request stream while it reads), so the answer goes out through the
 * one error handler; no stream is added per request.
 */
export function boundBodies(app: FastifyInstance, bodyTimeoutMs: number): void {
  app.addHook('preParsing', (req, reply, payload, done) => {
    const h = req.headers;
    const hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] ?? '0') !== '0';
    if (!hasBody || req.raw.complete) return done(null, payload);
    const timer = setTimeout(() => {
      // A read in progress fails, and the error handler answers 408; a body nobody reads (the
      // answer went out) only holds the socket: close it.
      if (payload.listenerCount('data') > 0) {
        reply.header('connection', 'close');
        payload.emit(
          'error',
          new MimiError('request-timeout', `the body did not arrive in ${bodyTimeoutMs} ms`),
        );
      } else {
        req.raw.socket?.destroy();
      }
    }, bodyTimeoutMs);
    const stop = () => clearTimeout(timer);
    payload.once('end', stop);
    payload.once('close', stop);
    // Also keeps a request stream that fails (a reset client) from being an unhandled 'error'.
    payload.on('error', stop);
    // Once answered, what is left of the body is node's (requestTimeout), not this timer's.
    reply.raw.once('close', stop);
    done(null, payload);
  });
}

/**
 * node's 'clientError' (a request too large or malformed to hand to fastify, a timeout): answer
 * problem+json where HTTP still allows an answer (no response begun on this socket), then close.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket, metrics: NodeMetrics): void {
  if (socket.destroyed) return;
  const mimi = clientErrorOf(err);
  if (mimi !== undefined) {
    metrics.rejects.inc({ code: mimi.code });
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (socket.writable && (inFlight == null || inFlight.headersSent !== true)) {
      socket.write(rawProblemResponse(mimi));
    }
  }
  socket.destroy();
}
