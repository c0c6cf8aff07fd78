import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import { OhttpMediaType } from '../../src/crypto/ohttp.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { isMimiError } from '../../src/protocol/errors.js';
import {
  configDefaults,
  loadConfig,
  type NodeConfig,
  reconfigured,
  relayDefaults,
} from '../../src/server/config.js';
import { createContext } from '../../src/server/context.js';
import { createRelay, loadRelayConfig } from '../../src/server/relay.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

const dir = mkdtempSync(join(tmpdir(), 'mimi-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: NodeConfig = {
  dp: { id: 'dp1', keyFile: 'dp1.jwk' },
  registry: { location: 'registry.json', pinnedKey: 'A'.repeat(43) },
  store: { backend: 'sqlite', path: 'x.db' },
  listen: { host: '127.0.0.1', port: 0 },
};
const verifier = {
  id: 'verifier1',
  keyFile: 'v.jwk',
  secretFile: 'v.secret',
  sms: { gateway: { url: 'https://sms.example/send', tokenEnv: 'MIMI_TEST_SMS_TOKEN' } },
  email: {
    smtp: {
      host: 'smtp.example',
      port: 587,
      user: 'u',
      passwordEnv: 'MIMI_TEST_SMTP_PASSWORD',
      from: 'a@b.c',
    },
  },
};

function file(config: object): string {
  const f = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(config));
  return f;
}

async function errorOf(fn: () => unknown): Promise<{ code?: string; extra?: Record<string, unknown> }> {
  try {
    fn();
  } catch (err) {
    return err as { code: string; extra: Record<string, unknown> };
  }
  return {};
}

describe('one resolved config (STYLE.md §19)', () => {
  it('fails at load, naming the variable, when an environment variable the config names is unset', async () => {
    const f = file({ ...base, verifier });
    const noToken = await errorOf(() => loadConfig(f, { MIMI_TEST_SMTP_PASSWORD: 'pw' }));
    expect(noToken.code).toBe('config-env-missing');
    expect(noToken.extra).toEqual({
      setting: 'verifier.sms.gateway.tokenEnv',
      variable: 'MIMI_TEST_SMS_TOKEN',
    });
    const noPassword = await errorOf(() => loadConfig(f, { MIMI_TEST_SMS_TOKEN: 't' }));
    expect(noPassword.code).toBe('config-env-missing');
    expect(noPassword.extra).toEqual({
      setting: 'verifier.email.smtp.passwordEnv',
      variable: 'MIMI_TEST_SMTP_PASSWORD',
    });
    const loaded = loadConfig(f, { MIMI_TEST_SMS_TOKEN: 't', MIMI_TEST_SMTP_PASSWORD: 'pw' });
    expect(loaded.secrets).toEqual({ smsGatewayToken: 't', smtpPassword: 'pw' });
  });

  it('fills in every default once, and a value the file sets wins', () => {
    const loaded = loadConfig(file({ ...base, federation: { peerTimeoutMs: 700 } }), {});
    const r = loaded.resolved;
    expect(r.federation).toMatchObject({
      peerTimeoutMs: 700,
      logCallTimeoutMs: 700,
      breakerFailures: configDefaults.federation.breakerFailures,
      outboxIntervalMs: configDefaults.federation.outboxIntervalMs,
    });
    expect(r.limits.maxBatch).toBe(configDefaults.limits.maxBatch);
    expect(r.limits.headersTimeoutMs).toBe(configDefaults.limits.headersTimeoutMs);
    expect(r.log).toMatchObject({ enabled: true, witnessIntervalMs: configDefaults.log.witnessIntervalMs });
    expect(r.privateLookup?.kAnonymity).toBe(configDefaults.privateLookup.kAnonymity);
    expect(r.operations).toMatchObject({
      listen: undefined,
      readyTimeoutMs: configDefaults.operations.readyTimeoutMs,
      heapGrowingPercent: configDefaults.operations.heapGrowingPercent,
    });
    expect(r.rateLimits).toBeUndefined();
    expect(r.verifier).toBeUndefined();
  });

  it("fills in each store's settings, a residency region's too, and the verifier's attestation lifetime", () => {
    const pg = { backend: 'postgres', url: 'postgres://db/mimi' };
    const loaded = loadConfig(
      file({
        ...base,
        store: { ...pg, poolSize: 3, leadershipRetryMs: 200 },
        residency: {
          default: 'home',
          regions: [
            {
              id: 'eu',
              store: { backend: 'sqlite', path: 'eu.db', cacheBytes: 2 ** 21 },
              callingCodes: ['33'],
            },
            { id: 'home' },
          ],
        },
        verifier: { id: 'verifier1', keyFile: 'v.jwk', secretFile: 'v.secret' },
      }),
      {},
    );
    const { store, verifier: v } = loaded.resolved;
    expect(store.home).toEqual({
      ...pg,
      schema: undefined,
      settings: undefined,
      poolSize: 3,
      connectionTimeoutMs: configDefaults.store.postgres.connectionTimeoutMs,
      maxWriteAttempts: configDefaults.store.postgres.maxWriteAttempts,
      leadershipRetryMs: 200,
    });
    expect(store.regions).toEqual({
      eu: { ...configDefaults.store.sqlite, backend: 'sqlite', path: 'eu.db', cacheBytes: 2 ** 21 },
    });
    expect(v?.attestationLifetimeSeconds).toBe(configDefaults.verifier.attestationLifetimeSeconds);
  });

  it('an override edits a copy, validated and resolved again; the loaded config is left as it was', async () => {
    const loaded = loadConfig(file(base), {});
    const changed = reconfigured(loaded, (c) => (c.limits = { maxBatch: 7 }), {});
    expect(changed.resolved.limits.maxBatch).toBe(7);
    expect(loaded.config.limits).toBeUndefined();
    expect(loaded.resolved.limits.maxBatch).toBe(configDefaults.limits.maxBatch);
    const invalid = await errorOf(() => reconfigured(loaded, (c) => (c.limits = { maxBatch: 0 }), {}));
    expect(invalid.code).toBe('config-invalid');
  });
});

