import { join } from 'node:path';
import { MimiError } from '../protocol/errors.js';
import { decodeRecord, Mapping } from '../protocol/records.js';
import { Registry } from '../registry/document.js';
import { isOptOut, mappingId, verifyMapping } from '../registry/verify-mapping.js';
import { publicKeyOrFileArg, readJson } from './args.js';
import { openDevnetLayout } from './devnet-layout.js';
import { CliError, CliErrorCode, type CommandResult, emit, isoTime, table } from './io.js';

export interface VerifySource {
  registryFile: string;
  registryKey: string;
}

/**
 * Offline verification (R3, R6): the one shared verifyMapping, against a registry checked with
 * its pinned key. A failure names the first check that failed, by its code.
 */
export function verifyFile(
  file: string,
  source: VerifySource,
  opts: { allowExpired?: boolean } = {},
): CommandResult {
  const now = Math.floor(Date.now() / 1000);
  const registry = Registry.open(readJson(source.registryFile, 'registry'), source.registryKey, { now });
  const raw = readJson(file, 'mapping');
  // Accept the bare mapping, or an answer that wraps it ({ id, state, mapping }).
  const value =
    typeof raw === 'object' && raw !== null && 'mapping' in raw && !('body' in raw)
      ? (raw as { mapping: unknown }).mapping
      : raw;
  try {
    const mapping = decodeRecord(Mapping, value, 'mapping');
    verifyMapping(mapping, { registry, policy: { allowExpired: opts.allowExpired === true }, now });
    const id = mappingId(mapping);
    const b = mapping.body;
    const a = mapping.attestation;
    const msp = b.msp === null ? undefined : registry.msp(b.msp);
    return {
      doc: { ok: true, id, file, mapping },
      text: [
        `ok  mapping ${id}`,
        table([
          ['csi', b.csi],
          [
            'reachable',
            isOptOut(b)
              ? "nowhere: this is the holder's signed opt-out"
              : `${b.ssi} on ${b.msp} (${msp?.operator})`,
          ],
          ['tag', `${b.tag} (priority ${b.priority})`],
          ['holder', `${b.holderKey} (holder signature ok)`],
          ['possession', `${a.method} attested by ${a.issuer} at ${isoTime(a.issuedAt)} (signature ok)`],
          ['msp', isOptOut(b) ? 'none (opt-out)' : `${b.msp} countersigned (signature ok)`],
          ['dp', `${mapping.dp} accepted it at ${isoTime(mapping.acceptedAt)} (signature ok)`],
          ['valid', `${isoTime(b.createdAt)} to ${isoTime(b.expiresAt)}`],
          ['registry', `${registry.doc.federation} serial ${registry.serial}`],
        ]),
      ].join('\n'),
    };
  } catch (err) {
    if (!(err instanceof MimiError)) throw err;
    return {
      doc: { ok: false, file, code: err.code, message: err.message },
      text: `FAILED [${err.code}]: ${err.message}`,
      exitCode: 1,
    };
  }
}

export function verifyAction(
  file: string,
  opts: {
    registry?: string;
    registryKey?: string;
    devnet?: string;
    allowExpired?: boolean;
    json?: boolean;
  },
): void {
  let source: VerifySource;
  if (opts.devnet !== undefined) {
    if (opts.registry !== undefined || opts.registryKey !== undefined) {
      throw new CliError(
        CliErrorCode.Usage,
        'give either --devnet or --registry with --registry-key, not both',
      );
    }
    // The layout only, not openDevnet: verify needs neither the node's config nor an MSP client.
    const net = openDevnetLayout(opts.devnet);
    source = { registryFile: join(net.dir, 'registry.json'), registryKey: net.registryKey };
  } else {
    if (opts.registry === undefined || opts.registryKey === undefined) {
      throw new CliError(
        CliErrorCode.Usage,
        'say which registry to trust: --registry <file> --registry-key <key>, or --devnet <dir>',
      );
    }
    source = {
      registryFile: opts.registry,
      registryKey: publicKeyOrFileArg(opts.registryKey, '--registry-key'),
    };
  }
  emit(opts.json === true, verifyFile(file, source, { allowExpired: opts.allowExpired }));
}
