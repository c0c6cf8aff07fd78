import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { startTokenIssuer, type TokenIssuer } from '../server/token-issuer.js';
import { intArg } from './args.js';
import { defaultDevnetPort } from './commands.js';
import { type DevnetLayout, devnetMsps, readDevnet, writeDevnet } from './devnet-files.js';
import { shown } from './devnet-holder.js';
import { CliError, CliErrorCode, emit } from './io.js';
import { logLevelArg } from './log-level.js';
import { untilSignal } from './node.js';

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
  opts: { port?: number; reset?: boolean; dps?: number },
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
  const port = opts.port ?? defaultDevnetPort;
  return {
    // Each MSP's Privacy Pass issuer listens 20 ports above dp1, next to the others.
    layout: writeDevnet(dir, { port, dps: opts.dps ?? 1, issuers: { port: port + 20 } }),
    created: true,
  };
}

/** Runs one DP of the devnet (`serve`), or its relay, as its own process, its logs prefixed on stderr. */
function spawnDp(configFile: string, id: string, logLevel: string, command = 'serve'): ChildProcess {
  const entry = process.argv[1] ?? '';
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      entry,
      command,
      '--config',
      configFile,
      '--log-level',
      logLevel,
      '--exit-with-parent',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n'))
        if (line.length > 0) process.stderr.write(`${id} | ${line}\n`);
    });
  }
  return child;
}

async function untilHealthy(endpoint: string, child: ChildProcess, id: string): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new CliError(CliErrorCode.NodeFailed, `${id} exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${endpoint}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until)
      throw new CliError(CliErrorCode.NodeFailed, `${id} did not come up at ${endpoint}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function devnetAction(opts: {
  dir: string;
  port?: string;
  dps: string;
  reset?: boolean;
  logLevel: string;
  json?: boolean;
}): Promise<void> {
  const json = opts.json === true;
  const logLevel = logLevelArg(opts.logLevel);
  const port = opts.port === undefined ? undefined : intArg(opts.port, '--port', 1, 65535);
  const dps = intArg(opts.dps, '--dps', 1, 9);
  const { layout, created } = ensureDevnet(opts.dir, { port, reset: opts.reset, dps });
  const children = layout.dps.map((d) => ({ ...d, child: spawnDp(d.configFile, d.id, logLevel) }));
  // The Oblivious HTTP relay (RFC 9458) to the DPs' gateways, in folders that have one.
  if (layout.relay !== undefined) {
    const { endpoint, configFile } = layout.relay;
    children.push({
      id: 'relay',
      endpoint,
      configFile,
      child: spawnDp(configFile, 'relay', logLevel, 'relay'),
    });
  }
  // The MSPs' issuers run in this process: each is a real HTTP service with its own SQLite file.
  const issuers: TokenIssuer[] = [];
  const stopAll = async () => {
    await Promise.all(issuers.map((i) => i.close()));
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.child.exitCode !== null) return r();
            c.child.once('exit', () => r());
            c.child.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    for (const m of layout.msps) {
      if (m.issuer !== undefined) issuers.push(await startTokenIssuer(m.issuer.configFile));
    }
    await Promise.all(children.map((c) => untilHealthy(c.endpoint, c.child, c.id)));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const dir = quoted(shown(resolve(opts.dir)));
  const cli = cliName();
  const mspLine = (id: string) => layout.msps.filter((m) => m.dp === id).map((m) => `${m.id} ${m.domain}`);
  emit(json, {
    doc: {
      endpoint: layout.endpoint,
      dps: layout.dps.map((d) => ({ id: d.id, endpoint: d.endpoint, msps: mspLine(d.id) })),
      dir: resolve(opts.dir),
      created,
      registryKey: layout.registryKey,
      relay: layout.relay?.endpoint ?? null,
      msps: devnetMsps,
    },
    text: [
      '',
      `mimi-discovery devnet ${created ? '(new)' : '(resumed)'}: ${layout.dps.length} DP${layout.dps.length > 1 ? 's, each its own process,' : ''} a verifier, three MSPs, a signed registry`,
      '',
      ...layout.dps.map(
        (d, i) =>
          `  ${d.id}  ${d.endpoint}${i === 0 ? '  (also verifier1)' : ''}   MSPs here: ${mspLine(d.id).join(', ') || 'none'}`,
      ),
      ...(layout.relay === undefined
        ? []
        : [`  relay  ${layout.relay.endpoint}   Oblivious HTTP relay to the DPs' gateways (RFC 9458)`]),
      ...layout.msps.flatMap((m) =>
        m.issuer === undefined
          ? []
          : [
              `  ${m.id} issuer   ${m.issuer.url}   (Privacy Pass tokens for its users ${Object.keys(m.issuer.users).join(', ')})`,
            ],
      ),
      `  folder        ${dir}   (registry.json, keys/, dpN.db, outbox.jsonl)`,
      `  registry key  ${layout.registryKey}`,
      `  codes         nothing is sent by SMS or email here: one-time codes land in ${join(dir, 'outbox.jsonl')}`,
      '',
      'Try, in another terminal:',
      `  ${cli} holder publish --devnet ${dir} --csi '+1 415 555 0101' --msp msp1 --user bob`,
      `  ${cli} lookup --devnet ${dir} --as msp3 '+1 415 555 0101'`,
      ...(layout.relay === undefined
        ? []
        : [
            `  ${cli} lookup --devnet ${dir} --as msp3 --private --relay ${layout.relay.endpoint} '+1 415 555 0101'`,
          ]),
      ...(layout.msps.some((m) => m.issuer !== undefined)
        ? [`  ${cli} lookup --devnet ${dir} --private --tokens msp3:alice '+1 415 555 0101'`]
        : []),
      ...(layout.relay !== undefined && layout.msps.some((m) => m.issuer !== undefined)
        ? [
            `  ${cli} lookup --devnet ${dir} --private --relay ${layout.relay.endpoint} --tokens msp3:alice '+1 415 555 0101'`,
          ]
        : []),
      `  ${cli} verify --devnet ${dir} ${join(dir, 'mappings')}/<id>.json`,
      `  ${cli} demo      (the whole story, narrated, on a fresh devnet of its own)`,
      '',
      'Request logs follow. Stop with Ctrl-C; run the same command again to resume where you left off.',
      '',
    ].join('\n'),
  });
  await untilSignal();
  await stopAll();
  if (!json) process.stdout.write('devnet stopped\n');
}
