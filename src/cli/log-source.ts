import { MimiError } from '../protocol/errors.js';
import { decodeRecord } from '../protocol/records.js';
import { MAX_LEAVES_PER_REQUEST } from '../protocol/transparency.js';
import { Registry } from '../registry/document.js';
import { idArg, publicKeyOrFileArg, readJson } from './args.js';
import { openDevnet } from './devnet-access.js';
import { CliError, CliErrorCode } from './io.js';

/** Which DP's log `log audit` and `log monitor` follow, and the registry that holds its keys. */
export interface LogSource {
  dp: string;
  baseUrl: string;
  registry: Registry;
}

export async function getText(url: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new MimiError('unreachable', `${url} did not answer: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new MimiError('unreachable', `${url}: HTTP ${res.status}`);
  return text;
}

export async function getJson<T>(
  url: string,
  schema: Parameters<typeof decodeRecord>[0],
  what: string,
): Promise<T> {
  return decodeRecord(schema, JSON.parse(await getText(url)), what) as T;
}

/** A progress bar on stderr while a long job runs, for people only (a terminal, no --json). */
export function progress(enabled: boolean, total: number) {
  const on = enabled && process.stderr.isTTY === true && total >= MAX_LEAVES_PER_REQUEST;
  return {
    update(done: number) {
      if (!on) return;
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor((done / total) * 100)}% ${done}/${total} leaves`,
      );
    },
    end() {
      if (on) process.stderr.write('\n');
    },
  };
}

export function sourceOf(opts: {
  devnet?: string;
  dp?: string;
  url?: string;
  registry?: string;
  registryKey?: string;
}): LogSource {
  const dp = idArg(opts.dp ?? 'dp1', '--dp');
  if (opts.devnet !== undefined) {
    const net = openDevnet(opts.devnet);
    const entry = net.layout.dps.find((d) => d.id === dp);
    if (entry === undefined) throw new CliError(CliErrorCode.InvalidArgument, `the devnet has no DP ${dp}`);
    return { dp, baseUrl: opts.url ?? entry.endpoint, registry: net.registry() };
  }
  if (opts.url === undefined || opts.registry === undefined || opts.registryKey === undefined) {
    throw new CliError(
      CliErrorCode.Usage,
      'say which log and registry: --devnet <dir>, or --url <dp> --registry <file> --registry-key <key>',
    );
  }
  const registry = Registry.open(
    readJson(opts.registry, 'registry'),
    publicKeyOrFileArg(opts.registryKey, '--registry-key'),
    { now: Math.floor(Date.now() / 1000) },
  );
  return { dp, baseUrl: opts.url, registry };
}
