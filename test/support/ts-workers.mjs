// Preload for processes that run the sources (vitest's forks, `npm run bench`, `npm run cli`):
// their worker threads start on .ts entries (the SDK's verify worker, src/client/private-verify.ts),
// and tsx registers itself on the main thread only. Every worker inherits this preload through
// execArgv and registers tsx for itself, so the SDK's code never resolves tsx (a dev dependency).
import { isMainThread } from 'node:worker_threads';

if (!isMainThread) {
  const { register } = await import('tsx/esm/api');
  register();
}
