import { setFlagsFromString } from 'node:v8';
import { emit } from './io.js';
import { logLevelArg, type ServiceArgs } from './log-level.js';
import { exitWithParent, startNode, untilSignal } from './node.js';

/** Runs a node from its config file until SIGINT or SIGTERM, then closes it cleanly. */
export async function serveAction(opts: ServiceArgs): Promise<void> {
  const json = opts.json === true;
  const node = await startNode(opts.config, {
    logLevel: logLevelArg(opts.logLevel),
    logStream: json ? process.stderr : undefined,
    onConfig: (config) => collectSooner(config.resolved.operations.heapGrowingPercent),
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

/**
 * Issue 16: V8 sizes its heap for the machine, not for the node; `operations.heapGrowingPercent`
 * (default 20) tells it how far to let the old space grow between collections, before the node
 * fills its caches. The flag cannot go in NODE_OPTIONS, which refuses it, so the node sets it for
 * itself, unless the operator gave node one (`node --heap-growing-percent=N <bin> serve`), which
 * wins; 0 leaves V8 to choose.
 */
function collectSooner(percent: number): void {
  if (percent === 0 || process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
