import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resignDevnetRegistry } from '../../src/cli/devnet-files.js';
import { isMimiError } from '../../src/protocol/errors.js';
import { Registry } from '../../src/registry/document.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/** R30: GET /v1/registry serves the signed registry the node loaded, byte for byte. */
describe('R30: GET /v1/registry', () => {
  let net: RunningDevnet;
  const file = () => join(net.layout.dir, 'registry.json');
  const etagOf = (bytes: Buffer) => `"${createHash('sha256').update(bytes).digest('base64url')}"`;

  beforeAll(async () => {
    net = await startDevnet();
  });
  afterAll(() => net.close());

  it('serves the loaded bytes, with a strong ETag, and they verify under the pinned key', async () => {
    const res = await fetch(`${net.url}/v1/registry`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('cache-control')).toBe('public, max-age=60, must-revalidate');
    const body = Buffer.from(await res.arrayBuffer());
    // The file as written (pretty-printed), not a re-serialisation.
    expect(body.equals(readFileSync(file()))).toBe(true);
    expect(res.headers.get('etag')).toBe(etagOf(body));
    const opened = Registry.open(JSON.parse(body.toString('utf8')), net.layout.registryKey, {
      now: net.clock.now(),
    });
    expect(opened.serial).toBe(net.ctx.registry.current().serial);
    expect(opened.dp('dp1')?.keys.records).toContain(net.ctx.dpKeys.records.publicKey);
  });

  it('answers 304 to If-None-Match with its ETag (also weak, in a list, or *), 200 to another', async () => {
    const etag = (await fetch(`${net.url}/v1/registry`)).headers.get('etag')!;
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await fetch(`${net.url}/v1/registry`, { headers: { 'if-none-match': inm } });
      expect(res.status, inm).toBe(304);
      expect(res.headers.get('etag')).toBe(etag);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    }
    const other = await fetch(`${net.url}/v1/registry`, { headers: { 'if-none-match': '"other"' } });
    expect(other.status).toBe(200);
  });

  it('serves a newer serial once loaded, and keeps serving it when a forged refresh is refused', async () => {
    const before = (await fetch(`${net.url}/v1/registry`)).headers.get('etag')!;
    resignDevnetRegistry(net.layout, (doc) => doc);
    await net.ctx.registry.load();
    const res = await fetch(`${net.url}/v1/registry`, { headers: { 'if-none-match': before } });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(readFileSync(file()))).toBe(true);
    const serial = Registry.open(JSON.parse(body.toString('utf8')), net.layout.registryKey, {
      now: net.clock.now(),
    }).serial;
    expect(serial).toBe(2);

    // Someone rewrites the file: a higher serial, not signed by the registry key.
    const good = readFileSync(file());
    const forged = { ...JSON.parse(good.toString('utf8')), serial: 99 };
    writeFileSync(file(), JSON.stringify(forged));
    const refused = await net.ctx.registry.load().catch((err: unknown) => err);
    expect(isMimiError(refused, 'registry-signature-invalid')).toBe(true);
    const after = await fetch(`${net.url}/v1/registry`);
    expect(Buffer.from(await after.arrayBuffer()).equals(good)).toBe(true);
    expect(after.headers.get('etag')).toBe(etagOf(good));
  });
});
