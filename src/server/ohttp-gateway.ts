import type { FieldLine } from '../crypto/bhttp.js';
import { type GatewayKey, gatewayKeyFromPrivate } from '../crypto/ohttp.js';
import { MimiError } from '../protocol/errors.js';
import type { LoadedConfig } from './config.js';
import { readOrCreateSecretFile } from './secret-file.js';

/**
 * The DP's Oblivious HTTP gateway state (RFC 9458 §6.3): its live keys, the inner requests it
 * forwards, and its replay window. The HTTP side is src/server/routes/ohttp.ts.
 */
export interface OhttpGateway {
  /** The live keys, the announced (newest) first. */
  keys: readonly GatewayKey[];
  byId: ReadonlyMap<number, GatewayKey>;
  replay: ReplayWindow;
}

/** Loads (creating on first use) the configured gateway keys; undefined without `ohttp`. */
export async function createOhttpGateway(
  loaded: LoadedConfig,
  now: () => number,
): Promise<OhttpGateway | undefined> {
  const c = loaded.config.ohttp;
  if (c === undefined) return undefined;
  if (loaded.config.privateLookup?.enabled === false) {
    throw new MimiError('config-invalid', 'ohttp: the gateway serves the private lookup, which is disabled');
  }
  const ids = new Set<number>();
  const keys: GatewayKey[] = [];
  for (const [i, k] of c.keys.entries()) {
    if (ids.has(k.id))
      throw new MimiError('config-invalid', `ohttp.keys[${i}].id: key id ${k.id} is listed twice`);
    ids.add(k.id);
    const sk = readOrCreateSecretFile(loaded.path(k.file), `ohttp.keys[${i}].file`);
    keys.push(await gatewayKeyFromPrivate(k.id, sk));
  }
  return {
    keys,
    byId: new Map(keys.map((k) => [k.keyId, k])),
    replay: new ReplayWindow(loaded.resolved.ohttp.replayWindowSeconds, now),
  };
}

/**
 * RFC 9458 §6.5: an encapsulated request replayed by the relay (or anyone on the path) would be
 * answered again. The gateway takes each request once: its HPKE enc (fresh per request) is kept
 * for the window, and the inner request must carry a Date within the window of this node's clock,
 * so that nothing older than the window can be replayed once its enc has been forgotten. Per node:
 * a replay to another node of the same DP is caught by neither, and then meets only the same
 * budgets and one-time tokens as the original (docs/threat-model.md).
 */
export class ReplayWindow {
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;

  constructor(
    readonly seconds: number,
    private readonly now: () => number,
  ) {}

  /** Checks the inner Date and records `enc`; `ohttp-date-invalid` or `ohttp-replayed`. */
  admit(enc: Uint8Array, date: string | undefined): void {
    const t = this.now();
    const at = date === undefined ? Number.NaN : Date.parse(date) / 1000;
    if (!Number.isFinite(at) || Math.abs(at - t) > this.seconds) {
      throw new MimiError('ohttp-date-invalid', `the inner request needs a Date within ${this.seconds} s`, {
        date: new Date(t * 1000).toUTCString(),
      });
    }
    if (t - this.lastSweep >= this.seconds) {
      for (const [k, until] of this.seen) if (until < t) this.seen.delete(k);
      this.lastSweep = t;
    }
    const key = Buffer.from(enc).toString('base64url');
    const until = this.seen.get(key);
    if (until !== undefined && until >= t)
      throw new MimiError('ohttp-replayed', 'this encapsulated request was seen before');
    // Kept for twice the window: a Date up to `seconds` ahead is still admitted `seconds` later.
    this.seen.set(key, t + 2 * this.seconds);
  }

  get size(): number {
    return this.seen.size;
  }
}

/**
 * The inner requests the gateway forwards (R9): the private lookup's endpoints and nothing else,
 * so the gateway cannot be used to reach the DP's other endpoints without an address.
 */
const allowed: readonly { method: string; path: RegExp }[] = [
  { method: 'GET', path: /^\/v1\/private\/epochs$/ },
  { method: 'POST', path: /^\/v1\/private\/evaluate$/ },
  { method: 'POST', path: /^\/v1\/private\/buckets$/ },
  { method: 'GET', path: /^\/v1\/private\/buckets\/[0-9]{1,10}\/[0-9]{1,10}$/ },
];

export function isForwarded(method: string, path: string): boolean {
  return allowed.some((a) => a.method === method && a.path.test(path));
}

/**
 * The inner request's fields that reach the endpoint: its credential (an MSP session or a
 * Privacy Pass token), its body's type, and revalidation. Everything else is dropped, above all
 * anything naming an address (Forwarded, X-Forwarded-For, X-Real-IP): the endpoint sees the
 * relay's address only, so per-address limits are per relay.
 */
const passedRequestFields = new Set(['authorization', 'content-type', 'accept', 'if-none-match']);
/** The endpoint's answer fields that go back inside the encapsulated response. */
const passedResponseFields = new Set(['content-type', 'cache-control', 'etag', 'retry-after']);

export function innerRequestHeaders(fields: readonly FieldLine[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of fields) {
    if (!passedRequestFields.has(name)) continue;
    if (out[name] !== undefined) throw new MimiError('ohttp-malformed', `the inner request repeats ${name}`);
    out[name] = value;
  }
  return out;
}

export function innerResponseHeaders(headers: Record<string, unknown>): FieldLine[] {
  const out: FieldLine[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (passedResponseFields.has(name.toLowerCase()) && value !== undefined) {
      out.push([name.toLowerCase(), String(value)]);
    }
  }
  return out;
}

/** The date field of the inner request, if one. */
export function dateOf(fields: readonly FieldLine[]): string | undefined {
  return fields.find(([n]) => n === 'date')?.[1];
}
