/**
 * RFC 9497 VOPRF micro-benchmarks. Run with `npx tsx bench/oprf.ts` (about 12 s).
 * Prints one `name: N ops/s` line per measurement.
 */

import sodium from 'libsodium-wrappers-sumo';
import { blind, finalize } from '../src/crypto/oprf-client.js';
import { createOprfServer, generateKeyPair, ready } from '../src/crypto/oprf-server.js';
import { time } from './lib/timing.js';

/** Runs `fn` (which performs `opsPerCall` operations) for about 1.5 s after a short warm-up. */
function measure(name: string, fn: () => void, opsPerCall = 1): void {
  const { perSecond } = time(
    () => {
      fn();
      return opsPerCall;
    },
    { seconds: 1.5, warmupSeconds: 0.2 },
  );
  console.log(`${name}: ${Math.round(perSecond)} ops/s`);
}

async function main(): Promise<void> {
  await ready();
  const { secretKey } = generateKeyPair();
  const server = await createOprfServer(secretKey);
  const input = new TextEncoder().encode('+14155550123');

  const element = sodium.crypto_core_ristretto255_random();
  measure('libsodium crypto_scalarmult_ristretto255', () => {
    sodium.crypto_scalarmult_ristretto255(secretKey, element);
  });

  const single = [blind(input).blindedElement];
  measure('server blindEvaluate (batch 1)', () => {
    server.blindEvaluate(single);
  });

  const batch = Array.from({ length: 100 }, (_, i) => blind(new Uint8Array([i])).blindedElement);
  measure('server blindEvaluate (batch 100, batches)', () => {
    server.blindEvaluate(batch);
  });
  measure(
    'server blindEvaluate (batch 100, elements)',
    () => {
      server.blindEvaluate(batch);
    },
    batch.length,
  );

  measure('server evaluate', () => {
    server.evaluate(input);
  });

  // VOPRF: Finalize verifies the batch's proof first, so it needs a real evaluation of its blind.
  const b = blind(input);
  const { evaluated, proof } = server.blindEvaluate([b.blindedElement]);
  measure('noble client finalize (with proof check)', () => {
    finalize(input, b, evaluated[0]!, proof, server.publicKey);
  });
}

await main();
