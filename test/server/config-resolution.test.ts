import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configDefaults, loadConfig, type NodeConfig, reconfigured } from '../../src/server/config.js';

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
