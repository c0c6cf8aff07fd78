import { writeFileSync } from 'node:fs';
import { masterFile } from '../dns/master-file.js';
import { DnsResponder } from '../dns/responder.js';
import type { ZoneSettings } from '../dns/zone.js';
import { ZoneSet } from '../dns/zone-set.js';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { type LoadedConfig, loadConfig } from '../server/config.js';
import { openStore } from '../server/context.js';
import { readOrCreateSecretFile } from '../server/secret-file.js';
import { CliError, CliErrorCode, emit } from './io.js';
import { untilSignal } from './node.js';

/** The zones of a node's config, with their label keys read. */
export function zoneSettingsOf(loaded: LoadedConfig): ZoneSettings[] {
  if (loaded.config.dns === undefined)
    throw new MimiError('config-invalid', 'dns: this config holds no DNS zones');
  return loaded.resolved.dns.zones.map((z, i) => ({
    name: z.name,
    nameServers: z.nameServers,
    hostmaster: z.hostmaster,
    ttl: z.ttl,
    negativeTtl: z.negativeTtl,
    labelKey:
      z.labelKeyFile === undefined
        ? undefined
        : readOrCreateSecretFile(loaded.path(z.labelKeyFile), `dns.zones[${i}].labelKeyFile`),
  }));
}

/** R29: `dns serve`: the node's own authoritative responder, until SIGINT or SIGTERM. */
export async function dnsServe(opts: {
  config: string;
  host?: string;
  port?: string;
  json?: boolean;
}): Promise<void> {
  const loaded = loadConfig(opts.config);
  const settings = zoneSettingsOf(loaded);
  const port = opts.port === undefined ? loaded.resolved.dns.listen.port : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(CliErrorCode.InvalidArgument, '--port is a port number');
  }
  const host = opts.host ?? loaded.resolved.dns.listen.host;
  const store = await openStore(loaded);
  const zones = new ZoneSet({
    store,
    zones: settings,
    now: nowSeconds,
    refreshMs: loaded.resolved.dns.refreshMs,
    onError: (err) => process.stderr.write(`dns: zone refresh failed: ${(err as Error).message}\n`),
  });
  await zones.start();
  const responder = new DnsResponder({
    zones,
    host,
    port,
    maxUdpPayload: loaded.resolved.dns.maxUdpPayload,
  });
  try {
    await responder.start();
  } catch (err) {
    await zones.close();
    await store.close();
    throw new CliError(
      CliErrorCode.AddressInUse,
      `cannot listen on ${host}:${port}: ${(err as Error).message}`,
    );
  }
  emit(opts.json === true, {
    doc: {
      listening: { host, port: responder.port },
      zones: zones.zones().map((z) => ({ name: z.name, serial: z.serial })),
    },
    text: `answering for ${zones
      .zones()
      .map((z) => z.name)
      .join(', ')} on ${host}:${responder.port} (UDP and TCP)`,
  });
  await untilSignal();
  await responder.close();
  await zones.close();
  await store.close();
}

/** R29: `dns export`: a zone as a master file. */
export async function dnsExport(opts: {
  config: string;
  zone: string;
  out?: string;
  serial?: string;
}): Promise<void> {
  const loaded = loadConfig(opts.config);
  const wanted = opts.zone.toLowerCase().replace(/\.$/, '');
  const settings = zoneSettingsOf(loaded).filter((z) => z.name.toLowerCase().replace(/\.$/, '') === wanted);
  if (settings.length === 0) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--zone ${opts.zone} is not among the config's dns.zones`,
    );
  }
  const serial = opts.serial === undefined ? undefined : Number(opts.serial);
  if (serial !== undefined && !(Number.isInteger(serial) && serial >= 0 && serial < 2 ** 32)) {
    throw new CliError(CliErrorCode.InvalidArgument, '--serial is an integer below 2^32');
  }
  const store = await openStore(loaded);
  try {
    const now = nowSeconds();
    const set = new ZoneSet({
      store,
      zones: settings,
      now: () => serial ?? now,
      refreshMs: loaded.resolved.dns.refreshMs,
    });
    await set.refresh();
    const zone = set.zones()[0]!;
    const text = masterFile(zone, `${zone.name}: native MIMI identifiers (R29), exported by mimi-discovery`);
    if (opts.out === undefined) process.stdout.write(text);
    else writeFileSync(opts.out, text);
  } finally {
    await store.close();
  }
}