describe('the settings that were constructor defaults (STYLE.md §19)', () => {
  it('fills in the session, registry, verifier, outbox and zone settings; a value the file sets wins', () => {
    const zone = { name: 'example.net', nameServers: [{ name: 'ns1.example.net' }] };
    const defaults = loadConfig(
      file({
        ...base,
        verifier: { id: 'verifier1', keyFile: 'v.jwk', secretFile: 'v.secret' },
        dns: { zones: [zone] },
      }),
      {},
    ).resolved;
    expect(defaults.sessions).toEqual(configDefaults.sessions);
    expect(defaults.registry).toEqual(configDefaults.registry);
    expect(defaults.verifier?.codeDigits).toBe(configDefaults.verifier.codeDigits);
    expect(defaults.federation).toMatchObject({
      outboxBaseBackoffMs: configDefaults.federation.outboxBaseBackoffMs,
      outboxTimeoutMs: configDefaults.federation.outboxTimeoutMs,
    });
    expect(defaults.dns.zones).toEqual([{ ...zone, ...configDefaults.dns.zone }]);
    const set = loadConfig(
      file({
        ...base,
        registry: { ...base.registry, maxBytes: 65_536 },
        sessions: { ttlSeconds: 600 },
        verifier: { id: 'verifier1', keyFile: 'v.jwk', secretFile: 'v.secret', codeDigits: 8 },
        federation: { outboxBaseBackoffMs: 100, outboxTimeoutMs: 2000 },
        dns: { zones: [{ ...zone, ttl: 5, negativeTtl: 1 }] },
      }),
      {},
    ).resolved;
    expect(set.registry.maxBytes).toBe(65_536);
    expect(set.sessions.ttlSeconds).toBe(600);
    expect(set.verifier?.codeDigits).toBe(8);
    expect(set.federation).toMatchObject({ outboxBaseBackoffMs: 100, outboxTimeoutMs: 2000 });
    expect(set.dns.zones).toEqual([{ ...zone, ttl: 5, negativeTtl: 1 }]);
  });

  it('takes operations.heapGrowingPercent from the file, 0 for V8 to choose', () => {
    for (const heapGrowingPercent of [0, 50]) {
      const r = loadConfig(file({ ...base, operations: { heapGrowingPercent } }), {}).resolved;
      expect(r.operations.heapGrowingPercent).toBe(heapGrowingPercent);
    }
  });

  const zone = { name: 'example.net', nameServers: [{ name: 'ns1.example.net' }] };
  it.each([
    [{ registry: { ...base.registry, maxBytes: 10 } }, 'registry.maxBytes'],
    [{ sessions: { ttlSeconds: 10 } }, 'sessions.ttlSeconds'],
    [{ sessions: { ttlSeconds: 7 * 86_400 } }, 'sessions.ttlSeconds'],
    // Fewer digits than the wire takes (ChallengeAnswer: 6 to 10) would be codes nobody can answer.
    [
      { verifier: { id: 'verifier1', keyFile: 'v.jwk', secretFile: 'v.secret', codeDigits: 5 } },
      'verifier.codeDigits',
    ],
    [
      { verifier: { id: 'verifier1', keyFile: 'v.jwk', secretFile: 'v.secret', codeDigits: 11 } },
      'verifier.codeDigits',
    ],
    [{ federation: { outboxBaseBackoffMs: 0 } }, 'federation.outboxBaseBackoffMs'],
    [{ federation: { outboxTimeoutMs: 10 } }, 'federation.outboxTimeoutMs'],
    [{ dns: { zones: [{ ...zone, ttl: -1 }] } }, 'dns.zones[0].ttl'],
    [{ dns: { zones: [{ ...zone, negativeTtl: 86_401 }] } }, 'dns.zones[0].negativeTtl'],
    [{ operations: { heapGrowingPercent: 101 } }, 'operations.heapGrowingPercent'],
    [{ operations: { heapGrowingPercent: -1 } }, 'operations.heapGrowingPercent'],
  ])('refuses %j, naming %s', async (extra, setting) => {
    const err = await errorOf(() => loadConfig(file({ ...base, ...extra }), {}));
    expect(err.code).toBe('config-invalid');
    expect(err.extra?.setting).toBe(setting);
  });
});

