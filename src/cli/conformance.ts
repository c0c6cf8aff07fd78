import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { HolderClient } from '../client/holder.js';
import { call } from '../client/http.js';
import { MspAgent } from '../client/msp-agent.js';
import { generateKeyPair } from '../crypto/keys.js';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { Registry } from '../registry/document.js';
import { publicKeyOrFileArg, readJson, readKeyFile, readText } from './args.js';
import { holderChecks } from './conformance/holder-checks.js';
import { type Check, Fail, Skip, type State } from './conformance/kit.js';
import { publishChecks } from './conformance/publish-checks.js';
import { refusalChecks } from './conformance/refusal-checks.js';
import { CliError, CliErrorCode, emit } from './io.js';

/**
 * The conformance kit: every check a client can make of a DP, over HTTP with the SDK only (never
 * the server's code), so that it judges any implementation of the protocol. The kit acts as one
 * registered MSP (the key given) and as a fresh holder of a CSI in a test range. The checks run
 * in this order, each group in a file of its own under conformance/.
 */
export { secondSignature } from './conformance/kit.js';

export const checks: readonly Check[] = [...publishChecks, ...refusalChecks, ...holderChecks];

export interface ConformanceResult {
  passed: number;
  failed: number;
  skipped: number;
  lines: string[];
}

/** Runs every check in order; each prints PASS, FAIL or SKIP as it ends. */
export async function runConformance(
  s: State,
  say: (line: string) => void = () => undefined,
): Promise<ConformanceResult> {
  const result: ConformanceResult = { passed: 0, failed: 0, skipped: 0, lines: [] };
  const out = (line: string) => {
    result.lines.push(line);
    say(line);
  };
  for (const check of checks) {
    try {
      await check.run(s);
      result.passed++;
      out(`PASS ${check.name}`);
    } catch (err) {
      if (err instanceof Skip) {
        result.skipped++;
        out(`SKIP ${check.name}: ${err.message}`);
        continue;
      }
      result.failed++;
      const why =
        err instanceof MimiError && !(err instanceof Fail)
          ? `${err.code} (${err.message})`
          : (err as Error).message;
      out(`FAIL ${check.name}: ${why}`);
    }
  }
  out(`${result.passed} passed, ${result.failed} failed`);
  return result;
}

function urlArg(input: string, option: string): string {
  try {
    const url = new URL(input);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // below
  }
  throw new CliError(CliErrorCode.InvalidArgument, `${option} "${input}" is not an http(s) URL`);
}

export async function conformanceAction(opts: {
  dp: string;
  registry: string;
  registryKey: string;
  mspKey: string;
  otpFile?: string;
  dpId?: string;
  verifier?: string;
}): Promise<void> {
  const baseUrl = urlArg(opts.dp, '--dp');
  const registryKey = publicKeyOrFileArg(opts.registryKey, '--registry-key');
  const registryBytes = Buffer.from(readText(opts.registry, '--registry'));
  const registry = Registry.open(readJson(opts.registry, '--registry'), registryKey, { now: nowSeconds() });
  const verifierUrl = opts.verifier === undefined ? undefined : urlArg(opts.verifier, '--verifier');
  const key = readKeyFile(opts.mspKey, '--msp-key');
  const msp = registry.allMsps().find((m) => m.keys.includes(key.publicKey));
  if (msp === undefined) {
    throw new CliError(CliErrorCode.InvalidArgument, '--msp-key is the key of no MSP of the registry');
  }
  // The DP's id: given, else the registry DP at this endpoint, else the one its metadata names
  // (which the first check then holds against the registry).
  let dpId = opts.dpId ?? registry.allDps().find((d) => new URL(d.endpoint).toString() === baseUrl)?.id;
  if (dpId === undefined) {
    const m = await call(
      { baseUrl },
      'GET',
      '/.well-known/mimi-discovery',
      Type.Object({ id: Type.String() }),
    );
    dpId = m.id;
  }
  const dp = { baseUrl, id: dpId };
  // A fresh address on every run: runs against one DP never meet each other's holders.
  const csi = `mailto:conformance-${randomBytes(6).toString('hex')}@example.org`;
  const holderKey = generateKeyPair();
  const holder = new HolderClient({ dp, key: holderKey });
  const state: State = {
    dp,
    registry,
    registryBytes,
    registryKey,
    msp: { id: msp.id, key, domain: msp.domain },
    agent: new MspAgent({
      id: msp.id,
      key,
      dp,
      registry: () => registry,
      // The kit confirms its own holder's mapping on the kit's own users (R2).
      isOwnUser: (ssi) => ssi.startsWith(`mimi://${msp.domain}/u/conformance-`),
    }),
    otpFile: opts.otpFile,
    csi,
    holder,
    holderKey,
    verifier:
      verifierUrl === undefined
        ? undefined
        : new HolderClient({ dp: { baseUrl: verifierUrl }, key: holderKey }),
  };
  const r = await runConformance(state, (line) => process.stdout.write(`${line}\n`));
  emit(false, { doc: r, text: '', exitCode: r.failed > 0 ? 1 : 0 });
}
