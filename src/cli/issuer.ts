import { generateKeyPairSync } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { issuerKeyFromPem } from '../crypto/token-key.js';
import { CliError, CliErrorCode, emit } from './io.js';
import { logLevelArg, serviceLogger } from './log-level.js';
import { untilSignal } from './node.js';

/** A new RSA-2048 issuer key (PKCS#8 PEM, mode 0600); prints its token key for the registry. */
export async function issuerKeygen(opts: { out: string; force?: boolean; json?: boolean }): Promise<void> {
  if (existsSync(opts.out) && opts.force !== true) {
    throw new CliError(CliErrorCode.InvalidArgument, `--out ${opts.out} exists`, 'use --force to replace it');
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(opts.out, pem, { mode: 0o600 });
  const key = issuerKeyFromPem(pem);
  const tokenKey = Buffer.from(key.tokenKey).toString('base64url');
  emit(opts.json === true, {
    doc: { file: resolve(opts.out), tokenKey, tokenKeyId: Buffer.from(key.tokenKeyId).toString('hex') },
    text: tokenKey,
  });
}

/** Runs an MSP's Privacy Pass issuer until SIGINT or SIGTERM. */
export async function issuerServe(opts: { config: string; logLevel: string; json?: boolean }): Promise<void> {
  const level = logLevelArg(opts.logLevel);
  // The service (fastify, SQLite) loads only here: `issuer keygen` needs node:crypto alone.
  const { startTokenIssuer } = await import('../server/token-issuer.js');
  const issuer = await startTokenIssuer(opts.config, {
    logger: serviceLogger(level, opts.json === true ? process.stderr : process.stdout),
  });
  emit(opts.json === true, {
    doc: { listening: issuer.url, msp: issuer.config.msp, issuerName: issuer.config.issuerName },
    text: `issuer ${issuer.config.issuerName} (${issuer.config.msp}) listening on ${issuer.url}`,
  });
  await untilSignal();
  await issuer.close();
}
