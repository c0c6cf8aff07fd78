import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lookupNativeDns } from '../../src/client/dns-lookup.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { identifierRecords } from '../../src/dns/records.js';
import { answerQuery, DnsResponder } from '../../src/dns/responder.js';
import { buildZone, Zone } from '../../src/dns/zone.js';
import type { ZoneSet } from '../../src/dns/zone-set.js';
import { discoveryName, localPartLabel, splitTxt } from '../../src/protocol/dns-names.js';
import type { Mapping } from '../../src/protocol/records.js';
import { configDefaults } from '../../src/server/config.js';
import { Federation } from '../support/federation.js';

/**
 * R29, bad input on both sides of DNS: what our responder does with malformed queries, and what
 * the SDK does with answers that are wrong, forged, truncated or missing. Each ends in a typed
 * error or the right fallback, never in a wrong identity. In-process servers on loopback only.
 */
const ns = [{ name: 'ns1.example.net', addresses: ['127.0.0.1'] }];
const oneZone = (zone: Zone) =>
  ({ find: (n: string) => (zone.contains(n) ? zone : undefined) }) as unknown as ZoneSet;

let fed: Federation;
let aliceMapping: Mapping;
let bobMapping: Mapping;
beforeAll(async () => {
  fed = new Federation();
  aliceMapping = (
    await fed.dp.accept(fed.submission('mimi:alice@example.net', generateKeyPair(), { user: 'alice' }))
  ).mapping;
  bobMapping = (
    await fed.dp.accept(fed.submission('mimi:bob@example.net', generateKeyPair(), { user: 'bob' }))
  ).mapping;
});
afterAll(() => fed.close());

const rcodeOf = (b: Buffer) => (dnsPacket.decode(b) as { rcode?: string }).rcode;

const query = (name: string, type: string, opts: { edns?: number; flags?: number; id?: number } = {}) =>
  dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 42,
    flags: opts.flags ?? 0,
    questions: [{ type: type as 'TXT', name }],
    additionals:
      opts.edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as never],
  });

