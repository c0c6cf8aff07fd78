import { Registry } from '../registry/document.js';
import type { RegistrySource } from '../registry/source.js';

/**
 * Where the SDK reads the registry from: a {@link Registry} opened once (`Registry.open(doc,
 * pinnedKey)`), a {@link RegistrySource} that loads and refreshes it, or a function returning the
 * current one. Each use reads it afresh, so a refreshed registry takes effect at once.
 *
 * @example
 * const registry = Registry.open(JSON.parse(await readFile('registry.json', 'utf8')), pinnedKey);
 * const lookups = new LookupClient({ dp, registry, credential: { participant: 'msp1', key } });
 */
export type RegistryInput = Registry | Pick<RegistrySource, 'current'> | (() => Registry);

/** The registry input as a getter of the current registry. */
export function registryGetter(input: RegistryInput): () => Registry {
  if (input instanceof Registry) return () => input;
  if (typeof input === 'function') return input;
  if (typeof input?.current !== 'function') {
    throw new TypeError('registry: a Registry, a RegistrySource or a function returning a Registry');
  }
  return () => input.current();
}
