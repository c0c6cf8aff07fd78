import { createRelay, loadRelayConfig } from '../server/relay.js';
import { emit } from './io.js';
import { logLevelArg, type ServiceArgs, serviceLogger } from './log-level.js';
import { exitWithParent, untilSignal } from './node.js';

/** Runs an Oblivious HTTP relay (RFC 9458) from its config file until SIGINT or SIGTERM. */
export async function relayAction(opts: ServiceArgs): Promise<void> {
  const json = opts.json === true;
  const level = logLevelArg(opts.logLevel);
  const relay = await createRelay(loadRelayConfig(opts.config), {
    logger: serviceLogger(level, json ? process.stderr : undefined),
  });
  let url: string;
  try {
    url = await relay.listen();
  } catch (err) {
    await relay.close();
    throw err;
  }
  if (opts.exitWithParent) exitWithParent();
  const targets = relay.registry
    .current()
    .allDps()
    .filter((d) => d.ohttp !== undefined)
    .map((d) => d.id);
  emit(json, { doc: { listening: url, relay: true, targets }, text: `relay listening on ${url}` });
  const signal = await untilSignal();
  relay.app.log.info({ signal }, 'shutting down');
  await relay.close();
}
