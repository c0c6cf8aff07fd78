import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError, CliErrorCode } from './io.js';

/**
 * A devnet folder as devnet.json describes it (written by src/cli/devnet-files.ts): what the
 * commands that only read a devnet need, `verify` among them, without the key, OHTTP and Privacy
 * Pass code that making one takes.
 */
export interface DevnetDp {
  id: string;
  endpoint: string;
  configFile: string;
}

export interface DevnetLayout {
  dir: string;
  /** dp1's endpoint and config: the DP that runs the verifier. */
  endpoint: string;
  configFile: string;
  dps: DevnetDp[];
  registryKey: string;
  /** The registry signing key: devnets let tests and demos re-sign a changed registry. */
  registryKeyFile: string;
  outboxFile: string;
  /** Each MSP with the DP it submits to and asks, and its Privacy Pass issuer when made with one. */
  msps: { id: string; domain: string; keyFile: string; dp: string; issuer?: DevnetIssuer }[];
  csip: { id: string; keyFile: string };
  /** The Oblivious HTTP relay to the DPs' gateways (RFC 9458); absent in folders made before it. */
  relay?: { endpoint: string; configFile: string };
}

/**
 * An MSP's Privacy Pass issuer in the devnet (`issuer serve --config`): its URL and the bearer
 * credentials of its users (the devnet plays every user; a real MSP hands each user its own).
 */
export interface DevnetIssuer {
  configFile: string;
  url: string;
  users: Record<string, string>;
}

/** The layout with every path mapped by `f`, and `dir` as its folder. */
export function mapPaths(l: DevnetLayout, f: (p: string) => string, dir: string): DevnetLayout {
  return {
    ...l,
    dir,
    configFile: f(l.configFile),
    registryKeyFile: f(l.registryKeyFile),
    outboxFile: f(l.outboxFile),
    dps: l.dps.map((d) => ({ ...d, configFile: f(d.configFile) })),
    msps: l.msps.map((m) => ({
      ...m,
      keyFile: f(m.keyFile),
      ...(m.issuer === undefined ? {} : { issuer: { ...m.issuer, configFile: f(m.issuer.configFile) } }),
    })),
    csip: { ...l.csip, keyFile: f(l.csip.keyFile) },
    ...(l.relay === undefined ? {} : { relay: { ...l.relay, configFile: f(l.relay.configFile) } }),
  };
}

/** The devnet folder a command was pointed at (`--devnet`), or the error that says it is none. */
export function openDevnetLayout(dirInput: string): DevnetLayout {
  const dir = resolve(dirInput);
  if (!existsSync(join(dir, 'devnet.json'))) {
    throw new CliError(
      CliErrorCode.NotADevnet,
      `${dirInput} is not a devnet folder (it has no devnet.json)`,
      `start one with: mimi-discovery devnet --dir ${dirInput}`,
    );
  }
  return readDevnet(dir);
}

/** Reads devnet.json, with every path resolved against the folder. */
export function readDevnet(dir: string): DevnetLayout {
  const stored = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as DevnetLayout;
  // Folders made before the federation had one DP and no dps list.
  const withDps: DevnetLayout = {
    ...stored,
    dps: stored.dps ?? [{ id: 'dp1', endpoint: stored.endpoint, configFile: stored.configFile }],
    registryKeyFile: stored.registryKeyFile ?? join('keys', 'registry.jwk'),
    msps: stored.msps.map((m) => ({ ...m, dp: m.dp ?? 'dp1' })),
  };
  return mapPaths(withDps, (p) => resolve(dir, p), resolve(dir));
}
