import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { encodeUri } from '../protocol/dns-names.js';
import type { ZoneRecord } from './records.js';
import type { ZoneSet } from './zone-set.js';

/**
 * R29: the node's own authoritative DNS responder for the zones it holds (docs/spec/dns.md),
 * over UDP and TCP (RFC 7766), on dns-packet. It answers from the ZoneSet only: no recursion, no
 * zone transfer (R22, R28: nobody downloads the list of labels), no answer for other zones.
 */
export interface DnsResponderOptions {
  zones: ZoneSet;
  host: string;
  /** 0: a free port, the same for UDP and TCP. */
  port: number;
  /** Largest UDP answer we send when the query's EDNS(0) allows it (RFC 6891 §6.2.5; dns.maxUdpPayload). */
  maxUdpPayload: number;
}

/** An idle TCP connection is closed after this long (RFC 7766 §6.2.3 suggests seconds). */
const tcpIdleMs = 10_000;
/** TCP connections open at once, across clients. */
const maxTcpConnections = 256;

const Rcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const QR = 0x8000;

type Wire = Record<string, unknown>;

function toWire(r: ZoneRecord): Wire {
  const base = { name: r.name, ttl: r.ttl, class: 'IN' };
  switch (r.type) {
    case 'SOA':
      return { ...base, type: 'SOA', data: r.data };
    case 'URI':
      // dns-packet copies an unknown type's data as a Buffer.
      return { ...base, type: 'UNKNOWN_256', data: Buffer.from(encodeUri(r.data)) };
    default:
      return { ...base, type: r.type, data: r.data };
  }
}

/** A header-only reply (FORMERR and the like) built by hand: the query may not decode. */
function bareReply(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  out.writeUInt16BE(QR | (query.readUInt16BE(2) & (0x7800 | RD)) | rcode, 2);
  return out;
}

export interface Answer {
  message: Buffer;
  truncated: boolean;
}

/**
 * One query in, one answer out (undefined: send nothing). `udpLimit` is undefined over TCP. Pure
 * but for the zone set, so tests drive it without sockets.
 */
export function answerQuery(
  zones: ZoneSet,
  query: Buffer,
  udp: { maxPayload: number } | undefined,
): Answer | undefined {
  if (query.length < 12) return undefined;
  const flags = query.readUInt16BE(2);
  if ((flags & QR) !== 0) return undefined; // never answer an answer (reflection loops)
  let q: ReturnType<typeof dnsPacket.decode>;
  try {
    q = dnsPacket.decode(query);
  } catch {
    return { message: bareReply(query, Rcode.FormErr), truncated: false };
  }
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { message: bareReply(query, Rcode.NotImp), truncated: false };
  const questions = q.questions ?? [];
  const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  const question = questions[0];
  if (questions.length !== 1 || question === undefined)
    return { message: bareReply(query, Rcode.FormErr), truncated: false };
  const reply = (rcode: number, aa: boolean, answers: Wire[], authorities: Wire[]): Buffer =>
    dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: (aa ? AA : 0) | (flags & RD) | rcode,
      questions: [question],
      answers,
      authorities,
      additionals:
        opt === undefined
          ? []
          : [{ type: 'OPT', name: '.', udpPayloadSize: udp?.maxPayload ?? 65535, flags: 0 }],
    } as unknown as dnsPacket.Packet);
  const qtype = String(question.type);
  const zone = zones.find(question.name);
  let message: Buffer;
  if ((question.class ?? 'IN') !== 'IN' || zone === undefined || qtype === 'AXFR' || qtype === 'IXFR') {
    message = reply(Rcode.Refused, false, [], []);
  } else {
    const found = zone.lookup(question.name, qtype === 'UNKNOWN_256' ? 'URI' : qtype);
    // Owner names go out as the question spelled them (RFC 4343; 0x20 case randomisation).
    const asAsked = (r: Wire) =>
      String(r.name) === question.name.toLowerCase().replace(/\.$/, '') ? { ...r, name: question.name } : r;
    message = reply(
      found.rcode === 'NXDOMAIN' ? Rcode.NxDomain : Rcode.NoError,
      true,
      found.answers.map(toWire).map(asAsked),
      found.authority.map(toWire),
    );
  }
  if (udp !== undefined) {
    // RFC 6891 §6.2.3-5: the requestor's size, at least 512, at most ours; without EDNS, 512.
    const limit =
      opt === undefined ? 512 : Math.min(Math.max(opt.udpPayloadSize ?? 512, 512), udp.maxPayload);
    if (message.length > limit) {
      const head = Buffer.from(
        dnsPacket.encode({
          type: 'response',
          id: q.id,
          flags: AA | TC | (flags & RD),
          questions: [question],
          answers: [],
          authorities: [],
          additionals:
            opt === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: udp.maxPayload, flags: 0 }],
        } as unknown as dnsPacket.Packet),
      );
      return { message: head, truncated: true };
    }
  } else if (message.length > 65535) {
    message = reply(Rcode.ServFail, false, [], []);
  }
  return { message, truncated: false };
}

export class DnsResponder {
  private readonly opts: DnsResponderOptions;
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Set<Socket>();
  port = 0;

  constructor(opts: DnsResponderOptions) {
    this.opts = opts;
  }

  async start(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.opts.port, this.opts.host, () => resolve());
      });
      const port = udp.address().port;
      const tcp = createServer((s) => this.onTcp(s));
      tcp.maxConnections = maxTcpConnections;
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, this.opts.host, () => resolve());
        });
      } catch (err) {
        udp.close();
        // A free UDP port whose TCP twin is taken: draw again, a few times.
        if (this.opts.port === 0 && attempt < 5) continue;
        throw err;
      }
      udp.on('message', (msg, rinfo) => {
        const a = answerQuery(this.opts.zones, msg, { maxPayload: this.opts.maxUdpPayload });
        if (a !== undefined) udp.send(a.message, rinfo.port, rinfo.address);
      });
      udp.on('error', () => undefined);
      this.udp = udp;
      this.tcp = tcp;
      this.port = port;
      return port;
    }
  }

  /** RFC 7766 §8: two-byte length prefix, several queries per connection, idle connections closed. */
  private onTcp(socket: Socket): void {
    this.conns.add(socket);
    socket.setTimeout(tcpIdleMs, () => socket.destroy());
    socket.on('close', () => this.conns.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        const a = answerQuery(this.opts.zones, Buffer.from(msg), undefined);
        if (a === undefined) continue;
        const framed = Buffer.alloc(2 + a.message.length);
        framed.writeUInt16BE(a.message.length, 0);
        a.message.copy(framed, 2);
        socket.write(framed);
      }
    });
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const c of this.conns) c.destroy();
    await Promise.all([
      udp === undefined ? undefined : new Promise<void>((r) => udp.close(() => r())),
      tcp === undefined ? undefined : new Promise<void>((r) => tcp.close(() => r())),
    ]);
  }
}
