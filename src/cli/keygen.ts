import { resolve } from 'node:path';
import { generateKeyPair, keyPairToJwk } from '../crypto/keys.js';
import { dpKeyUsages } from '../registry/document.js';
import { writeJson } from './args.js';
import { CliError, CliErrorCode, emit } from './io.js';

/** A new Ed25519 key, as a private JWK file readable only by its owner. */
export function keygen(opts: { out?: string; force?: boolean; json?: boolean; dp?: boolean }): void {
  if (opts.dp === true) {
    dpKeygen(opts.out, opts);
    return;
  }
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

/**
 * A DP's keys, one per registry usage (docs/spec/registry.md §8.1.1), as `<out>.<usage>.jwk`; the
 * public keys go to stdout, one `<usage> <key>` a line, for `registry add-dp`.
 */
function dpKeygen(out: string | undefined, opts: { force?: boolean; json?: boolean }): void {
  if (out === undefined) throw new CliError(CliErrorCode.Usage, 'keygen --dp needs --out <prefix>');
  const keys = dpKeyUsages.map((usage) => {
    const pair = generateKeyPair();
    const file = `${out}.${usage}.jwk`;
    writeJson(file, keyPairToJwk(pair), { mode: 0o600, exclusive: opts.force !== true, what: '--out' });
    return { usage, publicKey: pair.publicKey, file: resolve(file) };
  });
  if (opts.json !== true) process.stderr.write(`wrote ${keys.map((k) => k.file).join(', ')} (mode 0600)\n`);
  emit(opts.json === true, {
    doc: { keys: Object.fromEntries(keys.map(({ usage, ...k }) => [usage, k])) },
    text: keys.map((k) => `${k.usage} ${k.publicKey}`).join('\n'),
  });
}
