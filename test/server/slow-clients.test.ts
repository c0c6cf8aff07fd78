import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { checkConfig } from '../../src/server/config.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/** What a raw socket saw: the bytes, and when it closed (ms after it was opened). */
interface Seen {
  text: string;
  closedAfterMs: number;
}

function port(net: RunningDevnet): number {
  return Number(new URL(net.url).port);
}

/** Opens a socket, writes `data`, and waits (up to `giveUpMs`) for the server to close it. */
function rawExchange(p: number, data: string, giveUpMs: number): Promise<Seen> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect(p, '127.0.0.1');
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
    });
    s.on('error', () => undefined);
    const give = setTimeout(() => s.destroy(), giveUpMs);
    s.on('close', () => {
      clearTimeout(give);
      resolve({ text, closedAfterMs: Date.now() - t0 });
    });
    if (data !== '') s.write(data);
  });
}

function problemOf(text: string): { status: number; contentType: string; code?: string } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const contentType = /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1] ?? '';
  let code: string | undefined;
  try {
    code = (JSON.parse(body) as { code?: string }).code;
  } catch {
    code = undefined;
  }
  return { status, contentType, code };
}

const boundMs = 500;
const cap = 4;

/**
 * Issue "Security", case 8: incomplete bodies were held 70-85 s although requestTimeoutMs was
 * 10 s, and one address could hold any number of connections. Each bound is configured small
 * here; a socket must close well before 5x its bound (never a tight wall-clock assertion).
 */
describe('case 8: slow clients are bounded', () => {
  let net: RunningDevnet;
  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.limits = {
            ...c.limits,
            requestTimeoutMs: 2 * boundMs,
            headersTimeoutMs: boundMs,
            bodyTimeoutMs: boundMs,
            keepAliveTimeoutMs: boundMs,
            maxConnectionsPerAddress: cap,
          };
        },
      },
    );
  });
  afterAll(() => net.close());

  const post = (extra: string) =>
    `POST /v1/holder/invalidate HTTP/1.1\r\nHost: dp1\r\nContent-Type: application/json\r\n${extra}`;

  it('a body shorter than its Content-Length: 408 request-timeout, closed within the bound', async () => {
    const seen = await rawExchange(port(net), post('Content-Length: 100\r\n\r\n{"v":1,'), 20 * boundMs);
    expect(seen.closedAfterMs).toBeLessThan(5 * boundMs);
    expect(problemOf(seen.text)).toEqual({
      status: 408,
      contentType: expect.stringContaining('application/problem+json'),
      code: 'request-timeout',
    });
  });

  it('a chunked body without its last chunk: 408 request-timeout, closed within the bound', async () => {
    const seen = await rawExchange(
      port(net),
      post('Transfer-Encoding: chunked\r\n\r\n7\r\n{"v":1,\r\n'),
      20 * boundMs,
    );
    expect(seen.closedAfterMs).toBeLessThan(5 * boundMs);
    expect(problemOf(seen.text)).toMatchObject({ status: 408, code: 'request-timeout' });
  });

  it('headers that never end: 408 request-timeout problem+json, closed within the bound', async () => {
    const seen = await rawExchange(port(net), 'GET /healthz HTTP/1.1\r\nHost: dp1\r\n', 20 * boundMs);
    expect(seen.closedAfterMs).toBeLessThan(5 * boundMs);
    expect(problemOf(seen.text)).toEqual({
      status: 408,
      contentType: 'application/problem+json',
      code: 'request-timeout',
    });
  });

  it('an idle keep-alive connection is closed after keepAliveTimeoutMs, not 65 s', async () => {
    const seen = await rawExchange(port(net), 'GET /healthz HTTP/1.1\r\nHost: dp1\r\n\r\n', 40 * boundMs);
    expect(problemOf(seen.text).status).toBe(200);
    // node adds a second of grace to the keep-alive bound.
    expect(seen.closedAfterMs).toBeLessThan(5 * boundMs + 1000);
  });

  it('the connection over the per-address cap is answered 429 rate-limited and closed', async () => {
    // The server's side of each socket, by the client's port: the cap counts it on accept and
    // releases it on close, in listeners that run before these (capConnections, src/server/transport.ts).
    const accepted = new Map<number, Socket>();
    const waiting = new Map<number, (s: Socket) => void>();
    const onConnection = (s: Socket) => {
      accepted.set(s.remotePort!, s);
      waiting.get(s.remotePort!)?.(s);
    };
    const serverSide = (client: Socket) =>
      accepted.get(client.localPort!) ?? new Promise<Socket>((r) => waiting.set(client.localPort!, r));
    net.app.server.on('connection', onConnection);
    const held: Socket[] = [];
    let counted: Socket[] = [];
    try {
      for (let i = 0; i < cap; i++) {
        const s = connect(port(net), '127.0.0.1');
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      // A client's connect can come before the server's accept: wait until the server has each.
      counted = await Promise.all(held.map(serverSide));
      const refused = await rawExchange(
        port(net),
        'GET /healthz HTTP/1.1\r\nHost: dp1\r\n\r\n',
        20 * boundMs,
      );
      expect(refused.closedAfterMs).toBeLessThan(5 * boundMs);
      expect(problemOf(refused.text)).toEqual({
        status: 429,
        contentType: 'application/problem+json',
        code: 'rate-limited',
      });
    } finally {
      net.app.server.off('connection', onConnection);
      for (const s of held) s.destroy();
    }
    // Once the server has seen them closed, the address may connect again.
    await Promise.all(counted.map((s) => (s.closed ? undefined : new Promise((r) => s.once('close', r)))));
    const res = await fetch(`${net.url}/healthz`);
    expect(res.status).toBe(200);
  });

  it('the bounds are published with the other limits', async () => {
    const meta = (await (await fetch(`${net.url}/.well-known/mimi-discovery`)).json()) as {
      limits: Record<string, number>;
    };
    expect(meta.limits).toMatchObject({
      requestTimeoutMs: 2 * boundMs,
      headersTimeoutMs: boundMs,
      bodyTimeoutMs: boundMs,
      keepAliveTimeoutMs: boundMs,
      maxConnectionsPerAddress: cap,
    });
  });
});

