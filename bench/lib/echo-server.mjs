// The echo baseline, in its own process (pinned to one core by bench/lib/server.ts): a bare
// fastify app with one POST route echoing its JSON body, the ceiling the node is measured
// against. Plain JavaScript, run without a TypeScript loader as the node under test is. Prints
// what `serve --json` prints ({"listening": url}) once listening; closes on SIGTERM.
import Fastify from 'fastify';

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.post('/echo', async (req) => req.body);
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address();
process.once('SIGTERM', () => {
  // Keep-alive sockets of the load generator are gone by now; do not wait on stragglers.
  const timer = setTimeout(() => process.exit(0), 2000);
  app.close().finally(() => {
    clearTimeout(timer);
    process.exit(0);
  });
});
process.stdout.write(`${JSON.stringify({ listening: `http://127.0.0.1:${port}` })}\n`);