describe('R29: the responder with malformed and edge-case queries', () => {
  const zone = () =>
    buildZone(
      { ...configDefaults.dns.zone, name: 'example.net', nameServers: ns },
      new Map([['mimi:alice@example.net', [aliceMapping]]]),
      7,
    );

  it('FORMERR for garbage with a header, nothing for less than a header or for an answer', () => {
    const zs = oneZone(zone());
    const junk = Buffer.concat([
      query('x.example.net', 'TXT').subarray(0, 12),
      Buffer.from([0xff, 0xff, 0xff]),
    ]);
    const a = answerQuery(zs, junk, { maxPayload: 1232 });
    expect(rcodeOf(a!.message)).toBe('FORMERR');
    expect(answerQuery(zs, Buffer.alloc(5), { maxPayload: 1232 })).toBeUndefined();
    const reply = Buffer.from(query('x.example.net', 'TXT'));
    reply.writeUInt16BE(0x8000, 2);
    expect(answerQuery(zs, reply, { maxPayload: 1232 })).toBeUndefined();
  });

  it('NOTIMP for another opcode; REFUSED for zone transfers', () => {
    const zs = oneZone(zone());
    const update = Buffer.from(query('example.net', 'SOA'));
    update.writeUInt16BE(5 << 11, 2);
    expect(rcodeOf(answerQuery(zs, update, { maxPayload: 1232 })!.message)).toBe('NOTIMP');
    expect(rcodeOf(answerQuery(zs, query('example.net', 'AXFR'), undefined)!.message)).toBe('REFUSED');
  });

  it('RFC 6891: 512 bytes without EDNS, the requested size up to ours with it, TC when it does not fit', () => {
    const zs = oneZone(zone());
    const name = discoveryName('mimi:alice@example.net');
    const plain = answerQuery(zs, query(name, 'TXT'), { maxPayload: 1232 })!;
    expect(plain.truncated).toBe(true);
    const decoded = dnsPacket.decode(plain.message);
    expect(decoded.flag_tc).toBe(true);
    expect(decoded.answers).toEqual([]);
    expect(plain.message.length).toBeLessThanOrEqual(512);
    const big = answerQuery(zs, query(name, 'TXT', { edns: 4096 }), { maxPayload: 4096 })!;
    expect(big.truncated).toBe(false);
    expect(dnsPacket.decode(big.message).answers).toHaveLength(1);
    // Our own limit caps what the requestor asks for.
    expect(answerQuery(zs, query(name, 'TXT', { edns: 4096 }), { maxPayload: 1232 })!.truncated).toBe(
      big.message.length > 1232,
    );
    // A requestor's size below 512 counts as 512.
    expect(answerQuery(zs, query('example.net', 'SOA', { edns: 100 }), { maxPayload: 1232 })!.truncated).toBe(
      false,
    );
    // Over TCP nothing is truncated.
    expect(answerQuery(zs, query(name, 'TXT'), undefined)!.truncated).toBe(false);
  });

  it('names compare case-insensitively and are echoed as asked (0x20)', () => {
    const zs = oneZone(zone());
    const name = discoveryName('mimi:alice@example.net').toUpperCase();
    const a = dnsPacket.decode(
      answerQuery(zs, query(name, 'TXT', { edns: 4096 }), { maxPayload: 4096 })!.message,
    );
    expect(a.flag_aa).toBe(true);
    expect(a.answers?.[0]?.name).toBe(name);
  });

  it('a label is 26 base32 characters, keyed labels differ from plain ones and from each other', () => {
    const plain = localPartLabel('alice');
    expect(plain).toMatch(/^[a-z2-7]{26}$/);
    const k1 = localPartLabel('alice', Buffer.alloc(32, 1));
    const k2 = localPartLabel('alice', Buffer.alloc(32, 2));
    expect(new Set([plain, k1, k2]).size).toBe(3);
    expect(() => localPartLabel('alice', Buffer.alloc(8))).toThrow(TypeError);
    expect(() => discoveryName('mailto:alice@example.net')).toThrow(
      expect.objectContaining({ code: 'invalid-native-id' }),
    );
  });
});

/** A UDP "resolver" on loopback whose answers the test writes. */
class FakeResolver {
  socket: Socket = createSocket('udp4');
  port = 0;
  handler: (q: dnsPacket.DecodedPacket, reply: (p: object) => void) => void = () => undefined;
  async start(): Promise<void> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    this.port = this.socket.address().port;
    this.socket.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      this.handler(q, (p) =>
        this.socket.send(dnsPacket.encode(p as dnsPacket.Packet), rinfo.port, rinfo.address),
      );
    });
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

const txtAnswer = (q: dnsPacket.DecodedPacket, strings: Buffer[], over: Partial<dnsPacket.Packet> = {}) => ({
  type: 'response',
  id: q.id,
  flags: dnsPacket.RECURSION_AVAILABLE,
  questions: q.questions,
  answers: [{ name: q.questions![0]!.name, type: 'TXT', ttl: 5, data: strings }],
  ...over,
});

