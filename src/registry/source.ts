import { readFile } from 'node:fs/promises';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { Registry } from './document.js';

export interface RegistrySourceOptions {
  /** A file path, or an http(s) URL. */
  location: string;
  /** The registry key, base64url: the one thing a node trusts a priori. */
  pinnedKey: string;
  refreshSeconds?: number;
  maxBytes?: number;
  now?: () => number;
  onRefreshError?: (err: unknown) => void;
}

/**
 * Loads the registry from a file or URL, checks it against the pinned key, and refreshes it.
 * A refresh that fails, or that offers an older serial, leaves the current registry in place.
 */
export class RegistrySource {
  private registry: Registry | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly opts: RegistrySourceOptions;

  constructor(opts: RegistrySourceOptions) {
    this.opts = opts;
  }

  /** Load once; throws if the first load fails (a node must not start without a registry). */
  async load(): Promise<Registry> {
    const raw = await this.fetchRaw();
    const now = (this.opts.now ?? nowSeconds)();
    const next = Registry.open(raw, this.opts.pinnedKey, { now, minSerial: this.registry?.serial });
    this.registry = next;
    return next;
  }

  current(): Registry {
    if (this.registry === undefined)
      throw new MimiError('registry-unavailable', 'the registry is not loaded yet');
    return this.registry;
  }

  /** Refresh on an interval; errors go to onRefreshError and the node keeps its registry. */
  start(): void {
    const seconds = this.opts.refreshSeconds ?? 300;
    this.timer = setInterval(() => {
      this.load().catch((err: unknown) => this.opts.onRefreshError?.(err));
    }, seconds * 1000);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private async fetchRaw(): Promise<unknown> {
    const maxBytes = this.opts.maxBytes ?? 4 * 1024 * 1024;
    let text: string;
    if (/^https?:\/\//.test(this.opts.location)) {
      let res: Response;
      try {
        res = await fetch(this.opts.location, { signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        throw new MimiError('registry-unavailable', `registry fetch failed: ${(err as Error).message}`);
      }
      if (!res.ok) throw new MimiError('registry-unavailable', `registry fetch answered HTTP ${res.status}`);
      text = await res.text();
    } else {
      try {
        text = await readFile(this.opts.location, 'utf8');
      } catch (err) {
        throw new MimiError('registry-unavailable', `cannot read registry file: ${(err as Error).message}`);
      }
    }
    if (Buffer.byteLength(text) > maxBytes)
      throw new MimiError('registry-unavailable', 'registry is too large');
    try {
      return JSON.parse(text);
    } catch {
      throw new MimiError('malformed-json', 'the registry is not JSON');
    }
  }
}
