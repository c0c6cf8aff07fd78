import type { TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { decodeKeyConfig, offersSuite } from '../crypto/ohttp.js';
import { fromB64u } from '../protocol/encoding.js';
import { canonicalDomain } from '../protocol/identifiers.js';
import { decodeRecord, PossessionMethod } from '../protocol/records.js';
import {
  CsipEntry,
  DpEntry,
  MspEntry,
  Registry,
  RegistryDocumentV2,
  signRegistry,
  ThroughputClass,
  type UnsignedRegistryV2,
  VerifierEntry,
} from '../registry/document.js';
import {
  idArg,
  intArg,
  listArg,
  publicKeyOrFileArg,
  readJson,
  readKeyFile,
  urlArg,
  writeJson,
} from './args.js';
import { CliError, CliErrorCode, emit, isoTime, table } from './io.js';

/**
 * R30: the registry document, made in steps: an unsigned draft, participants added one by one,
 * then signed with the registry key (signRegistry checks ids, bits and domains are unique).
 * About 400 lines: one `registry add-*` command per kind of participant, each short.
 */
const Draft = Type.Omit(RegistryDocumentV2, ['sig']);
const day = 86_400;

/** A version 2 draft (DP keys per usage); a version 1 draft is refused (`unknown-version`). */
function readDraft(file: string): UnsignedRegistryV2 {
  const raw = readJson(file, '--in');
  if (typeof raw === 'object' && raw !== null && 'sig' in raw) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `${file} is a signed registry; edit its draft and sign again`,
      'registry create makes a draft; registry sign --in <draft> writes the signed registry',
    );
  }
  return decodeRecord(Draft, raw, `draft ${file}`) as UnsignedRegistryV2;
}

function checked<S extends TSchema>(schema: S, entry: unknown, what: string): unknown {
  return decodeRecord(schema, entry, what);
}

interface KeyOpts {
  publicKey?: string;
  keyFile?: string;
}

function keyOf(opts: KeyOpts): string {
  if ((opts.publicKey === undefined) === (opts.keyFile === undefined)) {
    throw new CliError(
      CliErrorCode.Usage,
      'give the participant key as --public-key <key> or --key-file <jwk>, one of them',
    );
  }
  return opts.publicKey !== undefined
    ? publicKeyOrFileArg(opts.publicKey, '--public-key')
    : publicKeyOrFileArg(opts.keyFile!, '--key-file');
}

