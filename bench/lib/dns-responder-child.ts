import { DnsResponder } from '../../src/dns/responder.js';
import { configDefaults } from '../../src/server/config.js';
import { benchZone, fixedZones } from './dns-zone.js';

/** The responder under test, in a process of its own: `dns-responder-child.ts <identifiers> <port>`. */
const n = Number(process.argv[2] ?? 10_000);
const port = Number(process.argv[3] ?? 0);
const zone = await benchZone(n);
const responder = new DnsResponder({
  zones: fixedZones(zone),
  host: '127.0.0.1',
  port,
  maxUdpPayload: configDefaults.dns.maxUdpPayload,
});
process.stdout.write(`${JSON.stringify({ port: await responder.start() })}\n`);
process.on('SIGTERM', () => {
  responder.close().then(() => process.exit(0));
});
