import type { Command } from 'commander';

/**
 * Every command's definition: its name, arguments, options and help. Each action loads its
 * implementation when it runs, so that start-up and --help load commander and this file only,
 * and a command loads no other command's dependencies (server, stores). About 400 lines:
 * the whole command tree is declared here, one block per command, so that --help needs no other file.
 */

export const defaultDevnetPort = 7300;

/**
 * An action that imports its module and calls `name` with commander's arguments. Every command
 * hashes, signs or verifies through libsodium's native binding, as the server does (same results,
 * src/crypto/provider.ts), installed before the command's module is imported, so that no command
 * loads the SDK's default, libsodium's WebAssembly build, which costs more to load than a verify
 * takes.
 */
function lazy<M>(load: () => Promise<M>, name: keyof M & string): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    const [{ useCryptoProvider }, { nativeCrypto }] = await Promise.all([
      import('../crypto/provider-current.js'),
      import('../crypto/provider-native.js'),
    ]);
    useCryptoProvider(nativeCrypto);
    const action = (await load())[name] as (...a: unknown[]) => void | Promise<void>;
    await action(...args);
  };
}

/** A new Ed25519 key, as a private JWK file readable only by its owner. */
export function keygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('make a new Ed25519 key (registry, DP, MSP, verifier or holder) as a private JWK file')
    .option('--out <file>', 'where to write the key (mode 0600); without it the JWK goes to stdout')
    .option(
      '--dp',
      "a DP's three keys, one per usage: <out>.records.jwk, <out>.transport.jwk, <out>.log.jwk (needs --out)",
    )
    .option('--force', 'replace the file if it exists')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./keygen.js'), 'keygen'));
}

function registryAdd(parent: Command, name: string, description: string, oneKey = true): Command {
  const cmd = parent
    .command(name)
    .description(description)
    .requiredOption('--in <file>', 'the draft to change (made by: registry create)')
    .requiredOption('--id <id>', 'participant id, unique in the registry (e.g. dp1)')
    .requiredOption('--operator <name>', 'who runs it');
  if (oneKey) {
    cmd
      .option('--public-key <key>', 'its Ed25519 public key (base64url)')
      .option('--key-file <file>', 'or the JWK file holding its key (from: keygen)');
  }
  return cmd.option('--json', 'print one JSON document');
}

