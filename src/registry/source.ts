import { readFile } from 'node:fs/promises';
import { cryptoProvider } from '../crypto/provider.js';
import { nowSeconds, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { Registry } from './document.js';

/** The SDK's default refresh interval in seconds, which a node's config defaults to as well. */
export const defaultRefreshSeconds = 300;

/** The SDK's bound on a registry document, in bytes; a node's and the relay's registry.maxBytes default to it. */
export const defaultRegistryMaxBytes = 4 * 2 ** 20;

/**
 * Where a RegistrySource loads the registry from, and the key it must be signed by.
 *
 * @example
 * const source = new RegistrySource({ location: 'https://dp1.example/v1/registry', pinnedKey });
 */
export interface RegistrySourceOptions {
  /** A file path, or an http(s) URL. */
  location: string;
  /** The registry key, base64url: the one thing a node trusts a priori. */
  pinnedKey: string;
  /** How often start() reloads it (default {@link defaultRefreshSeconds}; a node: registry.refreshSeconds). */
  refreshSeconds?: number;
  /** Largest document taken, in bytes (default {@link defaultRegistryMaxBytes}; a node: registry.maxBytes). */
  maxBytes?: number;
  now?: () => number;
  onRefreshError?: (err: unknown) => void;
}

/**
 * The registry document exactly as loaded, for serving (GET /v1/registry), with its strong ETag.
 *
 * @example
 * const { bytes, etag } = source.currentBytes();
 */
export interface RegistryBytes {
  bytes: Buffer;
  /** `"<base64url SHA-256 of the bytes>"`. */
  etag: string;
}

/**
 * Loads the registry from a file or URL, checks it against the pinned key, and refreshes it.
 * A refresh that fails, or that offers an older serial, leaves the current registry in place.
 *
 * @example
 * const source = new RegistrySource({ location: 'registry.json', pinnedKey });
 * await source.load();
 * const lookups = new LookupClient({ dp, registry: source, credential });
 */
export class RegistrySource {
  private registry: Registry | undefined;
  private loaded: RegistryBytes | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly opts: RegistrySourceOptions;

  constructor(opts: RegistrySourceOptions) {
    this.opts = opts;
  }

  /** Load once; throws if the first load fails (a node must not start without a registry). */
  async load(): Promise<Registry> {
    const bytes = await this.fetchBytes();
    const now = (this.opts.now ?? nowSeconds)();
    const next = Registry.open(parse(bytes), this.opts.pinnedKey, {
      now,
      minSerial: this.registry?.serial,
      minVersion: this.registry?.doc.v,
    });
    // The bytes the registry key signed the content of, unchanged: whoever fetches them verifies.
    const etag = `"${toB64u(cryptoProvider().sha256(bytes))}"`;
    this.registry = next;
    this.loaded = { bytes, etag };
    return next;
  }

  current(): Registry {
    if (this.registry === undefined)
      throw new MimiError('registry-unavailable', 'the registry is not loaded yet');
    return this.registry;
  }

  /** The document of current(), byte for byte as it was loaded. */
  currentBytes(): RegistryBytes {
    if (this.loaded === undefined)
      throw new MimiError('registry-unavailable', 'the registry is not loaded yet');
    return this.loaded;
  }

  /** Refresh on an interval; errors go to onRefreshError and the node keeps its registry. */
  start(): void {
    const seconds = this.opts.refreshSeconds ?? defaultRefreshSeconds;
    this.timer = setInterval(() => {
      this.load().catch((err: unknown) => this.opts.onRefreshError?.(err));
    }, seconds * 1000);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private async fetchBytes(): Promise<Buffer> {
    const maxBytes = this.opts.maxBytes ?? defaultRegistryMaxBytes;
    let bytes: Buffer;
    if (/^https?:\/\//.test(this.opts.location)) {
      let res: Response;
      try {
        res = await fetch(this.opts.location, { signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        throw new MimiError('registry-unavailable', `registry fetch failed: ${(err as Error).message}`);
      }
      if (!res.ok) throw new MimiError('registry-unavailable', `registry fetch answered HTTP ${res.status}`);
      bytes = Buffer.from(await res.arrayBuffer());
    } else {
      try {
        bytes = await readFile(this.opts.location);
      } catch (err) {
        throw new MimiError('registry-unavailable', `cannot read registry file: ${(err as Error).message}`);
      }
    }
    if (bytes.length > maxBytes) throw new MimiError('registry-unavailable', 'registry is too large');
    return bytes;
  }
}

function parse(bytes: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch {
    throw new MimiError('malformed-json', 'the registry is not UTF-8 JSON');
  }
}
