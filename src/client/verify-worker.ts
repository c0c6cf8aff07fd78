import { parentPort } from 'node:worker_threads';
import { MimiError, wireCodeOf } from '../protocol/errors.js';
import { Registry, type RegistryDocument } from '../registry/document.js';
import { type FromWorker, openAndVerify, type ToWorker } from './private-verify.js';

/**
 * A verify worker of PrivateLookupClient (src/client/private-verify.ts): opens and verifies the
 * entries it is sent with the same openAndVerify the calling thread would use.
 */
// The registry was opened and checked against the pinned key by the client on its own thread;
// the worker only needs its indexes, so it builds the same immutable object from the document.
const RegistryOf = Registry as unknown as new (doc: RegistryDocument) => Registry;
let registry: Registry | undefined;

parentPort!.on('message', (msg: ToWorker) => {
  if (msg.kind === 'registry') {
    registry = new RegistryOf(msg.doc);
    return;
  }
  let reply: FromWorker;
  try {
    if (registry === undefined || registry.serial !== msg.serial)
      throw new MimiError('internal', 'registry not loaded');
    const ctx = { dp: msg.dp, registry, policy: msg.policy, now: msg.now };
    reply = { id: msg.id, ok: true, results: msg.items.map((item) => openAndVerify(item, ctx)) };
  } catch (err) {
    reply =
      err instanceof MimiError
        ? { id: msg.id, ok: false, code: wireCodeOf(err), message: err.message }
        : { id: msg.id, ok: false, code: 'internal', message: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
