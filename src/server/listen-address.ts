import { isIP } from 'node:net';
import { MimiError } from '../protocol/errors.js';

/** Loopback addresses: the only ones a node or the relay binds to without TLS unless told (R23). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

/**
 * R23: without TLS, only loopback, unless the config explicitly allows plain HTTP (behind a
 * TLS-terminating proxy). Shared by the node (src/server/app.ts) and the relay, which has no TLS
 * of its own.
 */
export function checkListenAddress(listen: {
  host: string;
  allowInsecureHttp?: boolean;
  tls?: unknown;
  /** Whether listen.tls is a setting here (the node's config has it, the relay's not). */
  tlsSetting: boolean;
}): void {
  if (listen.tls !== undefined || isLoopback(listen.host) || listen.allowInsecureHttp) return;
  throw new MimiError(
    'insecure-transport',
    `listen.host ${listen.host} is not loopback: ${listen.tlsSetting ? 'configure listen.tls, or ' : ''}set listen.allowInsecureHttp behind a TLS proxy`,
  );
}