describe("the OHTTP relay's config: one resolved form, validated as the node's", () => {
  const relayBase = {
    listen: { host: '127.0.0.1', port: 0 },
    registry: { location: 'registry.json', pinnedKey: 'A'.repeat(43) },
  };

  it('fills in every default of relayDefaults and the registry defaults; a value the file sets wins', () => {
    const defaults = loadRelayConfig(file(relayBase)).resolved;
    expect(defaults).toEqual({ registry: configDefaults.registry, limits: relayDefaults.limits });
    const set = loadRelayConfig(
      file({
        ...relayBase,
        registry: { ...relayBase.registry, refreshSeconds: 60 },
        limits: { maxRequestBytes: 2048, timeoutMs: 500 },
      }),
    ).resolved;
    expect(set.registry.refreshSeconds).toBe(60);
    expect(set.limits).toEqual({ ...relayDefaults.limits, maxRequestBytes: 2048, timeoutMs: 500 });
  });

  it.each([
    [{ limits: { maxRequestBytes: 10 } }, 'limits.maxRequestBytes'],
    [{ limits: { maxResponseBytes: 2 ** 30 } }, 'limits.maxResponseBytes'],
    [{ limits: { requestsPerMinute: 0 } }, 'limits.requestsPerMinute'],
    [{ limits: { timeoutMs: 5 } }, 'limits.timeoutMs'],
    [{ limits: { other: 1 } }, 'limits.other'],
    [
      { registry: { location: 'registry.json', pinnedKey: 'A'.repeat(43), maxBytes: 1 } },
      'registry.maxBytes',
    ],
    [{ listen: { host: '127.0.0.1' } }, 'listen.port'],
  ])('refuses %j, naming %s', async (extra, setting) => {
    const err = await errorOf(() => loadRelayConfig(file({ ...relayBase, ...extra })));
    expect(err.code).toBe('config-invalid');
    expect(err.extra?.setting).toBe(setting);
  });
});

