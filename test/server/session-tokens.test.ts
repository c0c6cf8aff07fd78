import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionAuthority } from '../../src/server/auth.js';
import { configDefaults } from '../../src/server/config.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/** A token as SessionAuthority makes one, over any payload text: what a holder of the secret could MAC. */
function macToken(secret: Buffer, payloadText: string): string {
  const payload = Buffer.from(payloadText).toString('base64url');
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

const future = Math.floor(Date.now() / 1000) + 3600;

/** Payloads under a valid MAC that are not [participant, role, expiresAt]. */
const otherShapes: [string, string][] = [
  ['an object', JSON.stringify({ participant: 'msp1', role: 'msp', expiresAt: future })],
  ['an empty array', '[]'],
  ['a number', '42'],
  ['null', 'null'],
  ['not JSON', 'msp1|msp'],
  ['an unknown role', JSON.stringify(['msp1', 'admin', future])],
  ['a participant of another type', JSON.stringify([{ id: 'msp1' }, 'msp', future])],
  ['an expiry that is a string', JSON.stringify(['msp1', 'msp', String(future)])],
  ['a fractional expiry', JSON.stringify(['msp1', 'msp', future + 0.5])],
  ['an extra member', JSON.stringify(['msp1', 'msp', future, 'admin'])],
  ['a participant that is not an id', JSON.stringify(['MSP 1\u202e', 'msp', future])],
];

/**
 * Issue "Security", case 10: a session token whose MAC is valid but whose payload has another
 * shape answered 500 (the payload was cast, not checked). It must be `unauthenticated`.
 */
describe('case 10: a token payload is checked against its schema after the MAC', () => {
  const secret = randomBytes(32);
  const sessions = new SessionAuthority({ secret, ttlSeconds: configDefaults.sessions.ttlSeconds });

  it('a token it issued is accepted', () => {
    const token = sessions.issue({ participant: 'msp1', role: 'msp', expiresAt: future });
    expect(sessions.check(token, future - 10)).toEqual({
      participant: 'msp1',
      role: 'msp',
      expiresAt: future,
    });
    expect(
      sessions.check(macToken(secret, JSON.stringify(['msp1', 'msp', future])), future - 10),
    ).toMatchObject({
      participant: 'msp1',
    });
  });

  it.each(otherShapes)('%s: unauthenticated', (_what, text) => {
    expect(() => sessions.check(macToken(secret, text), future - 10)).toThrow(
      expect.objectContaining({ code: 'unauthenticated' }),
    );
  });

  describe('over HTTP', () => {
    let net: RunningDevnet;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mimi-session-'));
      const file = join(dir, 'session.key');
      writeFileSync(file, secret.toString('base64url'));
      net = await startDevnet({}, { configure: (c) => (c.sessions = { secretFile: file }) });
    });
    afterAll(async () => {
      await net.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('the node shares the known secret (a good token passes authentication)', async () => {
      const token = macToken(secret, JSON.stringify(['msp1', 'msp', net.clock.now() + 600]));
      const res = await fetch(`${net.url}/v1/mappings/no-such-id`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(((await res.json()) as { code: string }).code).toBe('not-found');
    });

    it.each(otherShapes)('%s: 401 unauthenticated, never 500', async (_what, text) => {
      const token = macToken(secret, text);
      for (const [path, init] of [
        ['/v1/mappings/no-such-id', {}],
        ['/v1/lookup', { method: 'POST', body: '{"v":1,"csis":["tel:+14155550101"]}' }],
      ] as const) {
        const res = await fetch(`${net.url}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(((await res.json()) as { code: string }).code).toBe('unauthenticated');
      }
    });
  });
});
