import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { generateKeyPair, type KeyPair, keyPairFromJwk, keyPairToJwk } from '../crypto/keys.js';
import { keyConfigOf } from '../crypto/ohttp.js';
import { credentialHash, tokenKeyOf } from '../crypto/token-key.js';
import {
  type DpKeyUsage,
  dpKeyUsages,
  type RegistryDocument,
  signRegistry,
  type UnsignedRegistry,
  type UnsignedRegistryV2,
} from '../registry/document.js';
import type { NodeConfig } from '../server/config.js';
import type { IssuerConfig } from '../server/token-issuer.js';
import { type DevnetDp, type DevnetIssuer, type DevnetLayout, mapPaths } from './devnet-layout.js';

export {
  type DevnetDp,
  type DevnetIssuer,
  type DevnetLayout,
  openDevnetLayout,
  readDevnet,
} from './devnet-layout.js';

/**
 * A complete local setup in one folder: a registry and its key; N DPs (dp1 also runs the
 * verifier), each with its own SQLite file and config; three MSPs spread over the DPs (two for
 * Bob, one for Alice); a CSIP; dev configs whose codes go to a local outbox. What reading one
 * takes is in devnet-layout.ts.
 */

/** The users each devnet MSP issues tokens to. */
export const devnetIssuerUsers = ['alice', 'bob', 'carol'] as const;

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

export interface DevnetOptions {
  /** dp1's port; dp2 listens on port + 1, and so on. */
  port: number;
  host?: string;
  /** How many DPs (default 1). */
  dps?: number;
  /** Webhooks for MSP notices, by MSP id. */
  webhooks?: Record<string, string>;
  /**
   * DPs run elsewhere (tests use this for misbehaving peers): listed in the registry only, with
   * the keys given for their usages and a fresh key (held by no one) for each usage not given.
   */
  extraDps?: { id: string; endpoint: string; keys: Partial<Record<DpKeyUsage, string>> }[];
  /**
   * Give each MSP a Privacy Pass issuer (RSA-2048 key, config, registry entry), listening on
   * `port`, `port + 1`, ...; `tokensPerDay` per user (default 50).
   */
  issuers?: { port: number; tokensPerDay?: number };
}

/** An MSP's issuer key, config and users; its registry entry's `issuer`. */
function writeIssuer(
  dir: string,
  msp: { id: string; domain: string },
  host: string,
  port: number,
  tokensPerDay: number,
  notAfter: number,
): { issuer: DevnetIssuer; tokenKeyPem: string; name: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(join(dir, 'keys', `${msp.id}-issuer.pem`), pem, { mode: 0o600 });
  const users = Object.fromEntries(devnetIssuerUsers.map((u) => [u, randomBytes(24).toString('base64url')]));
  const name = `issuer.${msp.domain}`;
  const config: IssuerConfig = {
    msp: msp.id,
    issuerName: name,
    listen: { host, port },
    keys: [{ file: `keys/${msp.id}-issuer.pem`, notAfter }],
    store: { path: `${msp.id}-issuer.db` },
    tokensPerDay,
    users: Object.fromEntries(Object.entries(users).map(([u, c]) => [u, credentialHash(c)])),
  };
  const configFile = join(dir, `${msp.id}-issuer.config.json`);
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  return { issuer: { configFile, url: `http://${host}:${port}`, users }, tokenKeyPem: pem, name };
}

