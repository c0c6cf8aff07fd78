import { CliError, CliErrorCode } from './io.js';

/** `--log-level` of the commands that run a service (serve, relay, issuer serve, devnet). */
export const LogLevel = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LogLevel)[number];

/** The options of a command that runs a service from its config file (serve, relay). */
export interface ServiceArgs {
  config: string;
  logLevel: string;
  json?: boolean;
  exitWithParent?: boolean;
}

export function logLevelArg(input: string): LogLevel {
  if (!(LogLevel as readonly string[]).includes(input)) {
    throw new CliError(CliErrorCode.InvalidArgument, `--log-level is one of ${LogLevel.join(', ')}`);
  }
  return input as LogLevel;
}

/**
 * A service's logger option from `--log-level` and where its lines go (stdout, or stderr under
 * --json, so that stdout holds only the JSON document): one way for the node, the relay and the
 * issuer.
 */
export function serviceLogger(
  level: LogLevel,
  stream: NodeJS.WritableStream | undefined,
): false | { level: LogLevel; stream: { write(line: string): void } } {
  if (level === 'silent') return false;
  return { level, stream: untilBroken(stream ?? process.stdout) };
}

/**
 * Writes to `out` until it fails, then drops what follows. A service whose reader is gone (a
 * devnet killed while its DPs write their logs into its pipes) has nowhere to write: pino's own
 * destination retries a failed write forever (sonic-boom's flushSync loops on EPIPE), which kept
 * such a node from finishing its shutdown, so it never exited.
 */
function untilBroken(out: NodeJS.WritableStream): { write(line: string): void } {
  let broken = false;
  out.on('error', () => {
    broken = true;
  });
  return {
    write(line) {
      if (!broken) out.write(line);
    },
  };
}
