import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, runJson } from './run-cli.js';

describe('keygen and registry create/add/sign/show (R30)', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-cli-registry-'));
  const f = (name: string) => join(dir, name);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keygen writes a private JWK readable only by its owner and prints the public key', async () => {
    const run = await runCli(['keygen', '--out', f('registry.jwk')]);
    expect(run.code).toBe(0);
    const jwk = JSON.parse(readFileSync(f('registry.jwk'), 'utf8'));
    expect(run.stdout.trim()).toBe(jwk.x);
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(typeof jwk.d).toBe('string');
    expect(statSync(f('registry.jwk')).mode & 0o777).toBe(0o600);
    const again = await runCli(['keygen', '--out', f('registry.jwk')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error \[file-exists\]/);
  });

  it('builds, signs and opens a registry', async () => {
    const keys = await Promise.all(
      ['msp1', 'msp2', 'verifier1', 'csip1'].map((n) =>
        runJson<{ publicKey: string }>(['keygen', '--out', f(`${n}.jwk`)]),
      ),
    );
    expect(keys.every((k) => k.code === 0)).toBe(true);
    // A DP's three keys, one per registry usage.
    const dpKeys = await runJson<{ keys: Record<string, { publicKey: string; file: string }> }>([
      'keygen',
      '--dp',
      '--out',
      f('dp1'),
    ]);
    expect(dpKeys.code).toBe(0);
    expect(Object.keys(dpKeys.doc.keys)).toEqual(['records', 'transport', 'log']);
    expect(dpKeys.doc.keys.log!.file).toBe(f('dp1.log.jwk'));
    // msp1's Privacy Pass issuer key (RFC 9578): a PKCS#8 PEM, its token key printed for the registry.
    const issuerKey = await runJson<{ tokenKey: string; tokenKeyId: string }>(
      ['issuer', 'keygen', '--out', f('msp1-issuer.pem')],
      { timeoutMs: 90_000 },
    );
    expect(issuerKey.code).toBe(0);
    expect(issuerKey.doc.tokenKey).toMatch(/^[A-Za-z0-9_-]{456}$/);
    expect(statSync(f('msp1-issuer.pem')).mode & 0o777).toBe(0o600);
    const draft = f('draft.json');
    expect((await runCli(['registry', 'create', '--federation', 'example', '--out', draft])).code).toBe(0);
    const steps = [
      [
        'add-dp',
        '--id',
        'dp1',
        '--records-key',
        f('dp1.records.jwk'),
        '--transport-key',
        f('dp1.transport.jwk'),
        '--log-key',
        dpKeys.doc.keys.log!.publicKey,
        '--endpoint',
        'https://dp1.example.net',
        '--region',
        'eu',
        '--operator',
        'Example DP',
      ],
      [
        'add-msp',
        '--id',
        'msp1',
        '--key-file',
        f('msp1.jwk'),
        '--domain',
        'chat.example',
        '--operator',
        'Chat',
        '--issuer-name',
        'issuer.chat.example',
        '--token-key',
        issuerKey.doc.tokenKey,
      ],
      [
        'add-msp',
        '--id',
        'msp2',
        '--public-key',
        keys[1]!.doc.publicKey,
        '--domain',
        'talk.example',
        '--operator',
        'Talk',
        '--lookup-per-minute',
        '5000',
        '--lookup-per-day',
        '2000000',
      ],
      [
        'add-verifier',
        '--id',
        'verifier1',
        '--key-file',
        f('verifier1.jwk'),
        '--operator',
        'Verify Ltd',
        '--methods',
        'sms-otp',
      ],
      [
        'add-csip',
        '--id',
        'csip1',
        '--key-file',
        f('csip1.jwk'),
        '--operator',
        'Telco',
        '--scope',
        'tel:+1,mailto:*@example.org',
      ],
    ];
    for (const [cmd, ...rest] of steps) {
      const run = await runCli(['registry', cmd!, '--in', draft, ...rest]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    }
    const dup = await runCli([
      'registry',
      'add-msp',
      '--in',
      draft,
      '--id',
      'msp1',
      '--key-file',
      f('msp1.jwk'),
      '--domain',
      'x.example',
      '--operator',
      'X',
    ]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^error \[invalid-argument\]: --id msp1 is already/);
    // One key for two usages is refused: a leak of it would sign for both.
    const shared = await runCli([
      'registry',
      'add-dp',
      '--in',
      draft,
      '--id',
      'dp2',
      '--records-key',
      f('dp1.records.jwk'),
      '--transport-key',
      f('dp1.records.jwk'),
      '--log-key',
      f('dp1.log.jwk'),
      '--endpoint',
      'https://dp2.example.net',
      '--region',
      'eu',
      '--operator',
      'X',
    ]);
    expect(shared.code).toBe(1);
    expect(shared.stderr).toMatch(/^error \[invalid-argument\]: a DP needs three different keys/);

    const signed = await runJson<{ registryKey: string; serial: number }>([
      'registry',
      'sign',
      '--in',
      draft,
      '--key',
      f('registry.jwk'),
      '--out',
      f('registry.json'),
      '--serial',
      '3',
      '--days',
      '30',
    ]);
    expect(signed.code).toBe(0);
    expect(signed.doc.serial).toBe(3);
    const pinned = keys[0] && JSON.parse(readFileSync(f('registry.jwk'), 'utf8')).x;
    expect(signed.doc.registryKey).toBe(pinned);

    const shown = await runCli(['registry', 'show', f('registry.json'), '--registry-key', pinned]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('registry example serial 3: signature ok');
    expect(shown.stdout).toMatch(/msp2 +talk\.example +bit 1 +Talk +lookups 5000\/min 2000000\/day/);
    expect(shown.stdout).toMatch(
      /msp1 +chat\.example +bit 0 +Chat +issuer issuer\.chat\.example \(1 token key\)/,
    );
    const asJson = await runJson<{ ok: boolean; registry: { msps: { bit: number }[]; csips: unknown[] } }>([
      'registry',
      'show',
      f('registry.json'),
      '--registry-key',
      f('registry.jwk'),
    ]);
    expect(asJson.doc.ok).toBe(true);
    expect(asJson.doc.registry.msps.map((m) => m.bit)).toEqual([0, 1]);
    expect(JSON.parse(readFileSync(f('registry.json'), 'utf8'))).toMatchObject({
      v: 2,
      dps: [
        {
          id: 'dp1',
          keys: {
            records: [dpKeys.doc.keys.records!.publicKey],
            transport: [dpKeys.doc.keys.transport!.publicKey],
            log: [dpKeys.doc.keys.log!.publicKey],
          },
        },
      ],
    });

    const wrongKey = await runJson<{ code: string }>([
      'registry',
      'show',
      f('registry.json'),
      '--registry-key',
      keys[0]!.doc.publicKey,
    ]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.doc.code).toBe('registry-signature-invalid');
  });
});
