import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { generateKeyPair, type KeyPair, keyPairFromJwk, keyPairToJwk } from '../crypto/keys.js';
import { type RegistryDocument, signRegistry } from '../registry/document.js';
import type { NodeConfig } from '../server/config.js';

/**
 * A complete local setup in one folder: registry and its key, one DP with a verifier role, three
 * MSPs (two for Bob, one for Alice), a CSIP, and a dev config whose codes go to a local outbox.
 */
export interface DevnetLayout {
  dir: string;
  endpoint: string;
  registryKey: string;
  configFile: string;
  outboxFile: string;
  msps: { id: string; domain: string; keyFile: string }[];
  csip: { id: string; keyFile: string };
}

export const devnetMsps = [
  { id: 'msp1', domain: 'chat.example', operator: 'Chat Example Inc.' },
  { id: 'msp2', domain: 'talk.example', operator: 'Talk Example GmbH' },
  { id: 'msp3', domain: 'alice-msp.example', operator: 'Alice Messaging Ltd' },
] as const;

function writeKey(dir: string, name: string): { pair: KeyPair; file: string } {
  const pair = generateKeyPair();
  const file = join(dir, 'keys', `${name}.jwk`);
  writeFileSync(file, `${JSON.stringify(keyPairToJwk(pair), null, 2)}\n`, { mode: 0o600 });
  return { pair, file };
}

export function readJwkFile(file: string): KeyPair {
  return keyPairFromJwk(JSON.parse(readFileSync(file, 'utf8')), file);
}

export function writeDevnet(dir: string, opts: { port: number; host?: string }): DevnetLayout {
  const host = opts.host ?? '127.0.0.1';
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  const registryKey = writeKey(dir, 'registry');
  const dpKey = writeKey(dir, 'dp1');
  const verifierKey = writeKey(dir, 'verifier1');
  const csipKey = writeKey(dir, 'csip1');
  const mspKeys = devnetMsps.map((m) => ({ ...m, ...writeKey(dir, m.id) }));
  const endpoint = `http://${host}:${opts.port}`;
  const now = Math.floor(Date.now() / 1000);
  const registry: RegistryDocument = signRegistry(
    {
      v: 1,
      federation: 'devnet',
      serial: 1,
      issuedAt: now,
      expiresAt: now + 365 * 86_400,
      policy: { federationDefault: false, maxMappingLifetime: 365 * 86_400 },
      dps: [
        {
          id: 'dp1',
          endpoint,
          keys: [dpKey.pair.publicKey],
          region: 'us',
          operator: 'Example Discovery Co',
          throughputClass: 'standard',
        },
      ],
      msps: mspKeys.map((m, bit) => ({
        id: m.id,
        domain: m.domain,
        keys: [m.pair.publicKey],
        bit,
        operator: m.operator,
      })),
      verifiers: [
        {
          id: 'verifier1',
          keys: [verifierKey.pair.publicKey],
          methods: ['sms-otp', 'email-otp'],
          operator: 'Example Verify Ltd',
          endpoint,
        },
      ],
      csips: [{ id: 'csip1', keys: [csipKey.pair.publicKey], operator: 'Example Telco', scope: ['tel:+1'] }],
    },
    registryKey.pair.privateKey,
  );
  writeFileSync(join(dir, 'registry.json'), `${JSON.stringify(registry, null, 2)}\n`);
  const config: NodeConfig = {
    dev: true,
    dp: { id: 'dp1', keyFile: 'keys/dp1.jwk' },
    registry: { location: 'registry.json', pinnedKey: registryKey.pair.publicKey },
    store: { backend: 'sqlite', path: 'dp1.db' },
    listen: { host, port: opts.port },
    verifier: {
      id: 'verifier1',
      keyFile: 'keys/verifier1.jwk',
      secretFile: 'keys/verifier1.secret',
      sms: 'dev-outbox',
      email: 'dev-outbox',
      devOutboxFile: 'outbox.jsonl',
    },
  };
  const configFile = join(dir, 'dp1.config.json');
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const layout: DevnetLayout = {
    dir,
    endpoint,
    registryKey: registryKey.pair.publicKey,
    configFile,
    outboxFile: join(dir, 'outbox.jsonl'),
    msps: mspKeys.map((m) => ({ id: m.id, domain: m.domain, keyFile: m.file })),
    csip: { id: 'csip1', keyFile: csipKey.file },
  };
  // Paths in devnet.json are relative to the folder, so it can be moved or reached from anywhere.
  const rel = (p: string) => relative(dir, p);
  const stored: DevnetLayout = {
    ...layout,
    dir: '.',
    configFile: rel(configFile),
    outboxFile: rel(layout.outboxFile),
    msps: layout.msps.map((m) => ({ ...m, keyFile: rel(m.keyFile) })),
    csip: { ...layout.csip, keyFile: rel(layout.csip.keyFile) },
  };
  writeFileSync(join(dir, 'devnet.json'), `${JSON.stringify(stored, null, 2)}\n`);
  return layout;
}

/** Reads devnet.json, with every path resolved against the folder. */
export function readDevnet(dir: string): DevnetLayout {
  const stored = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as DevnetLayout;
  const abs = (p: string) => resolve(dir, p);
  return {
    ...stored,
    dir: resolve(dir),
    configFile: abs(stored.configFile),
    outboxFile: abs(stored.outboxFile),
    msps: stored.msps.map((m) => ({ ...m, keyFile: abs(m.keyFile) })),
    csip: { ...stored.csip, keyFile: abs(stored.csip.keyFile) },
  };
}
