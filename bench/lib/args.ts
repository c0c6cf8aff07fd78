/** Command-line options the benches share. */

/** `--<name> N` from the command line, or `dflt` when absent; a value that is not a number is refused. */
export function numberArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const n = Number(process.argv[i + 1]);
  if (Number.isNaN(n)) throw new Error(`--${name} takes a number`);
  return n;
}

/**
 * The `--postgres-url` option for node:util parseArgs: the PostgreSQL the benches use, by default
 * the one the tests use ($MIMI_TEST_POSTGRES_URL) or the local test database.
 */
export const postgresUrlOption = {
  type: 'string',
  default: process.env.MIMI_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test',
} as const;
