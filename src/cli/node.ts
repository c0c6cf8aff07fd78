import type { FastifyInstance } from 'fastify';
import { buildApp, listen } from '../server/app.js';
import { loadConfig } from '../server/config.js';
import { type Context, createContext } from '../server/context.js';
import { CliError, CliErrorCode } from './io.js';

export const LogLevel = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LogLevel)[number];

export interface RunningNode {
  ctx: Context;
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** loadConfig + createContext + buildApp + listen; on failure nothing is left open. */
export async function startNode(
  configFile: string,
  opts: { logLevel: LogLevel; logStream?: NodeJS.WritableStream },
): Promise<RunningNode> {
  const ctx = await createContext(loadConfig(configFile));
  // pino (through fastify): request bodies are never logged, they hold CSIs.
  const logger =
    opts.logLevel === 'silent'
      ? false
      : { level: opts.logLevel, ...(opts.logStream === undefined ? {} : { stream: opts.logStream }) };
  const app = buildApp(ctx, { logger });
  let url: string;
  try {
    url = await listen(app, ctx);
  } catch (err) {
    await app.close().catch(() => undefined);
    await ctx.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const { host, port } = ctx.config.config.listen;
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
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await ctx.close();
    },
  };
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
