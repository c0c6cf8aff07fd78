import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { intArg } from './args.js';
import { type DevnetLayout, devnetMsps, readDevnet, writeDevnet } from './devnet-files.js';
import { shown } from './holder.js';
import { CliError, CliErrorCode, emit } from './io.js';
import { startNode, untilSignal } from './node.js';
import { logLevelArg } from './serve.js';

export const defaultDevnetPort = 7300;

/** How to run this CLI again from here: `mimi-discovery`, or the path it was started from. */
export function cliName(): string {
  const entry = process.argv[1] ?? '';
  if (entry.endsWith('.ts')) return `npx tsx ${shown(entry)}`;
  if (basename(entry) === 'main.js') return `node ${shown(entry)}`;
  return 'mimi-discovery';
}

function quoted(path: string): string {
  return /^[A-Za-z0-9_./+@-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

/**
 * Makes a devnet folder unless it has one: registry, keys, one DP with the verifier role, three
 * MSPs, a CSIP, and a dev config whose one-time codes go to outbox.jsonl.
 */
export function ensureDevnet(
  dirInput: string,
  opts: { port?: number; reset?: boolean },
): { layout: DevnetLayout; created: boolean } {
  const dir = resolve(dirInput);
  const marker = join(dir, 'devnet.json');
  const empty = !existsSync(dir) || readdirSync(dir).length === 0;
  if (opts.reset && !empty) {
    if (!existsSync(marker)) {
      throw new CliError(
        CliErrorCode.InvalidArgument,
        `--reset: ${dirInput} is not a devnet folder; refusing to delete it`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
  } else if (existsSync(marker)) {
    const layout = readDevnet(dir);
    const port = Number(new URL(layout.endpoint).port);
    if (opts.port !== undefined && opts.port !== port) {
      throw new CliError(
        CliErrorCode.InvalidArgument,
        `the devnet in ${dirInput} was made for port ${port}; its registry names that endpoint`,
        `start it without --port, or make it anew with --reset --port ${opts.port}`,
      );
    }
    return { layout, created: false };
  } else if (!empty) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${dirInput} is not empty and is not a devnet folder`,
      'choose an empty or new folder with --dir',
    );
  }
  return { layout: writeDevnet(dir, { port: opts.port ?? defaultDevnetPort }), created: true };
}

export function devnetCommand(program: Command): void {
  program
    .command('devnet')
    .description('run a complete local federation in one process: registry, DP, verifier, 3 MSPs')
    .option('--dir <dir>', 'the devnet folder; made on first use', '.devnet')
    .option(
      '--port <port>',
      `port on 127.0.0.1 (default ${defaultDevnetPort}; fixed when the folder is made)`,
    )
    .option('--reset', 'throw the folder away and start a fresh devnet')
    .option('--log-level <level>', 'pino log level of the node', 'info')
    .option('--json', 'print one JSON document when listening; logs go to stderr')
    .action(
      async (opts: { dir: string; port?: string; reset?: boolean; logLevel: string; json?: boolean }) => {
        const json = opts.json === true;
        const logLevel = logLevelArg(opts.logLevel);
        const port = opts.port === undefined ? undefined : intArg(opts.port, '--port', 1, 65535);
        const { layout, created } = ensureDevnet(opts.dir, { port, reset: opts.reset });
        const node = await startNode(join(resolve(opts.dir), 'dp1.config.json'), {
          logLevel,
          logStream: process.stderr,
        });
        const dir = quoted(shown(resolve(opts.dir)));
        const cli = cliName();
        emit(json, {
          doc: {
            endpoint: node.url,
            dir: resolve(opts.dir),
            created,
            registryKey: layout.registryKey,
            msps: devnetMsps,
          },
          text: [
            '',
            `mimi-discovery devnet ${created ? '(new)' : '(resumed)'}: one DP with a verifier, three MSPs, a signed registry`,
            '',
            `  endpoint      ${node.url}   (DP dp1, verifier verifier1)`,
            `  folder        ${dir}   (registry.json, keys/, dp1.db, outbox.jsonl)`,
            `  registry key  ${layout.registryKey}`,
            `  MSPs          ${devnetMsps.map((m) => `${m.id} ${m.domain}`).join(', ')}`,
            `  codes         nothing is sent by SMS or email here: one-time codes land in ${join(dir, 'outbox.jsonl')}`,
            '',
            'Try, in another terminal:',
            `  ${cli} holder publish --devnet ${dir} --csi '+1 415 555 0101' --msp msp1 --user bob`,
            `  ${cli} lookup --devnet ${dir} --as msp3 '+1 415 555 0101'`,
            `  ${cli} verify --devnet ${dir} ${join(dir, 'mappings')}/<id>.json`,
            `  ${cli} demo      (the whole story, narrated, on a fresh devnet of its own)`,
            '',
            'Request logs follow. Stop with Ctrl-C; run the same command again to resume where you left off.',
            '',
          ].join('\n'),
        });
        const signal = await untilSignal();
        node.app.log.info({ signal }, 'shutting down');
        await node.close();
        if (!json) process.stdout.write('devnet stopped\n');
      },
    );
}
