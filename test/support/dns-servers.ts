import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { freePort } from '../../src/cli/ports.js';

/**
 * Real DNS servers for the tests (R29): NSD as an authoritative server, Unbound as a validating
 * recursive resolver, and ldns to sign zones. Each binds 127.0.0.1 on a random port and talks to
 * nothing but the loopback servers it is given: Unbound has stub zones for those and a root that
 * goes to a closed loopback port, so no query ever leaves the machine.
 */
export const dnsTools = {
  nsd: '/usr/sbin/nsd',
  unbound: '/usr/sbin/unbound',
  signzone: '/usr/bin/ldns-signzone',
  keygen: '/usr/bin/ldns-keygen',
  dig: '/usr/bin/dig',
} as const;

/** The tools that are missing, so a suite can skip saying which (`.ci/run` installs them). */
export function missingDnsTools(): string[] {
  return Object.values(dnsTools).filter((p) => !existsSync(p));
}

/** A port free for both TCP and UDP on 127.0.0.1. */
export async function freeDnsPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (ok) return port;
  }
}

/** One SOA query over UDP; true when anything answered. */
function answersSoa(port: number, zone: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, 300);
    s.on('message', () => {
      clearTimeout(t);
      s.close();
      resolve(true);
    });
    s.on('error', () => undefined);
    s.send(
      dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'SOA', name: zone }] }),
      port,
      '127.0.0.1',
    );
  });
}

export class DnsProcess {
  constructor(
    readonly name: string,
    readonly port: number,
    readonly child: ChildProcess,
    readonly log: string,
  ) {}

  logText(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

async function waitUp(proc: DnsProcess, zone: string, ms = 10_000): Promise<DnsProcess> {
  const until = Date.now() + ms;
  let stderr = '';
  proc.child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  while (Date.now() < until) {
    if (proc.child.exitCode !== null) break;
    if (await answersSoa(proc.port, zone)) return proc;
  }
  await proc.stop();
  throw new Error(`${proc.name} did not start: ${stderr}\n${proc.logText()}`);
}

/** NSD serving `zones` (name -> master file path) on a random port, in the foreground (-d). */
export async function startNsd(
  dir: string,
  zones: Record<string, string>,
  port?: number,
): Promise<DnsProcess> {
  const p = port ?? (await freeDnsPort());
  const log = join(dir, 'nsd.log');
  const conf = join(dir, 'nsd.conf');
  writeFileSync(
    conf,
    [
      'server:',
      `  ip-address: 127.0.0.1@${p}`,
      `  port: ${p}`,
      '  do-ip6: no',
      '  username: ""',
      '  chroot: ""',
      `  zonesdir: "${dir}"`,
      `  pidfile: "${join(dir, 'nsd.pid')}"`,
      `  logfile: "${log}"`,
      `  xfrdfile: "${join(dir, 'xfrd.state')}"`,
      `  zonelistfile: "${join(dir, 'zone.list')}"`,
      `  xfrdir: "${dir}"`,
      '  database: ""',
      '  server-count: 1',
      '  reuseport: no',
      '  verbosity: 1',
      'remote-control:',
      '  control-enable: no',
      ...Object.entries(zones).flatMap(([name, file]) => [
        'zone:',
        `  name: "${name}"`,
        `  zonefile: "${file}"`,
      ]),
      '',
    ].join('\n'),
  );
  const child = spawn(dnsTools.nsd, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  return waitUp(new DnsProcess('nsd', p, child, log), Object.keys(zones)[0]!);
}

export interface UnboundOptions {
  /** Zone -> `127.0.0.1@port` of its authoritative server. */
  stubs: Record<string, string>;
  /** Trust anchors, as DS or DNSKEY records in master-file form. */
  trustAnchors?: readonly string[];
}

/** Unbound, validating, resolving only through its stub zones. */
export async function startUnbound(dir: string, opts: UnboundOptions): Promise<DnsProcess> {
  const p = await freeDnsPort();
  const log = join(dir, 'unbound.log');
  const conf = join(dir, 'unbound.conf');
  const anchors = join(dir, 'anchors.key');
  writeFileSync(anchors, `${(opts.trustAnchors ?? []).join('\n')}\n`);
  writeFileSync(
    conf,
    [
      'server:',
      '  interface: 127.0.0.1',
      `  port: ${p}`,
      '  do-ip6: no',
      '  username: ""',
      '  chroot: ""',
      `  directory: "${dir}"`,
      `  pidfile: "${join(dir, 'unbound.pid')}"`,
      `  logfile: "${log}"`,
      '  use-syslog: no',
      '  verbosity: 1',
      '  val-log-level: 2',
      '  num-threads: 1',
      '  so-reuseport: no',
      '  access-control: 127.0.0.0/8 allow',
      '  do-not-query-localhost: no',
      '  module-config: "validator iterator"',
      ...((opts.trustAnchors ?? []).length > 0 ? [`  trust-anchor-file: "${anchors}"`] : []),
      '  harden-dnssec-stripped: yes',
      '  edns-buffer-size: 1232',
      '  qname-minimisation: yes',
      ...Object.entries(opts.stubs).flatMap(([name, addr]) => [
        'stub-zone:',
        `  name: "${name}"`,
        `  stub-addr: ${addr}`,
      ]),
      // Everything else goes to a closed loopback port: never to the root servers.
      'forward-zone:',
      '  name: "."',
      '  forward-addr: 127.0.0.1@9',
      'remote-control:',
      '  control-enable: no',
      '',
    ].join('\n'),
  );
  execFileSync('/usr/sbin/unbound-checkconf', [conf], { stdio: 'pipe' });
  const child = spawn(dnsTools.unbound, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  return waitUp(new DnsProcess('unbound', p, child, log), Object.keys(opts.stubs)[0]!);
}

/**
 * Signs a master file with a new ECDSA P-256 key (ldns-keygen, ldns-signzone); returns the signed
 * file and the DS record to use as a trust anchor.
 */
export function signZone(dir: string, zone: string, file: string): { signed: string; ds: string } {
  const key = execFileSync(dnsTools.keygen, ['-a', 'ECDSAP256SHA256', '-k', zone], { cwd: dir })
    .toString()
    .trim();
  const signed = `${file}.signed`;
  execFileSync(dnsTools.signzone, ['-n', '-o', zone, '-f', signed, file, join(dir, key)], {
    cwd: dir,
    stdio: 'pipe',
  });
  const ds = readFileSync(join(dir, `${key}.ds`), 'utf8').trim();
  return { signed, ds };
}

const execFileAsync = promisify(execFile);

/** dig, asynchronously: the responder it asks may run in this very process. */
export async function dig(args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync(dnsTools.dig, [...args, '+time=2', '+tries=1'], { timeout: 10_000 });
  return stdout;
}
