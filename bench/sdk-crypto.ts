/**
 * The SDK's crypto per provider (src/crypto/provider.ts): what a holder's device and an MSP's
 * lookup spend in signatures, with the portable provider the SDK uses by default (`wasm`) and the
 * native one the server installs (`native`). One process, plain `name: value unit` lines, rates per
 * CPU second:
 *
 * - holder_sign_<provider>: HolderClient.signMapping per second (canonical JSON and one Ed25519
 *   signature by the holder key)
 * - verify_mapping_<provider>: verifyMapping of an accepted mapping per second (attestation,
 *   holder, MSP and DP signatures: what a verbose lookup checks for each mapping)
 * - open_checkpoint_<provider>: openCheckpoint of a DP's signed checkpoint per second (the log
 *   check of the same lookup)
 * - seal_entry_<provider>: sealAnswer of a one-mapping private entry per second (what the DP's
 *   private index does at every accept: strip, deflate with the preset dictionary, HKDF, AES-GCM)
 * - open_entry_<provider>: openAnswer of that entry per second (what a private lookup does for
 *   each CSI found, before verification)
 *
 * Run: npx tsx bench/sdk-crypto.ts [--seconds 2]
 */
import { join } from 'node:path';
import { readJwkFile } from '../src/cli/devnet-files.js';
import { HolderClient } from '../src/client/holder.js';
import { generateKeyPair } from '../src/crypto/keys.js';
import { openAnswer, sealAnswer } from '../src/crypto/private-entry.js';
import { useCryptoProvider } from '../src/crypto/provider.js';
import { nativeCrypto } from '../src/crypto/provider-native.js';
import { wasmCrypto } from '../src/crypto/provider-wasm.js';
import { parseCsi } from '../src/protocol/identifiers.js';
import type { Mapping } from '../src/protocol/records.js';
import { logOrigin } from '../src/protocol/transparency.js';
import { logVerifiers } from '../src/registry/log-keys.js';
import { verifyMapping } from '../src/registry/verify-mapping.js';
import { openCheckpoint, signCheckpoint } from '../src/tlog/checkpoint.js';
import { numberArg } from './lib/args.js';
import { acceptedRow, benchCsi, signedSubmission, tempDevnet } from './lib/fixtures.js';
import { time } from './lib/timing.js';

const SECONDS = numberArg('seconds', 2);

const out = (name: string, value: number, unit: string) =>
  process.stdout.write(`${name}: ${Math.round(value)} ${unit}\n`);

/**
 * Calls of `f` per CPU second of this process over SECONDS of CPU, after a short warm-up: on a
 * shared machine other processes stretch wall time, not the CPU time of the calls.
 */
const rate = (f: () => void): number =>
  time(() => void f(), { seconds: SECONDS, clock: 'cpu', warmupCalls: 200, chunk: 50 }).perCpuSecond;

const { dir, registry, signers, remove } = tempDevnet('sdk-crypto-');
try {
  const now = Math.floor(Date.now() / 1000);
  const mappingJson = acceptedRow(signers, signedSubmission(signers, 1, now), now).json;
  const mapping = JSON.parse(mappingJson) as Mapping;
  const rebuild = { csi: mapping.body.csi, dp: 'dp1' };
  const oprfOut = new Uint8Array(64).fill(9);
  const origin = logOrigin(registry.doc.federation, 'dp1');
  const logKey = readJwkFile(join(dir, 'keys', 'dp1.log.jwk'));
  const checkpoint = signCheckpoint(
    { origin, size: 1000, rootHash: new Uint8Array(32).fill(7) },
    { name: origin, privateKey: logKey.privateKey },
  );
  const verifiers = logVerifiers(registry, 'dp1');
  const holder = new HolderClient({
    dp: { baseUrl: 'http://unused.invalid' },
    key: generateKeyPair(),
    now: () => now,
  });
  const csi = parseCsi(benchCsi(2)).uri;
  const att = signedSubmission(signers, 2, now).attestation;
  for (const provider of [wasmCrypto, nativeCrypto]) {
    useCryptoProvider(provider);
    out(
      `holder_sign_${provider.name}`,
      rate(() => holder.signMapping({ csi, msp: 'msp1', ssi: 'mimi://chat.example/u/b', attestation: att })),
      '/s',
    );
    out(
      `verify_mapping_${provider.name}`,
      rate(() => verifyMapping(mapping, { registry, now })),
      '/s',
    );
    out(
      `open_checkpoint_${provider.name}`,
      rate(() => openCheckpoint(checkpoint, verifiers, { origin })),
      '/s',
    );
    out(
      `seal_entry_${provider.name}`,
      rate(() => sealAnswer(oprfOut, [mappingJson], rebuild)),
      '/s',
    );
    const entry = sealAnswer(oprfOut, [mappingJson], rebuild);
    out(
      `open_entry_${provider.name}`,
      rate(() => openAnswer(oprfOut, entry.tag, entry.payload, rebuild)),
      '/s',
    );
  }
} finally {
  remove();
}
