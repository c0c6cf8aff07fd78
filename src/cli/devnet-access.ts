import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MspAgent } from '../client/msp-agent.js';
import { MimiError } from '../protocol/errors.js';
import { Registry } from '../registry/document.js';
import { loadConfig } from '../server/config.js';
import { readJson, readKeyFile, readText } from './args.js';
import { type DevnetLayout, openDevnetLayout } from './devnet-layout.js';

/**
 * A devnet folder as the client-side commands see it: where the node is, the registry and its
 * pinned key, the MSP keys (the devnet plays every MSP), the outbox, and the holders' own files.
 * Paths are resolved against the folder, wherever the command runs from.
 */
export interface DevnetAccess {
  dir: string;
  layout: DevnetLayout;
  endpoint: string;
  registryKey: string;
  registry(): Registry;
  outboxFile: string;
  /**
   * The MSP `id`, with its key from the folder, talking to its own DP (or to `dp`); it vouches
   * for every user (the devnet plays every MSP).
   */
  msp(id: string, dp?: string): MspAgent;
  holderKeyFile(csi: string): string;
  mappingFile(id: string): string;
}

export function openDevnet(dirInput: string): DevnetAccess {
  const layout = openDevnetLayout(dirInput);
  const dir = layout.dir;
  const config = loadConfig(join(dir, 'dp1.config.json'));
  const outbox = config.config.verifier?.devOutboxFile;
  let registry: Registry | undefined;
  const access: DevnetAccess = {
    dir,
    layout,
    endpoint: layout.endpoint,
    registryKey: layout.registryKey,
    outboxFile: outbox === undefined ? join(dir, 'outbox.jsonl') : config.path(outbox),
    registry() {
      registry ??= Registry.open(readJson(join(dir, 'registry.json'), 'registry'), layout.registryKey, {
        now: Math.floor(Date.now() / 1000),
      });
      return registry;
    },
    msp(id, at) {
      const entry = access.registry().msp(id);
      if (entry === undefined) {
        const known = access
          .registry()
          .allMsps()
          .map((m) => m.id)
          .join(', ');
        throw new MimiError('msp-not-registered', `MSP ${id} is not in the registry (known: ${known})`);
      }
      // Each MSP submits to and asks its own DP; with one DP that is dp1 for all.
      const home = at ?? layout.msps.find((m) => m.id === id)?.dp ?? 'dp1';
      const dp = layout.dps.find((d) => d.id === home) ?? layout.dps[0]!;
      return new MspAgent({
        id,
        key: readKeyFile(join(dir, 'keys', `${id}.jwk`), `key of ${id}`),
        dp: { baseUrl: dp.endpoint, id: dp.id },
        registry: () => access.registry(),
        isOwnUser: () => true,
      });
    },
    holderKeyFile: (csi) => join(dir, 'holders', `${fileNameOf(csi)}.jwk`),
    mappingFile: (id) => join(dir, 'mappings', `${id}.json`),
  };
  return access;
}

/** `tel:+14155550101` -> `tel_+14155550101`; anything unusual is replaced and a short hash added. */
export function fileNameOf(csi: string): string {
  const plain = csi.replace(':', '_');
  const safe = plain.replace(/[^A-Za-z0-9@._+-]/g, '_');
  if (safe === plain) return safe;
  return `${safe}-${createHash('sha256').update(csi).digest('hex').slice(0, 8)}`;
}

/** The newest one-time code the devnet's outbox holds for `csi`. */
export function codeFromOutbox(outboxFile: string, csi: string): string | undefined {
  if (!existsSync(outboxFile)) return undefined;
  const lines = readText(outboxFile, 'outbox').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line.length === 0) continue;
    try {
      const entry = JSON.parse(line) as { to?: unknown; code?: unknown };
      if (entry.to === csi && typeof entry.code === 'string') return entry.code;
    } catch {
      // A torn last line while the node writes: skip it.
    }
  }
  return undefined;
}
