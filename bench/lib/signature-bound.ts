import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { verifyEd25519 } from '../../src/crypto/sign.js';
import { time } from './timing.js';

/**
 * Ed25519 verifications per CPU second of this process through the verifier's own primitive
 * (src/crypto/sign.ts, with whichever crypto provider is installed): the unit of the signature
 * bound on accepts (bench/single-node.ts, bench/accept-cpu.ts).
 */
export function ed25519VerifyRate(seconds = 1): number {
  const key = generateKeyPairSync('ed25519');
  const pub = (key.publicKey.export({ format: 'jwk' }) as { x: string }).x;
  const msg = randomBytes(400);
  const sig = sign(null, msg, key.privateKey);
  const verify = () => {
    if (!verifyEd25519(msg, sig, pub)) throw new Error('verify failed');
  };
  return time(verify, { seconds, clock: 'cpu', chunk: 200 }).perCpuSecond;
}