describe('case 8: the bounds are validated', () => {
  it('a header or body bound over the whole-request bound is config-invalid', async () => {
    const net = await startDevnet();
    try {
      const raw = JSON.parse(JSON.stringify(net.ctx.config.config));
      for (const name of ['headersTimeoutMs', 'bodyTimeoutMs']) {
        expect(() => checkConfig({ ...raw, limits: { requestTimeoutMs: 1000, [name]: 2000 } })).toThrow(
          expect.objectContaining({ code: ErrorCode.ConfigInvalid }),
        );
      }
      expect(() => checkConfig({ ...raw, limits: { maxConnectionsPerAddress: 0 } })).toThrow(
        expect.objectContaining({ code: ErrorCode.ConfigInvalid }),
      );
      // Each bound is a setting of its own; a smaller requestTimeoutMs alone stays valid.
      const own = {
        requestTimeoutMs: 1000,
        headersTimeoutMs: 400,
        bodyTimeoutMs: 1000,
        keepAliveTimeoutMs: 2000,
        maxConnectionsPerAddress: 8,
      };
      expect(checkConfig({ ...raw, limits: own }).limits).toEqual(own);
      expect(checkConfig({ ...raw, limits: { requestTimeoutMs: 1000 } }).limits).toEqual({
        requestTimeoutMs: 1000,
      });
    } finally {
      await net.close();
    }
  });
});

/**
 * Issue "Security", case 9: errors raised before routing or by node's HTTP parser answered
 * fastify's own JSON, outside the error model.
 */
describe('case 9: every framework and client error is problem+json with a code', () => {
  let net: RunningDevnet;
  beforeAll(async () => {
    net = await startDevnet();
  });
  afterAll(() => net.close());

  it.each([
    ['a URL that does not decode', '/v1/mappings/%00%ff', 400, 'request-invalid'],
    ['a 5,000 character path parameter', `/v1/mappings/${'a'.repeat(5000)}`, 414, 'uri-too-long'],
    ['a 60 KB query string', `/v1/log/leaves?start=0&x=${'a'.repeat(60_000)}`, 431, 'header-too-large'],
    ['an unknown route', '/v1/nothing', 404, 'not-found'],
  ])('%s', async (_what, path, status, code) => {
    const res = await fetch(`${net.url}${path}`);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status, code, type: `urn:mimi-discovery:problem:${code}`, title: code });
    expect(Object.values(ErrorCode)).toContain(body.code);
  });

  it('a malformed request line: 400 request-invalid problem+json', async () => {
    const seen = await rawExchange(port(net), 'GET /healthz HTTP/1.1\r\nHost dp1\r\n\r\n', 5000);
    expect(problemOf(seen.text)).toEqual({
      status: 400,
      contentType: 'application/problem+json',
      code: 'request-invalid',
    });
  });
});
