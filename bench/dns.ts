/**
 * DNS bench (R29), one run, plain `name: value unit` lines:
 *
 * - dns_qps_ours / dns_qps_nsd: authoritative answers per second on one core, our responder
 *   (bench/lib/dns-responder-child.ts) and NSD (server-count 1) serving the same exported zone of
 *   `--identifiers` native identifiers, each pinned to core 0 while this process, the load
 *   generator, runs on core 1; UDP URI queries for random identifiers, `--inflight` outstanding
 *   (closed loop), `--seconds` per server after a 1 s warm-up; every answer is checked (id, NOERROR, AA, one URI record)
 * - dns_per_core_second_ours / _nsd: the same per second of the server's own CPU (from /proc)
 * - dns_ratio: ours / NSD per server CPU second (target: at least 0.3)
 * - lookup_cold_ms / lookup_cached_ms: the DNS part of a native-identifier lookup, the TXT query
 *   the SDK sends (RD, EDNS 4096) through Unbound in front of NSD: p50 and p99 over `--lookups`
 *   names asked once (cold: Unbound asks NSD), then the same names again (from Unbound's cache).
 *   The SDK's verification of the answer (verifyMapping) comes on top: it is the same as for any
 *   verbose answer (bench/single-node.ts measures it)
 *
 * Run: npx tsx bench/dns.ts [--identifiers 10000] [--seconds 5] [--inflight 64] [--lookups 200]
 * Needs nsd, unbound and ldns (Debian packages; .ci/run installs them). Loopback only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { masterFile } from '../src/dns/master-file.js';
import { discoveryName } from '../src/protocol/dns-names.js';
import { freeDnsPort, missingDnsTools, startNsd, startUnbound } from '../test/support/dns-servers.js';
import { numberArg } from './lib/args.js';
import { benchZone } from './lib/dns-zone.js';

const IDS = numberArg('identifiers', 10_000);
const SECONDS = numberArg('seconds', 5);
const INFLIGHT = numberArg('inflight', 64);
const LOOKUPS = numberArg('lookups', 200);
const out = (name: string, value: number, unit: string) =>
  process.stdout.write(`${name}: ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}\n`);
const taskset = existsSync('/usr/bin/taskset');

const names = Array.from({ length: IDS }, (_, i) => discoveryName(`mimi:user${i}@bench.example`));

/** Closed-loop UDP load: `INFLIGHT` queries outstanding, answers checked, a lost one re-sent after 200 ms. */
async function load(port: number, seconds: number): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const pending = new Map<number, { name: string; at: number }>();
  let answered = 0;
  let bad = 0;
  let nextId = 0;
  const send = () => {
    nextId = (nextId + 1) & 0xffff;
    while (pending.has(nextId)) nextId = (nextId + 1) & 0xffff;
    const name = names[Math.floor(Math.random() * names.length)]!;
    pending.set(nextId, { name, at: Date.now() });
    s.send(
      dnsPacket.encode({ type: 'query', id: nextId, questions: [{ type: 'UNKNOWN_256', name }] } as never),
      port,
      '127.0.0.1',
    );
  };
  const end = Date.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    s.on('message', (msg) => {
      const id = msg.readUInt16BE(0);
      if (!pending.delete(id)) return;
      const flags = msg.readUInt16BE(2);
      // NOERROR, AA, one answer record.
      if ((flags & 0x000f) !== 0 || (flags & 0x0400) === 0 || msg.readUInt16BE(6) !== 1) bad++;
      else answered++;
      if (Date.now() < end) send();
      else if (pending.size === 0) resolve();
    });
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, p] of pending) if (now - p.at > 200) pending.delete(id);
      if (now >= end) {
        clearInterval(sweep);
        resolve();
        return;
      }
      while (pending.size < INFLIGHT) send();
    }, 50);
    for (let i = 0; i < INFLIGHT; i++) send();
  });
  s.close();
  if (bad > 0) throw new Error(`${bad} wrong answers`);
  return answered / seconds;
}

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/**
 * CPU seconds (user + system) used so far by `root` and every process below it (NSD answers from
 * a child of the process it starts), from /proc: the load generator may be what limits the rate,
 * so each server's answers are also given per second of its own CPU.
 */
