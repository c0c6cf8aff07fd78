import { csiArg, idArg, intArg, mappingIdArg } from './args.js';
import { openDevnet } from './devnet-access.js';
import {
  exportSubmissions,
  invalidate,
  optOut,
  type Published,
  prove,
  proveText,
  publish,
  publishedText,
  rotate,
  shown,
} from './devnet-holder.js';
import { CliError, CliErrorCode, emit, table } from './io.js';

/**
 * The `holder` commands: each parses its options, runs the holder's side against a devnet
 * (devnet-holder.ts) and prints what happened.
 */

interface Common {
  devnet: string;
  csi: string;
  key?: string;
  json?: boolean;
}

export async function holderProve(opts: Common & { code?: string; challenge?: string }): Promise<void> {
  const net = openDevnet(opts.devnet);
  const p = await prove(net, {
    csi: csiArg(opts.csi, '--csi'),
    code: opts.code,
    challenge: opts.challenge,
    keyFile: opts.key,
  });
  emit(opts.json === true, {
    doc: {
      attestation: p.attestation,
      challengeId: p.challengeId,
      keyFile: p.holder.keyFile,
      attestationFile: p.holder.attestationFile,
    },
    text: proveText(p),
  });
}

export async function holderPublish(
  opts: Common & { msp: string; user: string; tag: string; priority: string; supersedes?: string },
): Promise<void> {
  const net = openDevnet(opts.devnet);
  const p = await publish(net, {
    csi: csiArg(opts.csi, '--csi'),
    msp: idArg(opts.msp, '--msp'),
    user: opts.user,
    tag: opts.tag,
    priority: intArg(opts.priority, '--priority', 0, 65535),
    supersedes: opts.supersedes === undefined ? undefined : mappingIdArg(opts.supersedes, '--supersedes'),
    keyFile: opts.key,
  });
  emit(opts.json === true, { doc: publishedDoc(p), text: publishedText(p) });
}

export async function holderOptOut(opts: Common): Promise<void> {
  const net = openDevnet(opts.devnet);
  const p = await optOut(net, { csi: csiArg(opts.csi, '--csi'), keyFile: opts.key });
  emit(opts.json === true, { doc: publishedDoc(p), text: publishedText(p, 'published opt-out') });
}

export async function holderInvalidate(opts: Common & { id?: string; all?: boolean }): Promise<void> {
  if ((opts.id === undefined) === (opts.all !== true)) {
    throw new CliError(CliErrorCode.Usage, 'give exactly one of --id <id> or --all');
  }
  const net = openDevnet(opts.devnet);
  const ids = await invalidate(net, {
    csi: csiArg(opts.csi, '--csi'),
    id: opts.id === undefined ? null : mappingIdArg(opts.id, '--id'),
    keyFile: opts.key,
  });
  emit(opts.json === true, {
    doc: { invalidated: ids },
    text: [
      `invalidated ${ids.length} mapping${ids.length === 1 ? '' : 's'}:`,
      ...ids.map((i) => `  ${i}`),
    ].join('\n'),
  });
}

export function holderExport(opts: {
  devnet: string;
  msp: string;
  count: string;
  out: string;
  first: string;
  force?: boolean;
  json?: boolean;
}): void {
  const msp = idArg(opts.msp, '--msp');
  const count = intArg(opts.count, '--count', 1, 1_000_000);
  const net = openDevnet(opts.devnet);
  const r = exportSubmissions(net, { msp, count, first: opts.first, out: opts.out, force: opts.force });
  emit(opts.json === true, {
    doc: r,
    text: [
      `wrote ${r.count} signed submission${r.count === 1 ? '' : 's'} on ${msp} to ${shown(r.file)}`,
      `  numbers  ${r.first} to ${r.last} (possession tokens from ${net.layout.csip.id})`,
      `next: mimi-discovery import --devnet ${shown(net.dir)} --as ${msp} --file ${shown(r.file)}`,
    ].join('\n'),
  });
}

export async function holderRotate(opts: Common): Promise<void> {
  const net = openDevnet(opts.devnet);
  const r = await rotate(net, { csi: csiArg(opts.csi, '--csi'), keyFile: opts.key });
  emit(opts.json === true, {
    doc: r,
    text: [
      'rotated the holder key',
      table([
        ['old key', `${r.oldKey} (kept in ${shown(r.retiredFile)})`],
        ['new key', `${r.newKey} (in ${shown(r.keyFile)})`],
      ]),
      'Mappings signed with the old key stay until you replace or invalidate them; the next',
      'publish proves possession again for the new key.',
    ].join('\n'),
  });
}

function publishedDoc(p: Published) {
  return {
    id: p.id,
    state: p.state,
    duplicate: p.duplicate,
    file: p.file,
    mapping: p.mapping,
    proved: p.proved?.attestation ?? null,
  };
}