function ensureNewId(draft: UnsignedRegistryV2, id: string): void {
  const all = [...draft.dps, ...draft.msps, ...draft.verifiers, ...draft.csips];
  if (all.some((p) => p.id === id)) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--id ${id} is already in the registry (ids are unique across roles)`,
    );
  }
}

interface AddCommon extends KeyOpts {
  in: string;
  id: string;
  operator: string;
  json?: boolean;
}

function added(opts: AddCommon, draft: UnsignedRegistryV2, role: string, entry: unknown): void {
  writeJson(opts.in, draft);
  emit(opts.json === true, {
    doc: { file: opts.in, added: { role, entry } },
    text: `added ${role} ${opts.id} to ${opts.in}`,
  });
}

export function registryCreate(opts: {
  federation: string;
  out: string;
  federationDefault?: boolean;
  maxMappingDays: string;
  force?: boolean;
  json?: boolean;
}): void {
  const draft: UnsignedRegistryV2 = {
    v: 2,
    federation: idArg(opts.federation, '--federation'),
    serial: 1,
    issuedAt: 0,
    expiresAt: 0,
    policy: {
      federationDefault: opts.federationDefault === true,
      maxMappingLifetime: intArg(opts.maxMappingDays, '--max-mapping-days', 1, 3650) * day,
    },
    dps: [],
    msps: [],
    verifiers: [],
    csips: [],
  };
  writeJson(opts.out, draft, { exclusive: opts.force !== true, what: '--out' });
  emit(opts.json === true, {
    doc: { file: opts.out, draft },
    text: [
      `wrote draft registry for federation ${draft.federation} to ${opts.out}`,
      'next: registry add-dp, add-msp, add-verifier, add-csip --in this file; then registry sign',
    ].join('\n'),
  });
}

export function registryAddDp(
  opts: AddCommon & {
    endpoint: string;
    region: string;
    throughput: string;
    recordsKey: string;
    transportKey: string;
    logKey: string;
    ohttpGateway?: string;
    ohttpKeyConfig?: string[];
  },
): void {
  const draft = readDraft(opts.in);
  const id = idArg(opts.id, '--id');
  ensureNewId(draft, id);
  if (!Object.values(ThroughputClass).includes(opts.throughput as ThroughputClass)) {
    throw new CliError(CliErrorCode.InvalidArgument, '--throughput is one of low, standard, high');
  }
  const entry = checked(
    DpEntry,
    {
      id,
      endpoint: urlArg(opts.endpoint, '--endpoint'),
      keys: {
        records: [publicKeyOrFileArg(opts.recordsKey, '--records-key')],
        transport: [publicKeyOrFileArg(opts.transportKey, '--transport-key')],
        log: [publicKeyOrFileArg(opts.logKey, '--log-key')],
      },
      region: opts.region,
      operator: opts.operator,
      throughputClass: opts.throughput,
      ...ohttpOf(opts),
    },
    '--',
  ) as DpEntry;
  // A key serves one usage (registry.md §8.1.1): checked here, not first at signing.
  if (new Set(Object.values(entry.keys).flat()).size !== 3) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      'a DP needs three different keys: records, transport, log',
    );
  }
  draft.dps.push(entry);
  added(opts, draft, 'DP', entry);
}

/** The DP's Oblivious HTTP gateway (RFC 9458): both options or neither; key configs announced first. */
function ohttpOf(opts: { ohttpGateway?: string; ohttpKeyConfig?: string[] }): Partial<DpEntry> {
  const configs = opts.ohttpKeyConfig ?? [];
  if (opts.ohttpGateway === undefined && configs.length === 0) return {};
  if (opts.ohttpGateway === undefined || configs.length === 0) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      '--ohttp-gateway and --ohttp-key-config go together',
      'give the gateway URL and at least one key configuration (GET <gateway>/v1/ohttp/keys)',
    );
  }
  for (const c of configs) {
    let offers = false;
    try {
      offers = offersSuite(decodeKeyConfig(fromB64u(c, '--ohttp-key-config')));
    } catch {
      // not a key configuration: refused below
    }
    if (!offers) {
      throw new CliError(
        CliErrorCode.InvalidArgument,
        '--ohttp-key-config is an RFC 9458 key configuration, base64url, offering X25519, HKDF-SHA256, AES-128-GCM',
      );
    }
  }
  return { ohttp: { v: 1, gateway: urlArg(opts.ohttpGateway, '--ohttp-gateway'), keyConfigs: configs } };
}

export function registryAddMsp(
  opts: AddCommon & {
    domain: string;
    bit?: string;
    webhook?: string;
    lookupPerMinute?: string;
    lookupPerDay?: string;
    issuerName?: string;
    tokenKey?: string;
    tokenKeyDays?: string;
  },
): void {
  const draft = readDraft(opts.in);
  const id = idArg(opts.id, '--id');
  ensureNewId(draft, id);
  const domain = canonicalDomain(opts.domain);
  if (domain === null || domain !== opts.domain) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--domain "${opts.domain}" is not a lower-case domain name${domain === null ? '' : ` (did you mean ${domain}?)`}`,
    );
  }
  if (draft.msps.some((m) => m.domain === domain)) {
    throw new CliError(CliErrorCode.InvalidArgument, `--domain ${domain} belongs to another MSP already`);
  }
  const used = new Set(draft.msps.map((m) => m.bit));
  let bit = 0;
  if (opts.bit === undefined) while (used.has(bit)) bit++;
  else bit = intArg(opts.bit, '--bit', 0, 65535);
  if (used.has(bit)) throw new CliError(CliErrorCode.InvalidArgument, `--bit ${bit} is taken by another MSP`);
  const entry = checked(
    MspEntry,
    {
      id,
      domain,
      keys: [keyOf(opts)],
      bit,
      operator: opts.operator,
      ...(opts.webhook === undefined ? {} : { webhook: urlArg(opts.webhook, '--webhook') }),
      ...lookupBudgetArg(opts.lookupPerMinute, opts.lookupPerDay),
      ...issuerArg(opts.issuerName, opts.tokenKey, opts.tokenKeyDays),
    },
    '--',
  ) as MspEntry;
  draft.msps.push(entry);
  added(opts, draft, 'MSP', entry);
}

export function registryAddVerifier(opts: AddCommon & { methods: string; endpoint?: string }): void {
  const draft = readDraft(opts.in);
  const id = idArg(opts.id, '--id');
  ensureNewId(draft, id);
  const known = Object.values(PossessionMethod) as string[];
  const methods = listArg(opts.methods, '--methods');
  const bad = methods.find((m) => !known.includes(m));
  if (bad !== undefined) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--methods: unknown method ${bad} (known: ${known.join(', ')})`,
    );
  }
  const entry = checked(
    VerifierEntry,
    {
      id,
      keys: [keyOf(opts)],
      methods,
      operator: opts.operator,
      ...(opts.endpoint === undefined ? {} : { endpoint: urlArg(opts.endpoint, '--endpoint') }),
    },
    '--',
  ) as VerifierEntry;
  draft.verifiers.push(entry);
  added(opts, draft, 'verifier', entry);
}

export function registryAddCsip(opts: AddCommon & { scope: string }): void {
  const draft = readDraft(opts.in);
  const id = idArg(opts.id, '--id');
  ensureNewId(draft, id);
  const scope = listArg(opts.scope, '--scope');
  const bad = scope.find((s) => !/^(tel:\+[0-9]{1,15}|mailto:\*@[a-z0-9.-]+)$/.test(s));
  if (bad !== undefined) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--scope: "${bad}" is neither tel:+<digits> nor mailto:*@<domain>`,
    );
  }
  const entry = checked(
    CsipEntry,
    { id, keys: [keyOf(opts)], operator: opts.operator, scope },
    '--',
  ) as CsipEntry;
  draft.csips.push(entry);
  added(opts, draft, 'CSIP', entry);
}

