import type { FastifyInstance } from 'fastify';
import { buildApp, buildOperationsApp, listen, listenOperations } from '../server/app.js';
import { type LoadedConfig, loadConfig } from '../server/config.js';
import { type Context, type ContextOverrides, createContext } from '../server/context.js';
import { CliError, CliErrorCode } from './io.js';

import { type LogLevel, serviceLogger } from './log-level.js';

export interface RunningNode {
  ctx: Context;
  app: FastifyInstance;
  url: string;
  /** The operations listener (/metrics, /healthz, /readyz) when `operations.listen` is set. */
  operationsUrl: string | undefined;
  /**
   * Graceful shutdown: /readyz turns 503, the listener stops accepting connections, requests in
   * flight finish (those still running after `operations.shutdownTimeoutMs`, default 30 s, have
   * their connections closed), then the context closes (jobs stop, the store closes).
   */
  close(): Promise<void>;
}

/** Closes `app` once its in-flight requests are answered, or cuts its connections after `timeoutMs`. */
async function drain(app: FastifyInstance, timeoutMs: number): Promise<void> {
  // fastify stops accepting, answers 503 to requests arriving on open connections, and waits for
  // the connections to end. A keep-alive connection whose request finishes after close began is
  // not closed by node itself: close the idle ones as they appear, and all of them at the deadline.
  const closed = app.close();
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  const deadline = setTimeout(() => app.server.closeAllConnections(), timeoutMs);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(deadline);
  }
}

/** loadConfig + createContext + buildApp + listen; on failure nothing is left open. */
export async function startNode(
  configFile: string,
  opts: {
    logLevel: LogLevel;
    logStream?: NodeJS.WritableStream;
    overrides?: ContextOverrides;
    /** Called with the config as loaded, before anything is built from it. */
    onConfig?: (config: LoadedConfig) => void;
  },
): Promise<RunningNode> {
  const config = loadConfig(configFile);
  opts.onConfig?.(config);
  const ctx = await createContext(config, opts.overrides);
  // pino (through fastify): request bodies are never logged, they hold CSIs.
  const app = buildApp(ctx, { logger: serviceLogger(opts.logLevel, opts.logStream) });
  const ops = ctx.config.config.operations?.listen === undefined ? undefined : buildOperationsApp(ctx);
  let url: string;
  let operationsUrl: string | undefined;
  let mainListening = false;
  try {
    url = await listen(app, ctx);
    mainListening = true;
    if (ops !== undefined) operationsUrl = await listenOperations(ops, ctx);
  } catch (err) {
    await app.close().catch(() => undefined);
    await ops?.close().catch(() => undefined);
    await ctx.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const o = ctx.config.resolved.operations.listen;
      const { host, port } = mainListening && o !== undefined ? o : ctx.config.config.listen;
      throw new CliError(
        CliErrorCode.AddressInUse,
        `${host}:${port} is in use by another process`,
        'stop the other process (another devnet?), or use a folder set up for another port',
      );
    }
    throw err;
  }
  let closed = false;
  return {
    ctx,
    app,
    url,
    operationsUrl,
    async close() {
      if (closed) return;
      closed = true;
      ctx.lifecycle.draining = true;
      await drain(app, ctx.config.resolved.operations.shutdownTimeoutMs);
      // The operations listener last: /readyz says 503 to the load balancer while draining.
      await ops?.close();
      await ctx.close();
    },
  };
}

/**
 * Sends this process SIGTERM once its parent is gone: a devnet killed with SIGKILL cannot stop
 * its DPs and relay, so they notice they were orphaned instead.
 */
export function exitWithParent(): void {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
  }, 500);
  watch.unref();
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