describe('R29: the SDK with wrong, forged, truncated and missing answers', () => {
  let fake: FakeResolver;
  const opts = () => ({
    registry: fed.registry,
    policy: {},
    now: fed.clock.now(),
    resolvers: [`127.0.0.1:${fake.port}`],
    timeoutMs: 300,
    tries: 1,
  });
  const txtOf = (m: unknown) => {
    const r = identifierRecords('mimi:alice@example.net', [m as Mapping], { ttl: 5 }).find(
      (x) => x.type === 'TXT',
    );
    return r!.data as Buffer[];
  };
  beforeAll(async () => {
    fake = new FakeResolver();
    await fake.start();
  });
  afterAll(() => fake.close());
  afterEach(() => {
    fake.handler = () => undefined;
  });

  it("a genuine mapping for another identifier, served at alice's name, is refused", async () => {
    // Bob's mapping verifies on its own: only the identifier check stops the swap.
    const swapped = identifierRecords('mimi:bob@example.net', [bobMapping], { ttl: 5 }).find(
      (x) => x.type === 'TXT',
    )!;
    fake.handler = (q, reply) => reply(txtAnswer(q, swapped.data as Buffer[]));
    await expect(lookupNativeDns('mimi:alice@example.net', opts())).rejects.toMatchObject({
      code: 'dns-record-invalid',
    });
  });

  it("a CNAME to the holder's own zone is followed; records at names off the chain are not used", async () => {
    fake.handler = (q, reply) => {
      const name = q.questions![0]!.name;
      reply({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions,
        answers: [
          { name, type: 'CNAME', ttl: 5, data: 'alice.self-hosted.example' },
          { name: 'alice.self-hosted.example', type: 'TXT', ttl: 5, data: txtOf(aliceMapping) },
          // Bob's genuine mapping at a name nobody pointed to: ignored, not refused.
          {
            name: 'elsewhere.example',
            type: 'TXT',
            ttl: 5,
            data: identifierRecords('mimi:bob@example.net', [bobMapping], { ttl: 5 }).find(
              (x) => x.type === 'TXT',
            )!.data,
          },
        ],
      });
    };
    const r = await lookupNativeDns('mimi:alice@example.net', opts());
    expect(r.mappings.map((m) => m.mapping.body.csi)).toEqual(['mimi:alice@example.net']);
  });

  it('a mapping changed on the way does not verify', async () => {
    const forged = { ...aliceMapping, body: { ...aliceMapping.body, ssi: 'mimi://chat.example/u/mallory' } };
    fake.handler = (q, reply) => reply(txtAnswer(q, txtOf(forged)));
    await expect(lookupNativeDns('mimi:alice@example.net', opts())).rejects.toMatchObject({
      code: 'holder-signature-invalid',
    });
  });

  it('junk, non-JSON, non-ASCII and oversized TXT records are typed errors; other TXT records are ignored', async () => {
    const cases: [Uint8Array[], string][] = [
      [splitTxt('mimi1 {not json'), 'dns-record-invalid'],
      [splitTxt('mimi1 {"v":1}'), 'dns-record-invalid'],
      [[Buffer.from('mimi1 {"v":1,"x":"\xff"}', 'latin1')], 'dns-record-invalid'],
      [
        splitTxt(`mimi1 ${JSON.stringify({ ...aliceMapping, pad: 'x'.repeat(20_000) })}`),
        'dns-record-invalid',
      ],
    ];
    for (const [strings, code] of cases) {
      fake.handler = (q, reply) =>
        reply(
          txtAnswer(
            q,
            strings.map((s) => Buffer.from(s)),
          ),
        );
      await expect(lookupNativeDns('mimi:alice@example.net', opts())).rejects.toMatchObject({ code });
    }
    fake.handler = (q, reply) => reply(txtAnswer(q, [Buffer.from('v=spf1 -all')]));
    await expect(lookupNativeDns('mimi:alice@example.net', opts())).resolves.toMatchObject({
      status: 'none',
    });
  });

  it('a spoofed answer with the wrong id or question is ignored; the real one is taken', async () => {
    fake.handler = (q, reply) => {
      const forged = {
        ...aliceMapping,
        body: { ...aliceMapping.body, ssi: 'mimi://chat.example/u/mallory' },
      };
      reply(txtAnswer(q, txtOf(forged), { id: (q.id! + 1) & 0xffff }));
      reply(txtAnswer(q, txtOf(forged), { questions: [{ name: 'other.example.net', type: 'TXT' }] }));
      setTimeout(() => reply(txtAnswer(q, txtOf(aliceMapping))), 20);
    };
    const r = await lookupNativeDns('mimi:alice@example.net', opts());
    expect(r.mappings.map((m) => m.mapping.body.ssi)).toEqual(['mimi://chat.example/u/alice']);
  });

  it('a truncated UDP answer is never used: TCP, and without TCP no answer', async () => {
    fake.handler = (q, reply) =>
      reply(txtAnswer(q, txtOf(aliceMapping), { flags: dnsPacket.TRUNCATED_RESPONSE }));
    // Nothing listens on TCP at this port: the lookup fails instead of using the partial answer.
    await expect(lookupNativeDns('mimi:alice@example.net', opts())).rejects.toMatchObject({
      code: 'dns-unreachable',
    });
  });

  it('a resolver that times out is dns-unreachable within the bound; the next resolver is asked', async () => {
    const t0 = Date.now();
    await expect(lookupNativeDns('mimi:alice@example.net', opts())).rejects.toMatchObject({
      code: 'dns-unreachable',
    });
    expect(Date.now() - t0).toBeLessThan(2000);
    // A second resolver (our responder) answers when the first does not.
    const zone = buildZone(
      { ...configDefaults.dns.zone, name: 'example.net', nameServers: ns },
      new Map([['mimi:alice@example.net', [aliceMapping]]]),
      1,
    );
    const responder = new DnsResponder({
      zones: oneZone(zone),
      host: '127.0.0.1',
      port: 0,
      maxUdpPayload: 1232,
    });
    await responder.start();
    try {
      const r = await lookupNativeDns('mimi:alice@example.net', {
        ...opts(),
        resolvers: [`127.0.0.1:${fake.port}`, `127.0.0.1:${responder.port}`],
      });
      expect(r.status).toBe('one');
    } finally {
      await responder.close();
    }
  });

  it('REFUSED and other failures are dns-unreachable, not "no mapping"', async () => {
    fake.handler = (q, reply) =>
      reply({ type: 'response', id: q.id, flags: 5, questions: q.questions, answers: [] });
    await expect(lookupNativeDns('mimi:alice@example.net', opts())).rejects.toMatchObject({
      code: 'dns-unreachable',
    });
  });

  it('a keyed label is found only with the shared secret (R29: hard to guess)', async () => {
    const labelKey = Buffer.alloc(32, 5);
    const zone = buildZone(
      { ...configDefaults.dns.zone, name: 'example.net', nameServers: ns, labelKey },
      new Map([['mimi:alice@example.net', [aliceMapping]]]),
      1,
    );
    const responder = new DnsResponder({
      zones: oneZone(zone),
      host: '127.0.0.1',
      port: 0,
      maxUdpPayload: 1232,
    });
    await responder.start();
    try {
      const at = { ...opts(), resolvers: [`127.0.0.1:${responder.port}`] };
      await expect(lookupNativeDns('mimi:alice@example.net', { ...at, labelKey })).resolves.toMatchObject({
        status: 'one',
      });
      await expect(lookupNativeDns('mimi:alice@example.net', at)).resolves.toMatchObject({ status: 'none' });
      await expect(
        lookupNativeDns('mimi:alice@example.net', { ...at, labelKey: Buffer.alloc(32, 6) }),
      ).resolves.toMatchObject({ status: 'none' });
    } finally {
      await responder.close();
    }
  });

  it('only mimi: identifiers are looked up in DNS', async () => {
    await expect(lookupNativeDns('alice@example.net', opts())).rejects.toMatchObject({
      code: 'invalid-native-id',
    });
    await expect(lookupNativeDns('mimi:alice@@example.net', opts())).rejects.toMatchObject({
      code: 'invalid-native-id',
    });
  });

  it('a zone refuses a record outside it', () => {
    expect(
      () =>
        new Zone(
          'example.net',
          { mname: 'a', rname: 'b', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 },
          [{ name: 'x.example.org', type: 'TXT', ttl: 1, data: [] }],
        ),
    ).toThrow(expect.objectContaining({ code: 'config-invalid' }));
  });
});
