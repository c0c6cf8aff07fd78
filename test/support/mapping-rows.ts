import type { StoredMapping } from '../../src/store/store.js';

let seq = 0;

/**
 * A stored mapping row for the store's tests, each call a new one (its own id, body digest and
 * record), active, of CSI tel:+14155550100 unless `over` says otherwise.
 */
export function storedMapping(over: Partial<StoredMapping> = {}): StoredMapping {
  seq += 1;
  const n = String(seq).padStart(5, '0');
  return {
    id: `m${n}`,
    csi: 'tel:+14155550100',
    holderGroup: 'group-1',
    holderKey: 'key-1',
    msp: 'msp1',
    tag: 'Default',
    priority: 0,
    optOut: false,
    level: 'otp',
    state: 'active',
    acceptedAt: 1_000 + seq,
    expiresAt: 1_000_000,
    contestDeadline: null,
    bodyDigest: `digest-${n}`,
    json: `{"n":${seq}}`,
    ...over,
  };
}
