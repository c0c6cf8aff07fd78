import { createSocket } from 'node:dgram';
import { getServers } from 'node:dns';
import { connect, isIP } from 'node:net';
import dnsPacket from 'dns-packet';
import { cryptoProvider } from '../crypto/provider.js';
import { discoveryName, joinTxt } from '../protocol/dns-names.js';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { CsiKind, parseCsi } from '../protocol/identifiers.js';
import { byPreference } from '../protocol/preference.js';
import { decodeRecord, type LookupStatus, Mapping } from '../protocol/records.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut, mappingId, verifyMapping } from '../registry/verify-mapping.js';
import type { VerifiedMapping } from './lookup-client.js';
import { type RegistryInput, registryGetter } from './registry-input.js';

/**
 * R29: a native identifier found through DNS (docs/spec/dns.md): the TXT records at
 * `<label>._mimi-discovery.<domain>` carry signed mappings, verified here with the same
 * verifyMapping as any DP's answer, so a resolver, a cache or an on-path attacker can withhold an
 * answer but not make one up. DNSSEC, where the zone is signed, adds that nothing was withheld or
 * replayed from before an invalidation; its state is reported, as the resolver's AD bit says.
 */
/**
 * Whether the resolver validated the answer (its AD bit).
 *
 * @example
 * if (result.dnssec !== DnssecState.Secure) warn('unsigned zone');
 */
export const DnssecState = { Secure: 'secure', Insecure: 'insecure' } as const;
export type DnssecState = (typeof DnssecState)[keyof typeof DnssecState];

/**
 * What {@link lookupNativeDns} checks against, and how it asks.
 *
 * @example
 * const opts: DnsLookupOptions = { registry, resolvers: ['127.0.0.1:5353'], requireDnssec: true };
 */
export interface DnsLookupOptions {
  registry: RegistryInput;
  /** Strict by default (STYLE.md §6). */
  policy?: TrustPolicy;
  /** Unix seconds; default: the clock. */
  now?: number;
  /** Recursive resolvers, `host` or `host:port` (`[v6]:port`); default: the system's (node:dns getServers). */
  resolvers?: readonly string[];
  /** Per query try, default 2000 ms. */
  timeoutMs?: number;
  /** Tries per resolver, default 2. */
  tries?: number;
  /** The label secret the holder shared (hard-to-guess identifiers). */
  labelKey?: Uint8Array;
  /** Refuse an answer the resolver did not validate (AD bit): for zones known to be signed. */
  requireDnssec?: boolean;
}

/**
 * A native identifier's verified answer from DNS, with the DNSSEC state the resolver reported.
 *
 * @example
 * if (r.dnssec === DnssecState.Secure && r.status === 'one') use(r.mappings[0]);
 */
export interface DnsVerifiedResult {
  query: string;
  csi: string;
  /** The DNS name asked. */
  name: string;
  status: LookupStatus;
  /** Verified mappings, in the holder's order of preference (R7). */
  mappings: VerifiedMapping[];
  dnssec: DnssecState;
  /** DNS answers carry no log inclusion proof; a sender who needs one asks the DP named in the mapping. */
  logProof: 'not-carried';
}

interface RawAnswer {
  rcode: string;
  ad: boolean;
  answers: { name: string; type: string; data: unknown }[];
}

const TXT = 'TXT';

function parseServer(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  const host = m?.[1];
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (host === undefined || isIP(host) === 0 || !(port > 0 && port < 65536)) {
    if (isIP(s) !== 0) return { host: s, port: 53 };
    throw new TypeError(`resolver "${s}" is not an IP address with an optional port`);
  }
  return { host, port };
}

function queryPacket(id: number, name: string, cd: boolean): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED | (cd ? dnsPacket.CHECKING_DISABLED : 0),
    questions: [{ type: TXT, name, class: 'IN' }],
    // RFC 6891: our buffer size; DO so that a validating resolver tells us what it validated.
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: dnsPacket.DNSSEC_OK }],
  } as unknown as dnsPacket.Packet);
}

/**
 * Checks that `msg` answers our question (id, question name and type, QR): an answer that does
 * not is ignored, as a spoofed or stray datagram (RFC 5452 §3).
 */
