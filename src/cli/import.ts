import { MspAgent } from '../client/msp-agent.js';
import { Registry } from '../registry/document.js';
import { idArg, intArg, publicKeyOrFileArg, readJson, readKeyFile } from './args.js';
import { openDevnet } from './devnet-access.js';
import { shown } from './devnet-holder.js';
import { exitWithRejects, type ImportSummary, importFile, progressReporter } from './import-file.js';
import { CliError, CliErrorCode, emit, table } from './io.js';

/**
 * The `import` command: its options, the MSP agent they name, and the run's summary; the run
 * itself, resumable, is import-file.ts.
 */
export type { ImportReject, ImportSummary } from './import-file.js';

interface ImportArgs {
  file: string;
  as: string;
  devnet?: string;
  dp?: string;
  dpId?: string;
  key?: string;
  registry?: string;
  registryKey?: string;
  batchSize: string;
  restart?: boolean;
  json?: boolean;
}

/** The MSP agent: from a devnet folder, or from explicit DP, key and registry options. */
function agentOf(opts: ImportArgs, as: string): { agent: MspAgent; dp: string } {
  const explicit = [opts.dp, opts.dpId, opts.key, opts.registry, opts.registryKey];
  if (opts.devnet !== undefined) {
    if (explicit.some((o) => o !== undefined)) {
      throw new CliError(
        CliErrorCode.Usage,
        'give either --devnet, or --dp, --dp-id, --key, --registry and --registry-key, not both',
      );
    }
    const net = openDevnet(opts.devnet);
    const dp = net.layout.msps.find((m) => m.id === as)?.dp ?? 'dp1';
    return { agent: net.msp(as, dp), dp };
  }
  if (explicit.some((o) => o === undefined)) {
    throw new CliError(
      CliErrorCode.Usage,
      'say where to import: --devnet <dir>, or --dp <url> --dp-id <id> --key <msp key file> --registry <file> --registry-key <key>',
    );
  }
  let url: URL;
  try {
    url = new URL(opts.dp!);
  } catch {
    throw new CliError(CliErrorCode.InvalidArgument, `--dp "${opts.dp}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(CliErrorCode.InvalidArgument, `--dp "${opts.dp}" is not an http(s) URL`);
  }
  const dp = idArg(opts.dpId!, '--dp-id');
  const registryKey = publicKeyOrFileArg(opts.registryKey!, '--registry-key');
  const doc = readJson(opts.registry!, 'registry');
  const key = readKeyFile(opts.key!, '--key');
  let registry: Registry | undefined;
  const agent = new MspAgent({
    id: as,
    key,
    dp: { baseUrl: url.toString(), id: dp },
    registry: () => {
      registry ??= Registry.open(doc, registryKey, { now: Math.floor(Date.now() / 1000) });
      return registry;
    },
    // The file holds what this MSP countersigned already: its own users.
    isOwnUser: () => true,
  });
  return { agent, dp };
}

function summaryText(s: ImportSummary): string {
  const lines = [
    `imported ${shown(s.file)} into ${s.dp} as ${s.as}: ${s.lines} line${s.lines === 1 ? '' : 's'}${
      s.resumedAfterLine > 0 ? ` (resumed after line ${s.resumedAfterLine})` : ''
    }`,
    table([
      ['accepted', `${s.accepted}`],
      ['already', `${s.duplicates}  (accepted before: resubmissions)`],
      ['rejected', `${s.rejected}${s.rejected > 0 ? `  (every one in ${shown(s.rejectsFile)})` : ''}`],
      ['this run', `${s.sent} sent in ${s.seconds.toFixed(1)} s, ${s.perSecond} mappings/s`],
    ]),
  ];
  if (s.rejects.length > 0) {
    lines.push('rejects of this run:');
    for (const r of s.rejects.slice(0, 20)) lines.push(`  line ${r.line}  ${r.code}  ${r.detail}`);
    if (s.rejects.length > 20) lines.push(`  ... see ${shown(s.rejectsFile)}`);
  }
  return lines.join('\n');
}

export async function importAction(opts: ImportArgs): Promise<void> {
  const as = idArg(opts.as, '--as');
  const batchSize = intArg(opts.batchSize, '--batch-size', 1, 10_000);
  const { agent, dp } = agentOf(opts, as);
  const json = opts.json === true;
  const bar = progressReporter(json);
  let summary: ImportSummary;
  try {
    summary = await importFile({
      file: opts.file,
      agent,
      dp,
      as,
      batchSize,
      restart: opts.restart,
      onProgress: bar.update,
    });
  } finally {
    bar.end();
  }
  emit(json, {
    doc: summary,
    text: summaryText(summary),
    exitCode: summary.rejected > 0 ? exitWithRejects : 0,
  });
}