export function registryCommand(program: Command): void {
  const registry = program
    .command('registry')
    .description('make, sign and inspect the signed registry (R30)');

  registry
    .command('create')
    .description('start an unsigned registry draft with default policy')
    .requiredOption('--federation <name>', 'federation name, e.g. devnet')
    .requiredOption('--out <file>', 'where to write the draft')
    .option('--federation-default', 'lookups federate by default (R11)')
    .option('--max-mapping-days <n>', 'longest lifetime of a mapping, in days', '365')
    .option('--force', 'replace the file if it exists')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./registry.js'), 'registryCreate'));

  // A DP has one key per usage (docs/spec/registry.md §8.1.1): keygen --dp makes the three.
  registryAdd(registry, 'add-dp', 'add a discovery provider', false)
    .requiredOption(
      '--records-key <key>',
      'the key that signs its mappings and receipts: public key or JWK file',
    )
    .requiredOption('--transport-key <key>', 'the key that signs its peer requests, notices, sessions')
    .requiredOption('--log-key <key>', 'the key that signs its checkpoints and cosignatures')
    .requiredOption('--endpoint <url>', 'its base URL, e.g. https://dp1.example.net')
    .requiredOption('--region <region>', 'where it stores data, e.g. eu (R27)')
    .option('--throughput <class>', 'low, standard or high (R13)', 'standard')
    .option(
      '--ohttp-gateway <url>',
      'its Oblivious HTTP gateway (RFC 9458), e.g. https://dp1.example.net/v1/ohttp',
    )
    .option(
      '--ohttp-key-config <b64url>',
      'a live gateway key configuration (RFC 9458 §3.1, base64url); repeat for the overlap, announced first',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(lazy(() => import('./registry.js'), 'registryAddDp'));

  registryAdd(registry, 'add-msp', 'add a messaging service provider')
    .requiredOption('--domain <domain>', 'its domain: SSIs are mimi://<domain>/u/<user>')
    .option('--bit <n>', 'its position in compact answers (R15); default: the next free one')
    .option('--webhook <url>', 'where the DP tells it about contests')
    .option('--lookup-per-minute <n>', "CSIs it may look up per minute at each DP (R22; default: the DP's)")
    .option('--lookup-per-day <n>', 'and per day; give both or neither')
    .option('--issuer-name <name>', 'its Privacy Pass issuer name (RFC 9577), with --token-key')
    .option('--token-key <key>', 'its issuer token key, base64url (from: issuer keygen)')
    .option('--token-key-days <n>', 'days the token key is valid (its notAfter)', '90')
    .action(lazy(() => import('./registry.js'), 'registryAddMsp'));

  registryAdd(
    registry,
    'add-verifier',
    'add a verifier (a mapping authority that attests possession, R1, R5)',
  )
    .option('--methods <list>', 'what it attests, comma-separated', 'sms-otp,email-otp')
    .option('--endpoint <url>', 'where holders reach it')
    .action(lazy(() => import('./registry.js'), 'registryAddVerifier'));

  registryAdd(registry, 'add-csip', 'add a CSI provider (operator or email provider, R16, R24)')
    .requiredOption('--scope <list>', 'what it issues, comma-separated: tel:+<prefix> or mailto:*@<domain>')
    .action(lazy(() => import('./registry.js'), 'registryAddCsip'));

  registry
    .command('sign')
    .description('sign a draft with the registry key; participants use the printed key as their pin')
    .requiredOption('--in <file>', 'the draft')
    .requiredOption('--key <file>', 'the registry key (JWK, from: keygen)')
    .requiredOption('--out <file>', 'where to write the signed registry, e.g. registry.json')
    .option('--serial <n>', "serial number; must grow with every new version (default: the draft's)")
    .option('--days <n>', 'validity in days', '365')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./registry.js'), 'registrySign'));

  registry
    .command('show')
    .description('open a signed registry, check it against the pinned key, and list who is in it')
    .argument('<file>', 'the signed registry')
    .requiredOption('--registry-key <key>', 'the pinned registry key, or a JWK file holding it')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./registry.js'), 'registryShow'));
}

/** Runs a node from its config file until SIGINT or SIGTERM, then closes it cleanly. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('run a DP node (with the verifier role if configured) from its config file')
    .requiredOption('--config <file>', 'the node config (JSON); relative paths in it are relative to it')
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--json', 'print one JSON document when listening; logs go to stderr')
    .option('--exit-with-parent', 'stop when the process that started this one is gone (devnet uses it)')
    .action(lazy(() => import('./serve.js'), 'serveAction'));
}

/** An Oblivious HTTP relay (RFC 9458) for the gateways of the registry's DPs. */
export function relayCommand(program: Command): void {
  program
    .command('relay')
    .description("run an Oblivious HTTP relay (RFC 9458) to the registry's DP gateways, and to nothing else")
    .requiredOption('--config <file>', 'the relay config (JSON); relative paths in it are relative to it')
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--json', 'print one JSON document when listening; logs go to stderr')
    .option('--exit-with-parent', 'stop when the process that started this one is gone (devnet uses it)')
    .action(lazy(() => import('./relay.js'), 'relayAction'));
}

/** An MSP's Privacy Pass issuer (RFC 9578): its key and its service. */
export function issuerCommand(program: Command): void {
  const issuer = program
    .command('issuer')
    .description("run an MSP's Privacy Pass issuer for its own users (RFC 9576-9578), or make its key");
  issuer
    .command('serve')
    .description('issue tokens to the users in the config, a bounded number per user per day')
    .requiredOption('--config <file>', 'the issuer config (JSON); relative paths in it are relative to it')
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--json', 'print one JSON document when listening; logs go to stderr')
    .action(lazy(() => import('./issuer.js'), 'issuerServe'));
  issuer
    .command('keygen')
    .description('make an RSA-2048 issuer key (PKCS#8 PEM, mode 0600); prints its token key')
    .requiredOption('--out <file>', 'where to write the key')
    .option('--force', 'replace the file if it exists')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./issuer.js'), 'issuerKeygen'));
}

export function devnetCommand(program: Command): void {
  program
    .command('devnet')
    .description('run a complete local federation: registry, N DPs as separate processes, a verifier, 3 MSPs')
    .option('--dir <dir>', 'the devnet folder; made on first use', '.devnet')
    .option(
      '--port <port>',
      `port of dp1 on 127.0.0.1; dp2 takes the next one, and so on (default ${defaultDevnetPort}; fixed when the folder is made)`,
    )
    .option(
      '--dps <n>',
      'how many DPs, each its own process and SQLite file (fixed when the folder is made)',
      '3',
    )
    .option('--reset', 'throw the folder away and start a fresh devnet')
    .option('--log-level <level>', 'pino log level of the nodes', 'info')
    .option('--json', 'print one JSON document when listening; logs go to stderr')
    .action(lazy(() => import('./devnet.js'), 'devnetAction'));
}

function holderCommon(cmd: Command): Command {
  return cmd
    .requiredOption('--devnet <dir>', 'the devnet folder (made by: mimi-discovery devnet)')
    .requiredOption('--csi <csi>', 'phone number (+1 415 555 0101) or email address')
    .option('--key <file>', 'holder key file (default: <devnet>/holders/<csi>.jwk)')
    .option('--json', 'print one JSON document');
}

export function holderCommand(program: Command): void {
  const holder = program
    .command('holder')
    .description('act as the holder of a phone number or email address, against a devnet');

  holderCommon(holder.command('prove'))
    .description('prove possession (R1): start a challenge, answer it with the code from the devnet outbox')
    .option('--code <code>', 'answer with this code instead of reading the outbox')
    .option('--challenge <id>', 'answer this earlier challenge (with --code) instead of starting one')
    .action(lazy(() => import('./holder.js'), 'holderProve'));

  holderCommon(holder.command('publish'))
    .description('publish a mapping (R2-R7): sign it, have the MSP confirm and submit it')
    .requiredOption('--msp <id>', 'the MSP, e.g. msp1')
    .requiredOption('--user <name>', 'the user name on that MSP, e.g. bob')
    .option('--tag <tag>', 'preference tag (R7)', 'Default')
    .option('--priority <n>', 'priority, lower is preferred', '0')
    .option('--supersedes <id>', 'replace this earlier mapping of yours (R19)')
    .action(lazy(() => import('./holder.js'), 'holderPublish'));

  holderCommon(holder.command('opt-out'))
    .description('publish a signed opt-out (R14, R25): lookups then answer opt-out')
    .action(lazy(() => import('./holder.js'), 'holderOptOut'));

  holderCommon(holder.command('invalidate'))
    .description('withdraw one of your mappings (--id) or all of them (--all) (R19, R25)')
    .option('--id <id>', 'the mapping to withdraw')
    .option('--all', 'withdraw every mapping you have for this identifier')
    .action(lazy(() => import('./holder.js'), 'holderInvalidate'));

  holder
    .command('export')
    .description('write N signed submissions for new holders as NDJSON, to try bulk onboarding (import)')
    .requiredOption('--devnet <dir>', 'the devnet folder (made by: mimi-discovery devnet)')
    .requiredOption('--msp <id>', 'the MSP that countersigns them, e.g. msp2')
    .requiredOption('--count <n>', 'how many submissions')
    .requiredOption('--out <file>', 'the NDJSON file to write')
    .option('--first <number>', 'the first phone number; the others follow it', '+1 415 200 0000')
    .option('--force', 'replace --out if it exists')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./holder.js'), 'holderExport'));

  holderCommon(holder.command('rotate'))
    .description('rotate the holder key (R19): the new key keeps your precedence, the old one stops working')
    .action(lazy(() => import('./holder.js'), 'holderRotate'));
}

export function importCommand(program: Command): void {
  program
    .command('import')
    .description('bulk onboarding: submit a file of signed mappings (NDJSON) in batches, resumably')
    .requiredOption('--file <file>', 'NDJSON: one submission per line, as POST /v1/mappings takes')
    .requiredOption('--as <msp>', 'the MSP that submits, e.g. msp2')
    .option('--devnet <dir>', 'the devnet folder: its DP, registry and MSP keys')
    .option('--dp <url>', "the DP's base URL (without --devnet)")
    .option('--dp-id <id>', "the DP's registry id (without --devnet)")
    .option('--key <file>', "the MSP's private key, JWK (without --devnet)")
    .option('--registry <file>', 'the signed registry (without --devnet)')
    .option('--registry-key <key>', 'the pinned registry key, or a JWK file holding it (without --devnet)')
    .option('--batch-size <n>', 'submissions per request', '100')
    .option('--restart', 'ignore an earlier progress file and start from the first line')
    .option('--json', 'print one JSON document (the summary)')
    .action(lazy(() => import('./import.js'), 'importAction'));
}

export function lookupCommand(program: Command): void {
  program
    .command('lookup')
    .description('look identifiers up as an MSP, on behalf of its user (R9); answers are verified')
    .argument('<csi...>', 'phone numbers, email addresses or native identifiers (mimi:user@domain)')
    .requiredOption('--devnet <dir>', 'the devnet folder (made by: mimi-discovery devnet)')
    .option('--as <msp>', 'the MSP that asks, e.g. msp3 (not needed when every CSI goes through DNS)')
    .option('--dns', 'R29: resolve mimi: identifiers through DNS and verify what comes back')
    .option(
      '--resolver <addrs>',
      "with --dns: resolvers, host[:port] comma-separated (default: the system's)",
    )
    .option(
      '--label-key <b64url>',
      'with --dns: the label secret the holder shared (hard-to-guess identifiers)',
    )
    .option('--require-dnssec', 'with --dns: refuse answers the resolver did not validate')
    .option('--compact', 'compact answer: which MSPs, as one bit per MSP (R15)')
    .option('--private', 'private lookup (R9): RFC 9497 OPRF, the DP learns neither the CSI nor the answer')
    .option(
      '--relay <url>',
      "with --private: through this Oblivious HTTP relay (RFC 9458), so the DP does not see the client's address",
    )
    .option(
      '--tokens <msp:user>',
      "with --private: pay with Privacy Pass tokens from that MSP's devnet issuer, as that user (R26), instead of --as",
    )
    .option('--msp-filter <ids>', 'only mappings on these MSPs, comma-separated (R10)')
    .option(
      '--federation <on|off>',
      "ask the other DPs too (R10); default: the federation's published default (R11)",
    )
    .option('--dp-list <list>', 'which DPs: preferred, all, or DP ids comma-separated (R10)')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./lookup.js'), 'lookupAction'));
}

/** R29: `dns serve` (the node's own authoritative responder) and `dns export` (a master file). */
export function dnsCommand(program: Command): void {
  const dns = program
    .command('dns')
    .description('DNS for native identifiers (R29): serve or export the zones a node holds');

  dns
    .command('serve')
    .description(
      'answer authoritatively, over UDP and TCP, for the zones in the config, from the accepted native mappings',
    )
    .requiredOption('--config <file>', 'the node config (JSON) with a "dns" section')
    .option('--host <host>', 'listen address (default: dns.listen.host, else 127.0.0.1)')
    .option('--port <port>', 'listen port, UDP and TCP (default: dns.listen.port, else 53)')
    .option('--json', 'print one JSON document when listening')
    .action(lazy(() => import('./dns.js'), 'dnsServe'));

  dns
    .command('export')
    .description('write a zone as a standard master file (RFC 1035) for BIND, NSD or Knot')
    .requiredOption('--config <file>', 'the node config (JSON) with a "dns" section')
    .requiredOption('--zone <name>', 'which of its zones')
    .option('--out <file>', 'write here instead of stdout')
    .option('--serial <n>', 'the SOA serial (default: the Unix time)')
    .action(lazy(() => import('./dns.js'), 'dnsExport'));
}

export function verifyCommand(program: Command): void {
  program
    .command('verify')
    .description('verify a mapping file offline: possession, holder, MSP and DP signatures (R3)')
    .argument('<file>', 'a mapping JSON file, e.g. from <devnet>/mappings/')
    .option('--registry <file>', 'the signed registry (with --registry-key)')
    .option('--registry-key <key>', 'the pinned registry key, or a JWK file holding it')
    .option('--devnet <dir>', 'take the registry and its key from a devnet folder')
    .option('--allow-expired', 'accept expired attestations and mappings (forensics only)')
    .option('--json', 'print one JSON document')
    .action(lazy(() => import('./verify.js'), 'verifyAction'));
}

export function logCommand(program: Command): void {
  const log = program
    .command('log')
    .description("audit a DP's transparency log, or watch your own entries in it");
  const common = (c: Command) =>
    c
      .option('--devnet <dir>', 'a devnet folder (its registry and DPs)')
      .option('--dp <id>', 'the DP whose log to follow', 'dp1')
      .option('--url <url>', "the DP's base URL (with --registry and --registry-key outside a devnet)")
      .option('--registry <file>', 'the signed registry')
      .option('--registry-key <key>', 'the pinned registry key, or a JWK file holding it')
      .option('--state <file>', 'where the last verified checkpoint is kept between runs')
      .option('--json', 'print one JSON document');

  common(log.command('audit'))
    .description('check the latest checkpoint against the last one seen (consistency proof); report any fork')
    .option('--recompute', 'also fetch every new leaf and recompute the tree root')
    .action(lazy(() => import('./log.js'), 'logAudit'));

  common(log.command('monitor'))
    .description("as a holder: find your identifier's entries by pseudonym; report any you did not make")
    .requiredOption('--csi <csi>', 'your phone number or email address')
    .option('--key <file>', 'your holder key (default: <devnet>/holders/<csi>.jwk)')
    .option(
      '--attestation <file>',
      'a current attestation for this identifier and key (default: beside the key; holder prove makes one)',
    )
    .option('--mappings <dir>', 'your mapping files (default: <devnet>/mappings)')
    .action(lazy(() => import('./log.js'), 'logMonitor'));
}

export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'a narrated tour: publish, look up, opt out, invalidate, rotate, contest, verify, rejections',
    )
    .option('--dir <dir>', 'a new folder for the devnet files (default: a temporary folder)')
    .option('--json', 'print one JSON document with every step and its evidence')
    .action(lazy(() => import('./demo.js'), 'demoAction'));
}

/** The conformance kit: every check a client can make, against any DP implementation. */
export function conformanceCommand(program: Command): void {
  program
    .command('conformance')
    .description('check a DP against the protocol, as an MSP and a holder would: PASS or FAIL per check')
    .requiredOption('--dp <url>', "the DP's base URL")
    .requiredOption('--registry <file>', 'the signed registry the DP runs on')
    .requiredOption('--registry-key <key>', 'the pinned registry key, or a JWK file holding it')
    .requiredOption(
      '--msp-key <file>',
      'the private key (JWK) of a registered MSP whose mappings the DP accepts',
    )
    .option('--otp-file <file>', "where the DP's verifier delivers one-time codes, one JSON object a line")
    .option('--verifier <url>', 'where holders prove possession, when the DP runs no verifier itself')
    .option('--dp-id <id>', "the DP's registry id (default: the registry DP at --dp, else its metadata's)")
    .action(lazy(() => import('./conformance.js'), 'conformanceAction'));
}