describe('the new settings, applied by the node and the relay', () => {
  let net: RunningDevnet;
  const csi = 'tel:+14155550142';
  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.verifier = { ...c.verifier!, codeDigits: 8 };
          c.sessions = { ...c.sessions, ttlSeconds: 600 };
        },
      },
    );
  });
  afterAll(async () => {
    await net?.close();
  });

  it('R1: verifier.codeDigits 8 sends 8-digit codes, and one answers its challenge', async () => {
    const holder = net.holder();
    const { challengeId } = await holder.startChallenge(csi);
    const code = net.ctx.devOutbox?.latest(csi);
    expect(code).toMatch(/^[0-9]{8}$/);
    await expect(holder.answerChallenge(challengeId, code!)).resolves.toMatchObject({ csi });
  });

  it('R23: sessions.ttlSeconds is the lifetime of the tokens issued and the one published', async () => {
    const meta = (await (await fetch(`${net.url}/.well-known/mimi-discovery`)).json()) as {
      limits: { sessionTtlSeconds: number };
    };
    expect(meta.limits.sessionTtlSeconds).toBe(600);
    const now = net.clock.now();
    const unsigned = {
      v: 1 as const,
      participant: 'msp1',
      role: 'msp' as const,
      audience: 'dp1',
      issuedAt: now,
      nonce: 'n'.repeat(16),
    };
    const key = readJwkFile(net.layout.msps[0]!.keyFile).privateKey;
    const res = await net.app.inject({
      method: 'POST',
      url: '/v1/session',
      payload: { ...unsigned, sig: signObject(SignPurpose.Session, unsigned, key) },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().expiresAt).toBe(now + 600);
  });

  it('registry.maxBytes: a node refuses to start on a registry document larger than it', async () => {
    const err = await createContext(loadConfig(net.layout.configFile), {
      clock: net.clock,
      config: (c) => (c.registry = { ...c.registry, maxBytes: 1024 }),
    }).catch((e: unknown) => e);
    expect(isMimiError(err, 'registry-unavailable')).toBe(true);
  });

  it("the relay's limits from its config: maxRequestBytes and requestsPerMinute", async () => {
    const relay = await createRelay(
      loadRelayConfig(
        file({
          listen: { host: '127.0.0.1', port: 0 },
          registry: { location: join(net.layout.dir, 'registry.json'), pinnedKey: net.layout.registryKey },
          limits: { maxRequestBytes: 2048, requestsPerMinute: 2 },
        }),
      ),
      { now: net.clock.now },
    );
    try {
      const post = (bytes: number, dp = 'nobody') =>
        relay.app.inject({
          method: 'POST',
          url: `/v1/relay/${dp}`,
          headers: { 'content-type': OhttpMediaType.Request },
          payload: Buffer.alloc(bytes),
        });
      // Under the default (256 KiB) this body would be taken.
      const big = await post(4096);
      expect(big.statusCode).toBe(413);
      expect(big.json().code).toBe('body-too-large');
      // Two requests a minute: the third from the same address is refused.
      for (let i = 0; i < 2; i++) expect((await post(100)).json().code).toBe('relay-target-unknown');
      expect((await post(100)).json().code).toBe('rate-limited');
    } finally {
      await relay.close();
    }
  });
});
