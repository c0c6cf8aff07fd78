/**
 * What the VOPRF proofs cost (RFC 9497 §2.2, §3.3.2), for one evaluation batch of 128 elements
 * (the client's default chunk): on the server, BlindEvaluate with its proof against the bare
 * scalar multiplications; on the client, Finalize with the proof check against the unblinding
 * alone, on both engines. Run with `npx tsx bench/voprf.ts` (about 10 s, one core).
 * Prints one `name: value unit` line per figure.
 */

import sodium from 'libsodium-wrappers-sumo';
import { blindBatch } from '../src/crypto/oprf-client.js';
import { createSodiumOprfClient, nobleOprfClient } from '../src/crypto/oprf-client-sodium.js';
import { generateProof, verifyProof } from '../src/crypto/oprf-proof.js';
import { createOprfServer, generateKeyPair, ready, sodiumProofGroup } from '../src/crypto/oprf-server.js';
import { time } from './lib/timing.js';

const BATCH = 128;
/** Mean ms per call of `fn`, over about 0.7 s after a short warm-up. */
const msPerCall = (fn: () => void): number =>
  time(() => void fn(), { seconds: 0.7, warmupSeconds: 0.1 }).msPerOp;

function line(name: string, ms: number): void {
  console.log(`${name}: ${ms.toFixed(3)} ms/batch, ${((ms * 1000) / BATCH).toFixed(1)} µs/element`);
}

await ready();
const { secretKey, publicKey } = generateKeyPair();
const server = await createOprfServer(secretKey, { maxBatchSize: BATCH });
const inputs = Array.from({ length: BATCH }, (_, i) => new TextEncoder().encode(`tel:+1415555${1000 + i}`));
const blinded = blindBatch(inputs);
const elements = blinded.map((b) => b.blindedElement);
const { evaluated, proof } = server.blindEvaluate(elements);
const enc = (bytes: Uint8Array) => ({ e: bytes, bytes });

console.log(`batch of ${BATCH} elements`);
const plain = msPerCall(() => {
  for (const e of elements) sodium.crypto_scalarmult_ristretto255(secretKey, e);
});
line('server evaluation without proof (skS * element)', plain);
const withProof = msPerCall(() => {
  server.blindEvaluate(elements);
});
line('server BlindEvaluate with proof', withProof);
const proofOnly = msPerCall(() => {
  generateProof(sodiumProofGroup, secretKey, publicKey, elements.map(enc), evaluated.map(enc));
});
line('server GenerateProof alone', proofOnly);
console.log(`server proof overhead: ${((withProof / plain - 1) * 100).toFixed(0)}%`);

const sodiumClient = await createSodiumOprfClient();
for (const [name, engine] of [
  ['libsodium', sodiumClient],
  ['noble', nobleOprfClient],
] as const) {
  const finalize = msPerCall(() => {
    engine.finalizeBatch(inputs, blinded, evaluated, proof, publicKey);
  });
  line(`client ${name} Finalize with VerifyProof`, finalize);
  if (name === 'libsodium') {
    const verify = msPerCall(() => {
      verifyProof(sodiumProofGroup, enc(publicKey), elements.map(enc), evaluated.map(enc), proof);
    });
    line(`client ${name} VerifyProof alone`, verify);
    console.log(`client ${name} proof share of Finalize: ${((verify / finalize) * 100).toFixed(0)}%`);
  }
}
