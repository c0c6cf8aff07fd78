import { createServer } from 'node:http';
import { targetUri, verifyPeerRequest } from '../../src/federation/http-signature.js';
import { decodeRecord, Notice } from '../../src/protocol/records.js';
import type { Registry } from '../../src/registry/document.js';
import { freePort } from './devnet.js';

/** A notice as the MSP's webhook received it: the DP that signed it, the notice, the raw body. */
export interface ReceivedNotice {
  from: string;
  notice: Notice;
  raw: string;
}

/**
 * An MSP's webhook on loopback (R18 notices): it believes a notice only after checking the DP's
 * RFC 9421 signature against `registry()`, for the webhook's own URL, once per nonce (401
 * otherwise), and keeps each one it believed. `now`: the clock the DPs sign with.
 */
export async function startNoticeHook(
  registry: () => Registry,
  now: () => Date = () => new Date(),
): Promise<{ url: string; notices: ReceivedNotice[]; close(): void }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/notices`;
  const notices: ReceivedNotice[] = [];
  const nonces = new Set<string>();
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString();
    });
    req.on('end', async () => {
      try {
        const { dp, nonce } = await verifyPeerRequest(
          { method: 'POST', url: targetUri(url, req.url ?? '/'), headers: req.headers, rawBody: raw },
          registry(),
          now(),
        );
        if (nonces.has(`${dp}:${nonce}`)) throw new Error('replayed');
        nonces.add(`${dp}:${nonce}`);
        notices.push({ from: dp, notice: decodeRecord(Notice, JSON.parse(raw), 'notice'), raw });
        res.statusCode = 204;
      } catch {
        res.statusCode = 401;
      }
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url, notices, close: () => server.close() };
}