function matching(msg: Buffer, id: number, name: string): (RawAnswer & { tc: boolean }) | undefined {
  let p: ReturnType<typeof dnsPacket.decode>;
  try {
    p = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  const q = p.questions?.[0];
  if (p.type !== 'response' || p.id !== id || p.questions?.length !== 1 || q === undefined) return undefined;
  if (q.name.toLowerCase() !== name.toLowerCase() || q.type !== TXT) return undefined;
  const flags = (p as { flags?: number }).flags ?? 0;
  return {
    rcode: (p as { rcode?: string }).rcode ?? 'NOERROR',
    ad: (flags & dnsPacket.AUTHENTIC_DATA) !== 0,
    tc: (flags & dnsPacket.TRUNCATED_RESPONSE) !== 0,
    answers: (p.answers ?? []) as RawAnswer['answers'],
  };
}

/** A random DNS message id: unpredictable, against spoofed answers (RFC 5452). */
function queryId(): number {
  const [hi, lo] = cryptoProvider().randomBytes(2);
  return (hi! << 8) | lo!;
}

function udpQuery(server: { host: string; port: number }, name: string, cd: boolean, timeoutMs: number) {
  return new Promise<(RawAnswer & { tc: boolean }) | undefined>((resolve) => {
    const id = queryId();
    const socket = createSocket(isIP(server.host) === 6 ? 'udp6' : 'udp4');
    const done = (v: (RawAnswer & { tc: boolean }) | undefined) => {
      clearTimeout(timer);
      socket.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('error', () => done(undefined));
    socket.on('message', (msg, rinfo) => {
      if (rinfo.address !== server.host || rinfo.port !== server.port) return;
      const a = matching(msg, id, name);
      if (a !== undefined) done(a);
    });
    socket.send(queryPacket(id, name, cd), server.port, server.host, (err) => {
      if (err) done(undefined);
    });
  });
}

function tcpQuery(server: { host: string; port: number }, name: string, cd: boolean, timeoutMs: number) {
  return new Promise<(RawAnswer & { tc: boolean }) | undefined>((resolve) => {
    const id = queryId();
    const socket = connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    const done = (v: (RawAnswer & { tc: boolean }) | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('error', () => done(undefined));
    socket.on('connect', () => {
      const q = queryPacket(id, name, cd);
      const framed = Buffer.alloc(2 + q.length);
      framed.writeUInt16BE(q.length, 0);
      q.copy(framed, 2);
      socket.write(framed);
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      done(matching(buf.subarray(2, 2 + len), id, name));
    });
  });
}

/** One question to the resolvers in turn: UDP, then TCP when the answer was truncated (RFC 7766 §5). */
async function ask(name: string, cd: boolean, opts: DnsLookupOptions): Promise<RawAnswer> {
  const servers = (opts.resolvers ?? getServers()).map(parseServer);
  if (servers.length === 0) throw new MimiError('dns-unreachable', 'no resolver is configured');
  const timeoutMs = opts.timeoutMs ?? 2000;
  for (const server of servers) {
    for (let t = 0; t < (opts.tries ?? 2); t++) {
      const udp = await udpQuery(server, name, cd, timeoutMs);
      if (udp === undefined) continue;
      if (!udp.tc) return udp;
      const tcp = await tcpQuery(server, name, cd, timeoutMs);
      // A truncated answer is never used: its records may be missing (RFC 2181 §9).
      if (tcp !== undefined && !tcp.tc) return tcp;
    }
  }
  throw new MimiError('dns-unreachable', `no resolver answered for ${name}`);
}

function toMapping(strings: readonly Uint8Array[]): Mapping | undefined {
  const json = joinTxt(strings);
  if (json === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new MimiError('dns-record-invalid', 'a mimi1 TXT record is not JSON');
  }
  try {
    return decodeRecord(Mapping, value, 'mapping in DNS');
  } catch (err) {
    throw new MimiError('dns-record-invalid', (err as Error).message);
  }
}

/**
 * Resolves and verifies a native identifier through DNS. Throws `invalid-native-id` for anything
 * but a `mimi:` identifier, `dns-unreachable` when no resolver answers, `dns-bogus` when the
 * resolver found the answer failed DNSSEC validation (or, with requireDnssec, was not validated),
 * `dns-record-invalid` for a record that is not a mapping or is one for another identifier, and
 * the verifyMapping code of the first check that failed for a mapping that does not verify.
 *
 * @example
 * const r = await lookupNativeDns('mimi:alice@example.net', { registry, resolvers: ['127.0.0.1:5353'] });
 */
export async function lookupNativeDns(query: string, opts: DnsLookupOptions): Promise<DnsVerifiedResult> {
  const parsed = parseCsi(query);
  if (parsed.kind !== CsiKind.Native) {
    throw new MimiError('invalid-native-id', 'only mimi: identifiers are looked up in DNS');
  }
  const csi = parsed.uri;
  const name = discoveryName(csi, opts.labelKey);
  const verifyWith = {
    registry: registryGetter(opts.registry)(),
    policy: opts.policy ?? {},
    now: opts.now ?? nowSeconds(),
  };
  let raw = await ask(name, false, opts);
  if (raw.rcode === 'SERVFAIL') {
    // RFC 4035 §3.2.2: asked again with CD, a validating resolver hands over what failed; if there
    // is something, the SERVFAIL was DNSSEC's verdict. The data itself is never used.
    const unchecked = await ask(name, true, opts).catch(() => undefined);
    if (unchecked !== undefined && unchecked.rcode === 'NOERROR' && unchecked.answers.length > 0) {
      throw new MimiError('dns-bogus', `the answer for ${name} failed DNSSEC validation`);
    }
    throw new MimiError('dns-unreachable', `the resolver failed (SERVFAIL) for ${name}`);
  }
  if (raw.rcode !== 'NOERROR' && raw.rcode !== 'NXDOMAIN') {
    throw new MimiError('dns-unreachable', `the resolver answered ${raw.rcode} for ${name}`);
  }
  const dnssec: DnssecState = raw.ad ? 'secure' : 'insecure';
  if (opts.requireDnssec === true && dnssec !== 'secure') {
    throw new MimiError('dns-bogus', `the answer for ${name} was not validated by DNSSEC`);
  }
  if (raw.rcode === 'NXDOMAIN') raw = { ...raw, answers: [] };
  // A label may be a CNAME to a zone the holder runs (RFC 1034 §3.6.2); the resolver then answers
  // the chain and the records at its end. Only names on the chain from ours count, at most 8 hops.
  const owners = new Set([name.toLowerCase()]);
  for (let hop = 0; hop < 8; hop++) {
    const next = raw.answers.find(
      (a) =>
        a.type === 'CNAME' &&
        owners.has(a.name.toLowerCase()) &&
        typeof a.data === 'string' &&
        !owners.has(a.data.toLowerCase()),
    );
    if (next === undefined) break;
    owners.add((next.data as string).toLowerCase());
  }
  const here = raw.answers.filter((a) => owners.has(a.name.toLowerCase()));
  const mappings: VerifiedMapping[] = [];
  for (const a of here) {
    if (a.type !== TXT) continue;
    const m = toMapping(a.data as Uint8Array[]);
    if (m === undefined) continue;
    // A genuine mapping of someone else, replayed here, verifies: the identifier must be ours.
    if (m.body.csi !== csi) {
      throw new MimiError('dns-record-invalid', `a mapping at ${name} is for another identifier`);
    }
    verifyMapping(m, verifyWith);
    const id = mappingId(m);
    if (!mappings.some((x) => x.id === id)) mappings.push({ id, dps: [m.dp], mapping: m });
  }
  const optOuts = mappings.filter((m) => isOptOut(m.mapping.body)).length;
  if (optOuts > 0 && mappings.length > 1) {
    throw new MimiError('dns-record-invalid', `${name} carries an opt-out beside other mappings`);
  }
  mappings.sort((a, b) =>
    byPreference(
      { ...a.mapping.body, acceptedAt: a.mapping.acceptedAt, id: a.id },
      { ...b.mapping.body, acceptedAt: b.mapping.acceptedAt, id: b.id },
    ),
  );
  const status: LookupStatus =
    optOuts > 0 ? 'opt-out' : mappings.length === 0 ? 'none' : mappings.length === 1 ? 'one' : 'several';
  return { query, csi, name, status, mappings, dnssec, logProof: 'not-carried' };
}
