import { emit } from './io.js';
import { logLevelArg, type ServiceArgs } from './log-level.js';
import { exitWithParent, startNode, untilSignal } from './node.js';

/** Runs a node from its config file until SIGINT or SIGTERM, then closes it cleanly. */
export async function serveAction(opts: ServiceArgs): Promise<void> {
  const json = opts.json === true;
  const node = await startNode(opts.config, {
    logLevel: logLevelArg(opts.logLevel),
    logStream: json ? process.stderr : undefined,
  });
  if (opts.exitWithParent) exitWithParent();
  emit(json, {
    doc: {
      listening: node.url,
      operations: node.operationsUrl ?? null,
      dp: node.ctx.dp.id,
      verifier: node.ctx.verifier?.id ?? null,
    },
    text: '',
  });
  const signal = await untilSignal();
  // Graceful: readiness 503, no new connections, in-flight requests answered, then the store
  // closes (RunningNode.close). A second signal during the drain ends the process at once.
  node.app.log.info({ signal }, 'shutting down');
  await node.close();
  node.app.log.info('shut down');
}