export function writeDevnet(dir: string, opts: DevnetOptions): DevnetLayout {
  const host = opts.host ?? '127.0.0.1';
  const count = opts.dps ?? 1;
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  const registryKey = writeKey(dir, 'registry');
  // One key per registry usage (docs/spec/registry.md §8.1.1): keys/dpN.records.jwk, ...
  const dpKeys = Array.from({ length: count }, (_, i) =>
    Object.fromEntries(dpKeyUsages.map((u) => [u, writeKey(dir, `dp${i + 1}.${u}`)])),
  ) as Record<DpKeyUsage, { pair: KeyPair; file: string }>[];
  const verifierKey = writeKey(dir, 'verifier1');
  const csipKey = writeKey(dir, 'csip1');
  // Each DP's Oblivious HTTP gateway key (key id 1): an X25519 private key, listed in the registry.
  const ohttpKeys = dpKeys.map((_, i) => {
    const file = `keys/dp${i + 1}.ohttp-1.key`;
    const sk = randomBytes(32);
    writeFileSync(join(dir, file), sk.toString('base64url'), { mode: 0o600 });
    return { file, config: Buffer.from(keyConfigOf(1, sk)).toString('base64url') };
  });
  const now = Math.floor(Date.now() / 1000);
  const mspKeys = devnetMsps.map((m, i) => ({
    ...m,
    ...writeKey(dir, m.id),
    dp: `dp${(i % count) + 1}`,
    issuer:
      opts.issuers === undefined
        ? undefined
        : writeIssuer(
            dir,
            m,
            host,
            opts.issuers.port + i,
            opts.issuers.tokensPerDay ?? 50,
            now + 365 * 86_400,
          ),
  }));
  const endpointOf = (i: number) => `http://${host}:${opts.port + i}`;
  const unsigned: UnsignedRegistry = {
    v: 2,
    federation: 'devnet',
    serial: 1,
    issuedAt: now,
    expiresAt: now + 365 * 86_400,
    policy: { federationDefault: count > 1, maxMappingLifetime: 365 * 86_400 },
    dps: [
      ...dpKeys.map((k, i) => ({
        id: `dp${i + 1}`,
        endpoint: endpointOf(i),
        keys: {
          records: [k.records.pair.publicKey],
          transport: [k.transport.pair.publicKey],
          log: [k.log.pair.publicKey],
        },
        region: 'us',
        operator: `Example Discovery ${i + 1}`,
        throughputClass: 'standard' as const,
        ohttp: { v: 1 as const, gateway: `${endpointOf(i)}/v1/ohttp`, keyConfigs: [ohttpKeys[i]!.config] },
      })),
      ...(opts.extraDps ?? []).map((d) => ({
        id: d.id,
        endpoint: d.endpoint,
        keys: {
          records: [d.keys.records ?? generateKeyPair().publicKey],
          transport: [d.keys.transport ?? generateKeyPair().publicKey],
          log: [d.keys.log ?? generateKeyPair().publicKey],
        },
        region: 'us',
        operator: `Other ${d.id}`,
        throughputClass: 'standard' as const,
      })),
    ],
    msps: mspKeys.map((m, bit) => ({
      id: m.id,
      domain: m.domain,
      keys: [m.pair.publicKey],
      bit,
      operator: m.operator,
      ...(opts.webhooks?.[m.id] === undefined ? {} : { webhook: opts.webhooks[m.id] }),
      ...(m.issuer === undefined
        ? {}
        : {
            issuer: {
              name: m.issuer.name,
              tokenKeys: [{ key: tokenKeyOf(m.issuer.tokenKeyPem), notAfter: now + 365 * 86_400 }],
            },
          }),
    })),
    verifiers: [
      {
        id: 'verifier1',
        keys: [verifierKey.pair.publicKey],
        methods: ['sms-otp', 'email-otp', 'dns-01'],
        operator: 'Example Verify Ltd',
        endpoint: endpointOf(0),
      },
    ],
    csips: [{ id: 'csip1', keys: [csipKey.pair.publicKey], operator: 'Example Telco', scope: ['tel:+1'] }],
  };
  const registry: RegistryDocument = signRegistry(unsigned, registryKey.pair.privateKey);
  writeFileSync(join(dir, 'registry.json'), `${JSON.stringify(registry, null, 2)}\n`);
  const dps: DevnetDp[] = dpKeys.map((_, i) => {
    const id = `dp${i + 1}`;
    const config: NodeConfig = {
      dev: true,
      dp: {
        id,
        keyFiles: {
          records: `keys/${id}.records.jwk`,
          transport: `keys/${id}.transport.jwk`,
          log: `keys/${id}.log.jwk`,
        },
      },
      registry: { location: 'registry.json', pinnedKey: registryKey.pair.publicKey, refreshSeconds: 10 },
      store: { backend: 'sqlite', path: `${id}.db` },
      listen: { host, port: opts.port + i },
      ohttp: { keys: [{ id: 1, file: ohttpKeys[i]!.file }] },
      ...(count > 1
        ? { federation: { peerTimeoutMs: 1000, outboxIntervalMs: 100, outboxMaxBackoffMs: 2000 } }
        : {}),
      ...(i === 0
        ? {
            verifier: {
              id: 'verifier1',
              keyFile: 'keys/verifier1.jwk',
              secretFile: 'keys/verifier1.secret',
              sms: 'dev-outbox' as const,
              email: 'dev-outbox' as const,
              devOutboxFile: 'outbox.jsonl',
            },
          }
        : {}),
    };
    const configFile = join(dir, `${id}.config.json`);
    writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
    return { id, endpoint: endpointOf(i), configFile };
  });
  // The relay listens on the port after the DPs'.
  const relayConfigFile = join(dir, 'relay.config.json');
  writeFileSync(
    relayConfigFile,
    `${JSON.stringify(
      {
        listen: { host, port: opts.port + count },
        registry: { location: 'registry.json', pinnedKey: registryKey.pair.publicKey, refreshSeconds: 10 },
      },
      null,
      2,
    )}\n`,
  );
  const layout: DevnetLayout = {
    dir,
    endpoint: dps[0]!.endpoint,
    configFile: dps[0]!.configFile,
    dps,
    registryKey: registryKey.pair.publicKey,
    registryKeyFile: registryKey.file,
    outboxFile: join(dir, 'outbox.jsonl'),
    msps: mspKeys.map((m) => ({
      id: m.id,
      domain: m.domain,
      keyFile: m.file,
      dp: m.dp,
      ...(m.issuer === undefined ? {} : { issuer: m.issuer.issuer }),
    })),
    csip: { id: 'csip1', keyFile: csipKey.file },
    relay: { endpoint: `http://${host}:${opts.port + count}`, configFile: relayConfigFile },
  };
  // Paths in devnet.json are relative to the folder, so it can be moved or reached from anywhere.
  writeFileSync(
    join(dir, 'devnet.json'),
    `${JSON.stringify(
      mapPaths(layout, (p) => relative(dir, p), '.'),
      null,
      2,
    )}\n`,
  );
  return layout;
}

/** Re-signs the devnet's registry after `change` (a test or demo changing the federation). */
export function resignDevnetRegistry(
  layout: DevnetLayout,
  change: (doc: UnsignedRegistryV2) => UnsignedRegistryV2,
): void {
  const file = join(layout.dir, 'registry.json');
  // The devnet writes version 2 registries.
  const { sig: _sig, ...unsigned } = JSON.parse(readFileSync(file, 'utf8')) as UnsignedRegistryV2 & {
    sig: string;
  };
  const next = change({ ...unsigned, serial: unsigned.serial + 1 });
  writeFileSync(
    file,
    `${JSON.stringify(signRegistry(next, readJwkFile(layout.registryKeyFile).privateKey), null, 2)}\n`,
  );
}