export function registrySign(opts: {
  in: string;
  key: string;
  out: string;
  serial?: string;
  days: string;
  json?: boolean;
}): void {
  const draft = readDraft(opts.in);
  const key = readKeyFile(opts.key, '--key');
  const now = Math.floor(Date.now() / 1000);
  const unsigned: UnsignedRegistryV2 = {
    ...draft,
    serial:
      opts.serial === undefined ? draft.serial : intArg(opts.serial, '--serial', 1, Number.MAX_SAFE_INTEGER),
    issuedAt: now,
    expiresAt: now + intArg(opts.days, '--days', 1, 3650) * day,
  };
  const doc = signRegistry(unsigned, key.privateKey);
  writeJson(opts.out, doc);
  emit(opts.json === true, {
    doc: { file: opts.out, registryKey: key.publicKey, serial: doc.serial, expiresAt: doc.expiresAt },
    text: [
      `signed registry ${doc.federation} serial ${doc.serial}, valid until ${isoTime(doc.expiresAt)}: ${opts.out}`,
      `registry key (pin it in every node and client): ${key.publicKey}`,
    ].join('\n'),
  });
}

export function registryShow(file: string, opts: { registryKey: string; json?: boolean }): void {
  const pinned = publicKeyOrFileArg(opts.registryKey, '--registry-key');
  const reg = Registry.open(readJson(file, 'registry'), pinned, { now: Math.floor(Date.now() / 1000) });
  emit(opts.json === true, { doc: { ok: true, registry: reg.doc }, text: showText(reg) });
}

/** R22: an MSP's lookup tier, both numbers or none (the DPs' strict default). */
function lookupBudgetArg(perMinute: string | undefined, perDay: string | undefined): Partial<MspEntry> {
  if (perMinute === undefined && perDay === undefined) return {};
  if (perMinute === undefined || perDay === undefined) {
    throw new CliError(CliErrorCode.Usage, 'give --lookup-per-minute and --lookup-per-day together');
  }
  return {
    lookupBudget: {
      perMinute: intArg(perMinute, '--lookup-per-minute', 1, 100_000_000),
      perDay: intArg(perDay, '--lookup-per-day', 1, 100_000_000_000),
    },
  };
}

/** R9, R26: the MSP's Privacy Pass issuer, name and token key together or neither. */
function issuerArg(
  name: string | undefined,
  key: string | undefined,
  days: string | undefined,
): Partial<MspEntry> {
  if (name === undefined && key === undefined) return {};
  if (name === undefined || key === undefined) {
    throw new CliError(CliErrorCode.Usage, 'give --issuer-name and --token-key together');
  }
  if (!/^[A-Za-z0-9_-]{456}$/.test(key)) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      '--token-key is 342 bytes of base64url (from: issuer keygen)',
    );
  }
  const notAfter = Math.floor(Date.now() / 1000) + 86_400 * intArg(days ?? '90', '--token-key-days', 1, 3650);
  return { issuer: { name, tokenKeys: [{ key, notAfter }] } };
}

function showText(reg: Registry): string {
  const d = reg.doc;
  const lines = [
    `registry ${d.federation} serial ${d.serial}: signature ok, valid ${isoTime(d.issuedAt)} to ${isoTime(d.expiresAt)}`,
    table([
      [
        'policy',
        `federation by default ${d.policy.federationDefault ? 'on' : 'off'}, mappings live at most ${d.policy.maxMappingLifetime / day} days`,
      ],
    ]),
  ];
  const section = (title: string, rows: string[]) => {
    lines.push(`${title} (${rows.length})`);
    for (const r of rows) lines.push(`  ${r}`);
  };
  section(
    'DPs',
    d.dps.map((p) => `${p.id}  ${p.endpoint}  region ${p.region}  ${p.throughputClass}  ${p.operator}`),
  );
  section(
    'MSPs',
    d.msps.map(
      (p) =>
        `${p.id}  ${p.domain}  bit ${p.bit}  ${p.operator}${p.lookupBudget === undefined ? '' : `  lookups ${p.lookupBudget.perMinute}/min ${p.lookupBudget.perDay}/day`}${p.issuer === undefined ? '' : `  issuer ${p.issuer.name} (${p.issuer.tokenKeys.length} token key${p.issuer.tokenKeys.length > 1 ? 's' : ''})`}`,
    ),
  );
  section(
    'verifiers',
    d.verifiers.map((p) => `${p.id}  ${p.methods.join(',')}  ${p.operator}`),
  );
  section(
    'CSIPs',
    d.csips.map((p) => `${p.id}  ${p.scope.join(',')}  ${p.operator}`),
  );
  return lines.join('\n');
}
