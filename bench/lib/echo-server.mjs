// The echo baseline, in its own process (pinned to one core by bench/lib/server.ts): a bare
// fastify app with one POST route echoing its JSON body, the ceiling the node is measured
// against. Plain JavaScript, run without a TypeScript loader as the node under test is. Prints
// what `serve --json` prints ({"listening": url}) once listening; closes on SIGTERM.
// With ECHO_ANSWER_BYTES=N it answers every request with one prebuilt JSON answer of N bytes
// instead (sent as a Buffer, as the node sends a verbose answer): what sending that many bytes
// costs fastify and the kernel alone, the ceiling of any answer of that size.
import Fastify from 'fastify';

const size = Number(process.env.ECHO_ANSWER_BYTES ?? 0);
const answer =
  size > 0 ? Buffer.from(JSON.stringify({ v: 1, pad: 'x'.repeat(Math.max(0, size - 16)) })) : undefined;
const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.post('/echo', async (req, reply) =>
  answer === undefined ? req.body : reply.type('application/json').send(answer),
);
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
