import { Resolver } from 'node:dns/promises';
import { MimiError } from '../protocol/errors.js';

/** What dns-01 needs of DNS: the TXT records at one name, each as its character-strings. */
export interface TxtResolver {
  /** An empty list when the name or its TXT records do not exist; `dns-unreachable` when no answer came. */
  resolveTxt(name: string): Promise<string[][]>;
}

export interface NodeTxtResolverOptions {
  /** Resolver addresses (`127.0.0.1`, `127.0.0.1:5353`, `[::1]:53`); default: the system's. */
  servers?: readonly string[];
  /** Per try; from the resolved config (`verifier.dns01.timeoutMs`). */
  timeoutMs: number;
  /** Tries per resolver (c-ares; default 2). */
  tries?: number;
}

// c-ares codes for "the name or the record is not there": an answer, not a failure.
const absent = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

/**
 * node:dns (c-ares) pointed at configured resolvers. A verifier should ask a validating resolver
 * of its own (Unbound), not whatever the host uses, so that a spoofed answer fails DNSSEC where the
 * zone is signed: c-ares itself does not validate.
 */
export function nodeTxtResolver(opts: NodeTxtResolverOptions): TxtResolver {
  const resolver = new Resolver({ timeout: opts.timeoutMs, tries: opts.tries ?? 2 });
  if (opts.servers !== undefined && opts.servers.length > 0) resolver.setServers([...opts.servers]);
  return {
    async resolveTxt(name: string): Promise<string[][]> {
      try {
        return await resolver.resolveTxt(name);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (absent.has(code)) return [];
        throw new MimiError(
          'dns-unreachable',
          `the resolver gave no answer for ${name} (${code || 'error'})`,
        );
      }
    },
  };
}
