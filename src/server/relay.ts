import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline, type Readable, Transform } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { OhttpMediaType } from '../crypto/ohttp.js';
import { MimiError } from '../protocol/errors.js';
import { RegistrySource } from '../registry/source.js';
import { MemoryRateLimiter } from '../store/rate-limit.js';
import { type ResolvedRelayConfig, resolveRelayConfig } from './config-defaults.js';
import { decodeConfig, folderOf, pathsRelativeTo, readConfigJson } from './config-file.js';
import { RelayConfig } from './config-schema.js';
import { checkListenAddress } from './listen-address.js';
import { type LogOption, loggerOptions } from './logging.js';
import { asMimiError, problemOf, sendProblem } from './problems.js';

export interface LoadedRelayConfig {
  /** The file as validated. */
  config: RelayConfig;
  /** Every setting with a default, filled in (relayDefaults, config-defaults.ts). */
  resolved: ResolvedRelayConfig;
  path(p: string): string;
}

/** A relay config file read, validated and resolved. */
export function loadRelayConfig(file: string): LoadedRelayConfig {
  return loadedRelayConfig(checkRelayConfig(readConfigJson(file, 'relay config'), file), folderOf(file));
}

/** The relay config validated as the node's is: config-invalid naming the setting in `extra.setting`. */
export function checkRelayConfig(raw: unknown, where = 'relay config'): RelayConfig {
  return decodeConfig(RelayConfig, raw, where);
}

/** A validated relay config, resolved, its paths relative to `baseDir`. */
export function loadedRelayConfig(config: RelayConfig, baseDir: string): LoadedRelayConfig {
  return { config, resolved: resolveRelayConfig(config), path: pathsRelativeTo(baseDir) };
}

export interface Relay {
  app: FastifyInstance;
  registry: RegistrySource;
  /** Listens; its URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The Oblivious HTTP relay (RFC 9458 §6.2; `mimi-discovery relay --config FILE`).
 *
 * POST /v1/relay/:dp takes a `message/ohttp-req` and sends it, as it is, to the gateway that the
 * registry (checked against its pinned key, refreshed) lists for DP `:dp`, and to nothing else;
 * the answer goes back as it is. The relay adds nothing that names the client: the forwarded
 * request carries only its content type and length (no Forwarded, X-Forwarded-For, Via, cookies,
 * nor any header of the client's). It bounds request and answer sizes and each client address's
 * requests per minute. Its logs (pino, the node's serializers) hold the client's address, the
 * route pattern, the target DP and the status: never a body, which it cannot read anyway.
 *
 * The relay's app and registry; `listen()` starts it. Refuses to start without a registry.
 */
export async function createRelay(
  loaded: LoadedRelayConfig,
  opts: { logger?: LogOption; now?: () => number } = {},
): Promise<Relay> {
  const { config, resolved } = loaded;
  const { limits } = resolved;
  const registry = new RegistrySource({
    location: loaded.path(config.registry.location),
    pinnedKey: config.registry.pinnedKey,
    refreshSeconds: resolved.registry.refreshSeconds,
    maxBytes: resolved.registry.maxBytes,
    now: opts.now,
  });
  await registry.load();
  registry.start();
  const perClient = new MemoryRateLimiter({ points: limits.requestsPerMinute, perSeconds: 60 });

  const app = Fastify({
    logger: loggerOptions(opts.logger),
    bodyLimit: limits.maxRequestBytes,
    frameworkErrors: (err: FastifyError, _req: unknown, reply: Parameters<typeof sendProblem>[0]) =>
      sendProblem(
        reply,
        asMimiError(err) ?? new MimiError('request-invalid', 'the request cannot be processed'),
      ),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.setErrorHandler((err: FastifyError, req, reply) => {
    return sendProblem(reply, problemOf(err, req.log));
  });
  app.setNotFoundHandler((_req, reply) => sendProblem(reply, new MimiError('not-found', 'no such endpoint')));
  app.addContentTypeParser(OhttpMediaType.Request, { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.post<{ Params: { dp: string } }>('/v1/relay/:dp', async (req, reply) => {
    await perClient.consume(req.ip);
    // Only gateways the verified registry lists: the relay is no open proxy.
    const gateway = registry.current().dp(req.params.dp)?.ohttp?.gateway;
    if (gateway === undefined) {
      throw new MimiError('relay-target-unknown', 'no DP of the registry has this gateway');
    }
    if (!Buffer.isBuffer(req.body)) throw new MimiError('ohttp-malformed', `send ${OhttpMediaType.Request}`);
    req.log.info({ dp: req.params.dp, bytes: req.body.length }, 'relaying');
    const answer = await forward(gateway, req.body, limits, config.egressAddress);
    if (answer.length !== undefined) reply.header('content-length', answer.length);
    return reply.code(answer.status).type(answer.type).header('cache-control', 'no-store').send(answer.body);
  });

  return {
    app,
    registry,
    async listen() {
      const { host, port } = config.listen;
      checkListenAddress({ ...config.listen, tlsSetting: false });
      return app.listen({ host, port });
    },
    async close() {
      registry.close();
      await app.close();
    },
  };
}

/** Answers the relay passes on: the gateway's encapsulated response, or its plain problem. */
const passedTypes = [OhttpMediaType.Response, 'application/problem+json'];

/**
 * One POST to a gateway with nothing but the body; its status, type and body, bounded. The body
 * streams through as it arrives (a bucket batch answer is MiBs: not held whole, not copied into
 * one buffer): an answer that declares more than the bound is refused before anything is sent
 * back, one that grows past it without declaring its length is cut off there.
 */
function forward(
  gateway: string,
  body: Buffer,
  limits: { maxResponseBytes: number; timeoutMs: number },
  localAddress: string | undefined,
): Promise<{ status: number; type: string; length: number | undefined; body: Readable }> {
  const url = new URL(gateway);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        // The whole header set: no client header, no address, no user agent.
        headers: { 'content-type': OhttpMediaType.Request, 'content-length': String(body.length) },
        timeout: limits.timeoutMs,
        ...(localAddress === undefined ? {} : { localAddress }),
      },
      (res) => {
        const type = String(res.headers['content-type'] ?? '')
          .split(';')[0]!
          .trim();
        if (!passedTypes.includes(type)) {
          res.destroy();
          reject(new MimiError('unreachable', 'the gateway answered something other than OHTTP'));
          return;
        }
        const declared = res.headers['content-length'];
        const length = declared === undefined ? undefined : Number(declared);
        if (length !== undefined && !(Number.isSafeInteger(length) && length >= 0)) {
          res.destroy();
          reject(new MimiError('unreachable', 'the gateway answer has a bad length'));
          return;
        }
        if (length !== undefined && length > limits.maxResponseBytes) {
          res.destroy();
          reject(new MimiError('body-too-large', 'the gateway answer is too large'));
          return;
        }
        let size = 0;
        const bounded = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            size += chunk.length;
            if (size > limits.maxResponseBytes)
              done(new MimiError('body-too-large', 'the gateway answer is too large'));
            else done(null, chunk);
          },
        });
        // A gateway that breaks off, or an answer cut at the bound, ends the client's answer too.
        pipeline(res, bounded, () => undefined);
        resolvePromise({ status: res.statusCode ?? 502, type, length, body: bounded });
      },
    );
    req.on('timeout', () => req.destroy(new MimiError('unreachable', 'the gateway did not answer in time')));
    req.on('error', () => reject(new MimiError('unreachable', 'the gateway did not answer')));
    req.end(body);
  });
}
