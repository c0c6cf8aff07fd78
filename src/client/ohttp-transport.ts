import { decodeResponse, encodeRequest, type FieldLine } from '../crypto/bhttp.js';
import {
  decapsulateResponse,
  decodeKeyConfig,
  encapsulateRequest,
  type KeyConfig,
  OhttpMediaType,
  offersSuite,
} from '../crypto/ohttp.js';
import { fromB64u, nowSeconds } from '../protocol/encoding.js';
import { fromProblemBody, MimiError } from '../protocol/errors.js';
import type { Registry } from '../registry/document.js';
import type { FetchLike } from './http.js';

export interface OhttpTransportOptions {
  /** The relay's base URL; requests go to `<relay>/v1/relay/<dp>`. */
  relay: string;
  /** The DP whose gateway is the target: its gateway and key configurations come from the registry. */
  dp: string;
  /** The verified registry, asked again after a key was refused (the gateway may have rotated). */
  registry: () => Registry;
  now?: () => number;
}

/**
 * A fetch that sends each request as Oblivious HTTP (RFC 9458) through a relay to a DP's gateway
 * (R9, R26: the DP does not see the client's address; the relay sees nothing inside). The gateway
 * and its key come only from the signed registry, never from the gateway (RFC 9458 §7: a key
 * handed to one client alone would mark its requests). The inner request carries a Date (the
 * gateway's replay window). When the gateway refuses the key (`ohttp-key-unknown`: rotated out),
 * nothing was processed, so the request is sent again under the registry's next key not yet
 * refused, the registry asked anew each time; other errors are the caller's.
 */
export function ohttpFetch(opts: OhttpTransportOptions): FetchLike {
  const refused = new Set<string>();
  const target = new URL(
    `v1/relay/${encodeURIComponent(opts.dp)}`,
    opts.relay.endsWith('/') ? opts.relay : `${opts.relay}/`,
  );
  const pick = (): KeyConfig => {
    const entry = opts.registry().dp(opts.dp)?.ohttp;
    if (entry === undefined)
      throw new MimiError('relay-target-unknown', `the registry lists no gateway for ${opts.dp}`);
    for (const text of entry.keyConfigs) {
      if (refused.has(text)) continue;
      let cfg: KeyConfig;
      try {
        cfg = decodeKeyConfig(fromB64u(text, 'keyConfig'));
      } catch {
        continue;
      }
      if (offersSuite(cfg)) return Object.assign(cfg, { text });
    }
    throw new MimiError('ohttp-key-unknown', `no key configuration of ${opts.dp} is accepted by its gateway`);
  };

  return async (url, init) => {
    const headers: FieldLine[] = Object.entries(init.headers ?? {}).map(([n, v]) => [n.toLowerCase(), v]);
    headers.push(['date', new Date((opts.now ?? nowSeconds)() * 1000).toUTCString()]);
    const inner = encodeRequest({
      method: init.method ?? 'GET',
      scheme: url.protocol.replace(/:$/, ''),
      authority: url.host,
      path: url.pathname + url.search,
      headers,
      content: init.body === undefined ? new Uint8Array(0) : new TextEncoder().encode(init.body),
    });
    for (;;) {
      const key = pick() as KeyConfig & { text: string };
      const { encapsulated, context } = await encapsulateRequest(key, inner);
      let res: Response;
      try {
        res = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': OhttpMediaType.Request },
          body: encapsulated,
          signal: init.signal,
        });
      } catch (err) {
        throw new MimiError(
          'unreachable',
          `the relay ${opts.relay} did not answer: ${(err as Error).message}`,
        );
      }
      const body = new Uint8Array(await res.arrayBuffer());
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
      if (res.ok && type === OhttpMediaType.Response) {
        const answer = decodeResponse(decapsulateResponse(context, body));
        const nullBody = answer.status === 204 || answer.status === 304;
        return new Response(nullBody ? null : answer.content, {
          status: answer.status,
          headers: answer.headers as [string, string][],
        });
      }
      // A plain answer: the relay's or the gateway's own refusal, before anything was decrypted.
      const err =
        fromProblemBody(body, res.status) ??
        new MimiError('unreachable', `the relay answered HTTP ${res.status}`);
      if (err.code !== 'ohttp-key-unknown') throw err;
      refused.add(key.text);
    }
  };
}
