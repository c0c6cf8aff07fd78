// Runs one DP node from a config file in its own process, for tests that kill it.
import { buildApp, listen } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createContext } from '../../src/server/context.js';

const ctx = await createContext(loadConfig(process.argv[2]!));
const app = buildApp(ctx);
const url = await listen(app, ctx);
process.stdout.write(`listening ${url}\n`);
