import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, importPublicKey } from '../../src/crypto/keys.js';
import type { LogEntry } from '../../src/dp/transparency-log.js';
import { formatVerifierKey } from '../../src/tlog/checkpoint.js';
import { LogLeafKind } from '../../src/tlog/leaf.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';
import { storeBackends } from '../support/stores.js';

/**
 * Issue "Anyone can implement and audit it", item 6: the log served as C2SP tlog-tiles is read by
 * Go's golang.org/x/mod/sumdb/note and sumdb/tlog (test/tlog-go/main.go): the checkpoint verifies
 * under the DP's key, every tile checks against the signed root, leaves from the entry bundles
 * are proved included and an older checkpoint consistent. Tampering makes it fail.
 */
const gopath = '/usr/share/gocode';
const hasGo = await new Promise<boolean>((done) => execFile('go', ['version'], (err) => done(err === null)));
const hasMod = existsSync(join(gopath, 'src/golang.org/x/mod/sumdb/tlog'));
if (!hasGo || !hasMod) {
  console.warn(
    'go-tlog-tiles: skipped, needs `go` and golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)',
  );
}
const goEnv = {
  ...process.env,
  GO111MODULE: 'off',
  GOPATH: gopath,
  GOFLAGS: '',
  GOPROXY: 'off',
  GOCACHE: join(tmpdir(), 'mimi-go-build-cache'),
};

interface GoResult {
  ok: boolean;
  size?: number;
  included: number[];
  consistentFrom?: number;
  error?: string;
  recordHashes?: string[];
}

function runGo(bin: string, args: string[]): Promise<{ code: number; result: GoResult }> {
  return new Promise((done, fail) => {
    execFile(bin, args, { env: goEnv, timeout: 60_000 }, (err, stdout) => {
      try {
        done({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), result: JSON.parse(stdout) });
      } catch (e) {
        fail(new Error(`tlog-go printed no JSON: ${String(err)} ${stdout}`, { cause: e }));
      }
    });
  });
}

