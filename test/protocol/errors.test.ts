import { readdirSync, readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { CliError, CliErrorCode, renderError } from '../../src/cli/io.js';
import { PoolUnavailable } from '../../src/client/private-verify.js';
import { OprfError } from '../../src/crypto/oprf-errors.js';
import { PeerCallError, PeerStatus } from '../../src/federation/peer-client.js';
import {
  type AnyErrorCode,
  ErrorCode,
  fromProblem,
  fromProblemBody,
  isWireCode,
  localErrorCodes,
  MimiError,
  OprfErrorCode,
  TlogErrorCode,
  toProblem,
} from '../../src/protocol/errors.js';
import { problemOf, sendProblem } from '../../src/server/problems.js';
import { StoreUnavailable } from '../../src/store/errors.js';
import { TlogError } from '../../src/tlog/errors.js';

const wire = new Set<string>(Object.values(ErrorCode));
const local = Object.values(localErrorCodes).flatMap((t) => Object.values(t));
const every = new Set<string>([...wire, ...local]);

/** One instance of every exported error class, as its code's owner raises it. */
const instances: [string, MimiError][] = [
  ['MimiError', new MimiError(ErrorCode.RecordInvalid, 'x')],
  ['TlogError', new TlogError(TlogErrorCode.ProofInvalid, 'x')],
  ['OprfError', new OprfError(OprfErrorCode.IdentityElement, 'x', 3)],
  ['PeerCallError', new PeerCallError(PeerStatus.Timeout, 'timeout', 'x')],
  ['CliError', new CliError(CliErrorCode.Usage, 'x', 'try --help')],
  ['PoolUnavailable', new PoolUnavailable(new Error('worker died'))],
  ['StoreUnavailable', new StoreUnavailable('x')],
];

describe('one error model', () => {
  it('every code is in one table, and no local code is also a wire code', () => {
    expect(local.filter((c) => wire.has(c))).toEqual([]);
    expect(new Set(local).size).toBe(local.length);
    for (const c of Object.values(OprfErrorCode)) expect(isWireCode(c)).toBe(true);
  });

  it.each(instances)('%s is a MimiError with a code from the table', (name, err) => {
    expect(err).toBeInstanceOf(MimiError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect(every.has(err.code)).toBe(true);
  });

  it('src/ raises no bare Error: a MimiError, a TypeError for misuse, or a sentinel private to its file', () => {
    const src = new URL('../../src/', import.meta.url);
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const bare = files.filter((f) => /\bnew Error\(/.test(readFileSync(new URL(f, src), 'utf8')));
    expect(bare).toEqual([]);
  });

  it('keeps the cause', () => {
    const cause = new TlogError(TlogErrorCode.NoteMalformed, 'x');
    expect(new MimiError(ErrorCode.LogCheckpointInvalid, 'y', undefined, { cause }).cause).toBe(cause);
    expect(new PoolUnavailable(cause).cause).toBe(cause);
  });

  it('docs/spec/errors.md lists every wire code with its status, and no other', () => {
    const doc = readFileSync(new URL('../../docs/spec/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z0-9-]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]);
    const listed = new Map(rows as [string, number][]);
    for (const code of wire) {
      expect(listed.get(code), code).toBe(new MimiError(code as ErrorCode, 'x').status);
    }
    expect([...listed.keys()].filter((c) => !wire.has(c))).toEqual([]);
  });

  it('a problem document read back is the same code; an unknown code is internal', () => {
    const sent = toProblem(new OprfError(OprfErrorCode.IdentityElement, 'x', 3));
    const back = fromProblem(JSON.parse(JSON.stringify(sent)), sent.status);
    expect([back.code, back.extra?.index]).toEqual([ErrorCode.OprfIdentityElement, 3]);
    expect(fromProblem({ code: 'no-such-code' }, 400).code).toBe(ErrorCode.Internal);
    expect(fromProblem({ code: 'toString' }, 400).code).toBe(ErrorCode.Internal);
    const bytes = new TextEncoder().encode(JSON.stringify(sent));
    expect(fromProblemBody(bytes, sent.status)?.code).toBe(ErrorCode.OprfIdentityElement);
    expect(fromProblemBody(new TextEncoder().encode('<html>'), 502)).toBeUndefined();
    // A local code never goes out as it is.
    expect(toProblem(new TlogError(TlogErrorCode.ProofInvalid, 'x')).code).toBe(ErrorCode.Internal);
  });

  it('the CLI boundary gives each error its code and exit code', () => {
    const usage = renderError(new CliError(CliErrorCode.Usage, 'x', 'try --help'));
    expect([usage.code, usage.exitCode, usage.hint, usage.problem.status]).toEqual([
      'usage',
      2,
      'try --help',
      undefined,
    ]);
    const wireErr = renderError(new OprfError(OprfErrorCode.InvalidElement, 'x'));
    expect([wireErr.code, wireErr.exitCode, wireErr.problem.status]).toEqual([
      'oprf-invalid-element',
      1,
      400,
    ]);
    expect(renderError(new TypeError('misuse')).code).toBe('internal');
  });
});

describe('the HTTP boundary', () => {
  const thrown: [string, () => Error, AnyErrorCode, number][] = [
    [
      'an OprfError',
      () => new OprfError(OprfErrorCode.IdentityElement, 'x', 2),
      'oprf-identity-element',
      400,
    ],
    [
      'a PeerCallError with a wire code',
      () => new PeerCallError(PeerStatus.Error, 'unreachable', 'x'),
      'unreachable',
      503,
    ],
    [
      'a TlogError (a fault of ours if it gets here)',
      () => new TlogError(TlogErrorCode.StateInvalid, 'x'),
      'internal',
      500,
    ],
    [
      'a PeerCallError with a local code',
      () => new PeerCallError(PeerStatus.Timeout, 'timeout', 'x'),
      'internal',
      500,
    ],
    ['a TypeError', () => new TypeError('x'), 'internal', 500],
  ];

  it.each(thrown)('answers %s as problem+json with its code', async (_what, make, code, status) => {
    const app = Fastify({ logger: false });
    app.setErrorHandler((err, req, reply) => sendProblem(reply, problemOf(err, req.log)));
    app.get('/', async () => {
      throw make();
    });
    const res = await app.inject({ method: 'GET', url: '/' });
    await app.close();
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ code, status, type: `urn:mimi-discovery:problem:${code}` });
    if (code === 'oprf-identity-element') expect(res.json().index).toBe(2);
  });
});
