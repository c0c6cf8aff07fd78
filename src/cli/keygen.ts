import { resolve } from 'node:path';
import { generateKeyPair, keyPairToJwk } from '../crypto/keys.js';
import { writeJson } from './args.js';
import { emit } from './io.js';

/** A new Ed25519 key, as a private JWK file readable only by its owner. */
export function keygen(opts: { out?: string; force?: boolean; json?: boolean }): void {
  const pair = generateKeyPair();
  const jwk = keyPairToJwk(pair);
  if (opts.out === undefined) {
    // The private key itself is the output: meant for a redirect or a secret store.
    emit(opts.json === true, {
      doc: { publicKey: pair.publicKey, jwk },
      text: JSON.stringify(jwk, null, 2),
    });
    return;
  }
  writeJson(opts.out, jwk, { mode: 0o600, exclusive: opts.force !== true, what: '--out' });
  // Only the public key on stdout, so KEY=$(mimi-discovery keygen --out k.jwk) works.
  if (opts.json !== true)
    process.stderr.write(`wrote the private key to ${opts.out} (mode 0600); public key:\n`);
  emit(opts.json === true, {
    doc: { publicKey: pair.publicKey, file: resolve(opts.out) },
    text: pair.publicKey,
  });
}