for (const backend of storeBackends().filter((b) => b.name === 'sqlite' || b.name === 'postgres')) {
  describe.skipIf(!hasGo || !hasMod || !backend.available)(
    `Go's sumdb/tlog follows the log through its C2SP tiles on ${backend.name}`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'mimi-tlog-go-'));
      const bin = join(dir, 'tlog-go');
      let net: RunningDevnet;
      let key: string;
      let tiles: string;
      let proxy: Server;
      let proxied: string;
      let oldSize: number;
      let size: number;

      async function append(n: number): Promise<void> {
        const t = net.ctx.transparency!;
        let at = 0;
        const entries: LogEntry[] = Array.from({ length: n }, () => ({
          kind: LogLeafKind.Mapping,
          csi: `tel:+1415700${String(at++).padStart(4, '0')}`,
          time: net.clock.now(),
          commitment: createHash('sha256').update(`record ${at}`).digest(),
        }));
        await net.ctx.store.write((tx) => t.log.appendMany(tx, entries));
      }

      beforeAll(async () => {
        await new Promise<void>((done, fail) =>
          execFile(
            'go',
            ['build', '-o', bin, 'main.go'],
            { cwd: join(__dirname, '../tlog-go'), env: goEnv },
            (err, _o, stderr) => (err === null ? done() : fail(new Error(`go build: ${stderr}`))),
          ),
        );
        net = await startDevnet(
          {},
          {
            configure: (c) => {
              c.log = { checkpointIntervalMs: 3_600_000 };
            },
          },
        );
        const t = net.ctx.transparency!;
        // An older signed tree inside the first tile, then two full level-0 tiles and a partial one
        // (and so a partial level-1 tile of two hashes).
        await append(100);
        oldSize = (await t.log.checkpoint()).size;
        await append(600);
        size = (await t.log.checkpoint()).size;
        key = formatVerifierKey({
          name: t.log.origin,
          publicKey: importPublicKey(net.ctx.dpKeys.log.publicKey),
        });
        tiles = `${net.url}/v1/log/tiles`;
        // Serves the log as it is, but with one byte flipped in the tile named by the request's
        // first path segment (/<tile path with slashes as ~>/...).
        proxy = createServer(async (req, res) => {
          const [, flip, ...rest] = (req.url ?? '').split('/');
          const path = `/${rest.join('/')}`;
          const upstream = await fetch(`${tiles}${path}`);
          const body = Buffer.from(await upstream.arrayBuffer());
          if (upstream.ok && path === `/${flip!.replaceAll('~', '/')}`) body[body.length - 1]! ^= 1;
          res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? '' });
          res.end(body);
        });
        await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
        proxied = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      }, 120_000);

      afterAll(async () => {
        proxy?.close();
        await net?.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it('verifies the checkpoint, inclusion of leaves across tiles and consistency with an older size', async () => {
        expect(size).toBeGreaterThan(2 * 256);
        const leaves = [0, 1, 99, 255, 256, 300, 511, 512, size - 1];
        const { code, result } = await runGo(bin, [
          '-base',
          tiles,
          '-key',
          key,
          ...leaves.flatMap((i) => ['-leaf', String(i)]),
          '-old',
          `${net.url}/v1/log/checkpoints/${oldSize}`,
        ]);
        expect(result.error).toBeUndefined();
        expect(code).toBe(0);
        expect(result).toMatchObject({ ok: true, size, included: leaves, consistentFrom: oldSize });
        // The record hashes Go computed are the leaf hashes our tree holds.
        const stored = await net.ctx.store.logLeaves(300, 301);
        expect(Buffer.from(result.recordHashes![5]!, 'base64')).toEqual(Buffer.from(stored[0]!.hash));
      });

      it('serves full tiles as immutable, partial ones and the checkpoint as short-lived, and nothing beyond the tree', async () => {
        const full = await fetch(`${tiles}/tile/0/000`);
        expect(full.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
        expect((await full.arrayBuffer()).byteLength).toBe(256 * 32);
        const partial = await fetch(`${tiles}/tile/0/002.p/${size - 512}`);
        expect(partial.status).toBe(200);
        expect(partial.headers.get('cache-control')).toBe('public, max-age=60');
        expect((await fetch(`${tiles}/checkpoint`)).headers.get('cache-control')).toBe('no-cache');
        for (const beyond of [
          '0/002',
          `0/002.p/${size - 511}`,
          '0/003.p/1',
          '1/000',
          '2/000.p/1',
          'entries/003.p/1',
        ]) {
          const r = await fetch(`${tiles}/tile/${beyond}`);
          expect([beyond, r.status, ((await r.json()) as { code: string }).code]).toEqual([
            beyond,
            404,
            'not-found',
          ]);
        }
        for (const bad of [
          '0/2',
          '0/x000/002',
          '0/002.p/0',
          '0/002.p/256',
          '0/002.p/05',
          '00/000',
          '64/000',
          'data/000',
          '0/000/',
        ]) {
          const r = await fetch(`${tiles}/tile/${bad}`);
          expect([bad, r.status, ((await r.json()) as { code: string }).code]).toEqual([
            bad,
            400,
            'record-invalid',
          ]);
        }
      });

      it('fails on a wrong checkpoint key', async () => {
        const other = formatVerifierKey({
          name: net.ctx.transparency!.log.origin,
          publicKey: importPublicKey(generateKeyPair().publicKey),
        });
        const { code, result } = await runGo(bin, ['-base', tiles, '-key', other, '-leaf', '3']);
        expect(code).not.toBe(0);
        expect(result.ok).toBe(false);
        expect(result.error).toMatch(/note\.Open/);
      });

      it('fails on a tampered hash tile or entry bundle', async () => {
        const cases = [
          ['tile~0~001', '300'],
          ['tile~1~000.p~2', '300'],
          // The last byte of bundle 1 is in leaf 511.
          ['tile~entries~001', '511'],
        ] as const;
        for (const [flip, leaf] of cases) {
          const { code, result } = await runGo(bin, [
            '-base',
            `${proxied}/${flip}`,
            '-key',
            key,
            '-leaf',
            leaf,
          ]);
          expect([flip, code, result.ok]).toEqual([flip, 1, false]);
        }
        // The proxy itself passes the log through unchanged when nothing matches.
        const clean = await runGo(bin, ['-base', `${proxied}/none`, '-key', key, '-leaf', '300']);
        expect(clean.result.error).toBeUndefined();
        expect(clean.code).toBe(0);
      });
    },
  );
}