function cpuSeconds(root: number): number {
  const stats = readdirSync('/proc')
    .filter((d) => /^[0-9]+$/.test(d))
    .flatMap((d) => {
      try {
        const text = readFileSync(`/proc/${d}/stat`, 'utf8');
        // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
        const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
        return [{ pid: Number(d), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }];
      } catch {
        return [];
      }
    });
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of stats) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return stats.filter((p) => tree.has(p.pid)).reduce((n, p) => n + p.ticks, 0) / clockTicks;
}

/** Answers per second of wall time and per second of the server's own CPU, over one window. */
async function measure(port: number, pid: number): Promise<{ perSecond: number; perCpuSecond: number }> {
  const cpu0 = cpuSeconds(pid);
  const perSecond = await load(port, SECONDS);
  const cpu = cpuSeconds(pid) - cpu0;
  return { perSecond, perCpuSecond: (perSecond * SECONDS) / cpu };
}

function pin(pid: number | undefined, core: number): void {
  if (taskset && pid !== undefined)
    spawn('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' });
}

async function lookupTimes(port: number, list: readonly string[]): Promise<number[]> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const times: number[] = [];
  for (const [i, name] of list.entries()) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer for ${name}`)), 3000);
      s.once('message', () => {
        clearTimeout(t);
        resolve();
      });
      s.send(
        dnsPacket.encode({
          type: 'query',
          id: i & 0xffff,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ type: 'TXT', name }],
          additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as never],
        }),
        port,
        '127.0.0.1',
      );
    });
    times.push(performance.now() - t0);
  }
  s.close();
  return times.sort((a, b) => a - b);
}

const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function main(): Promise<void> {
  const missing = missingDnsTools();
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}`);
  if (taskset) spawn('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'mimi-dns-bench-'));
  const zone = await benchZone(IDS);
  const file = join(dir, 'bench.example.zone');
  writeFileSync(file, masterFile(zone));
  out('identifiers', IDS, 'names');
  const port = await freeDnsPort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'lib/dns-responder-child.ts'), String(IDS), String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  pin(child.pid, 0);
  const nsd = await startNsd(dir, { 'bench.example': file });
  pin(nsd.child.pid, 0);
  try {
    await load(port, 1);
    const ours = await measure(port, child.pid!);
    out('dns_qps_ours', Math.round(ours.perSecond), 'answers/s');
    out('dns_per_core_second_ours', Math.round(ours.perCpuSecond), 'answers per server CPU second');
    await load(nsd.port, 1);
    const theirs = await measure(nsd.port, nsd.child.pid!);
    out('dns_qps_nsd', Math.round(theirs.perSecond), 'answers/s');
    out('dns_per_core_second_nsd', Math.round(theirs.perCpuSecond), 'answers per server CPU second');
    const ratio = ours.perCpuSecond / theirs.perCpuSecond;
    out(
      'dns_ratio',
      ratio,
      `(ours / NSD per server CPU second, target >= 0.3: ${ratio >= 0.3 ? 'met' : 'NOT met'})`,
    );
    const ubDir = mkdtempSync(join(dir, 'ub-'));
    const unbound = await startUnbound(ubDir, { stubs: { 'bench.example': `127.0.0.1@${nsd.port}` } });
    try {
      const sample = Array.from({ length: LOOKUPS }, (_, i) => names[(i * 7919) % names.length]!);
      const cold = await lookupTimes(unbound.port, sample);
      const cached = await lookupTimes(unbound.port, sample);
      out('lookup_cold_ms_p50', pct(cold, 0.5), 'ms');
      out('lookup_cold_ms_p99', pct(cold, 0.99), 'ms');
      out('lookup_cached_ms_p50', pct(cached, 0.5), 'ms');
      out('lookup_cached_ms_p99', pct(cached, 0.99), 'ms');
    } finally {
      await unbound.stop();
    }
  } finally {
    child.kill('SIGTERM');
    await nsd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
