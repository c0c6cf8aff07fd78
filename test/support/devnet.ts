import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type DevnetLayout, readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { HolderClient } from '../../src/client/holder.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import { PrivateTokens } from '../../src/client/private-tokens.js';
import type { KeyPair } from '../../src/crypto/keys.js';
import type { PossessionAttestation } from '../../src/protocol/records.js';

export { freePort } from '../../src/cli/ports.js';

import { freePort } from '../../src/cli/ports.js';
import { Registry } from '../../src/registry/document.js';
import { type AppOptions, buildApp, listen } from '../../src/server/app.js';
import { loadConfig, type NodeConfig } from '../../src/server/config.js';
import { type Context, type ContextOverrides, createContext } from '../../src/server/context.js';
import { startTokenIssuer, type TokenIssuer } from '../../src/server/token-issuer.js';

export { TestClock } from './clock.js';

import { TestClock } from './clock.js';

export interface RunningDevnet {
  layout: DevnetLayout;
  ctx: Context;
  app: FastifyInstance;
  url: string;
  registry: Registry;
  clock: TestClock;
  msp(id: string, isOwnUser?: (ssi: string) => boolean): MspAgent;
  holder(key?: KeyPair): HolderClient;
  /** Runs a whole possession challenge through the dev outbox. */
  prove(holder: HolderClient, csi: string): Promise<PossessionAttestation>;
  /** The MSPs' Privacy Pass issuers, running (with `issuers`), by MSP id. */
  issuers: Map<string, TokenIssuer>;
  /** Privacy Pass tokens of `user` at `msp`'s issuer, for `dp` (default dp1). */
  tokens(msp: string, user: string, dp?: string): PrivateTokens;
  close(): Promise<void>;
}

/** A real devnet node on loopback: files in a temp folder, SQLite, fastify listening. */
export interface DevnetOptions {
  /** Edits the node config before the node starts. */
  configure?: (config: NodeConfig) => void;
  /** fastify app options, e.g. a logger writing to a test stream. */
  app?: AppOptions;
  /** DPs in the registry (default 1); only dp1 runs, so the others are peers that are down. */
  dps?: number;
  /** Give each MSP a Privacy Pass issuer, started on loopback (its counts in a SQLite file). */
  issuers?: { tokensPerDay?: number };
}

export async function startDevnet(
  overrides: ContextOverrides = {},
  opts: DevnetOptions = {},
): Promise<RunningDevnet> {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-devnet-'));
  const port = await freePort(opts.dps);
  const issuerPort = opts.issuers === undefined ? undefined : await freePort(3);
  writeDevnet(dir, {
    port,
    dps: opts.dps,
    ...(issuerPort === undefined
      ? {}
      : { issuers: { port: issuerPort, tokensPerDay: opts.issuers?.tokensPerDay } }),
  });
  const layout = readDevnet(dir);
  const clock = new TestClock();
  const ctx = await createContext(loadConfig(layout.configFile), {
    clock,
    config: opts.configure,
    ...overrides,
  });
  const app = buildApp(ctx, opts.app);
  await listen(app, ctx);
  const url = layout.endpoint;
  const registry = Registry.open(
    JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')),
    layout.registryKey,
    {
      now: clock.now(),
    },
  );
  const http = { baseUrl: url };
  const issuers = new Map<string, TokenIssuer>();
  for (const m of layout.msps) {
    if (m.issuer !== undefined)
      issuers.set(m.id, await startTokenIssuer(m.issuer.configFile, { now: clock.now }));
  }
  return {
    issuers,
    tokens(msp, user, dp = 'dp1') {
      const issuer = layout.msps.find((m) => m.id === msp)?.issuer;
      const credential = issuer?.users[user];
      if (issuer === undefined || credential === undefined) throw new Error(`no issuer user ${msp}:${user}`);
      return new PrivateTokens({
        msp,
        dpId: dp,
        issuer: { url: issuer.url, credential },
        registry: () => registry,
        now: clock.now,
      });
    },
    layout,
    ctx,
    app,
    url,
    registry,
    clock,
    msp(id, isOwnUser = () => true) {
      const m = layout.msps.find((x) => x.id === id);
      if (m === undefined) throw new Error(`no MSP ${id}`);
      return new MspAgent({
        id,
        key: readJwkFile(m.keyFile),
        dp: { ...http, id: 'dp1' },
        registry: () => registry,
        isOwnUser,
        now: clock.now,
      });
    },
    holder(key) {
      return new HolderClient({ dp: http, key, now: clock.now });
    },
    async prove(holder, csi) {
      const started = await holder.startChallenge(csi);
      const code = ctx.devOutbox?.sent.at(-1)?.code;
      if (code === undefined) throw new Error('no code in the dev outbox');
      return holder.answerChallenge(started.challengeId, code);
    },
    async close() {
      for (const i of issuers.values()) await i.close();
      await app.close();
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
