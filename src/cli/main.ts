#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import {
  conformanceCommand,
  demoCommand,
  devnetCommand,
  dnsCommand,
  holderCommand,
  importCommand,
  issuerCommand,
  keygenCommand,
  logCommand,
  lookupCommand,
  registryCommand,
  relayCommand,
  serveCommand,
  verifyCommand,
} from './commands.js';
import { CliError, CliErrorCode, printError } from './io.js';

/**
 * The `mimi-discovery` command line: the definitions in commands.ts, each command's code in its
 * own file, thin over client/ and server/, loaded only when that command runs.
 */
export function buildProgram(): Command {
  const program = new Command('mimi-discovery')
    .description(
      'MIMI user discovery: verifiable mappings from phone numbers and email addresses to messaging providers',
    )
    .version('0.1.0')
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      '\nNew here? Run `mimi-discovery demo` for a narrated tour, or `mimi-discovery devnet` for a local federation.',
    );
  keygenCommand(program);
  registryCommand(program);
  serveCommand(program);
  relayCommand(program);
  issuerCommand(program);
  devnetCommand(program);
  holderCommand(program);
  importCommand(program);
  lookupCommand(program);
  dnsCommand(program);
  verifyCommand(program);
  logCommand(program);
  demoCommand(program);
  conformanceCommand(program);
  // Usage errors come back as exceptions and are printed like every other error.
  const quiet = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ outputError: () => undefined });
    cmd.commands.forEach(quiet);
  };
  quiet(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end the run through here too.
      if (err.exitCode === 0) return 0;
      // A command group without its subcommand: commander has printed the group's help already.
      if (err.code === 'commander.help') return 2;
      const message = err.message.replace(/^error: /, '');
      const hint = 'see mimi-discovery --help, or <command> --help';
      return printError(new CliError(CliErrorCode.Usage, message, hint), json);
    }
    return printError(err, json);
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // Only the CLI ends the process: a finished command must not wait on idle keep-alive sockets.
  main(process.argv).then((code) => process.exit(code));
}
