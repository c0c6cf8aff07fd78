import { DefaultTag } from './records.js';

export interface Preferable {
  tag: string;
  priority: number;
  acceptedAt: number;
  id: string;
}

/** R7: "Default" first, then lower priority value, then the older mapping; never a random pick. */
export function byPreference(a: Preferable, b: Preferable): number {
  const ad = a.tag === DefaultTag ? 0 : 1;
  const bd = b.tag === DefaultTag ? 0 : 1;
  return ad - bd || a.priority - b.priority || a.acceptedAt - b.acceptedAt || (a.id < b.id ? -1 : 1);
}

/**
 * Which of two mappings is older (R17): accepted first, and for the same second the smaller id,
 * so that every DP orders any two holders the same way.
 */
export function olderFirst(
  a: Pick<Preferable, 'acceptedAt' | 'id'>,
  b: Pick<Preferable, 'acceptedAt' | 'id'>,
): number {
  return a.acceptedAt - b.acceptedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
