import type {
  CsipEvent,
  HolderRead,
  Invalidation,
  KeyRotation,
  Mapping,
  MappingSubmission,
  PseudonymRequest,
  Reaffirmation,
} from '../protocol/records.js';
import type { MappingState, StoredMapping } from '../store/store.js';
import { acceptForeign, acceptMapping } from './accept.js';
import { resolveContests } from './contests.js';
import { applyCsipEvent } from './csip-events.js';
import { type AcceptResult, type ApplyOptions, type DiscoveryProviderOptions, DpCore } from './dp-core.js';
import { checkPossession, invalidate, readForHolder, reaffirm, rotateKey } from './holder-requests.js';

export { canonicalMappingJson } from './accept.js';
export type { AcceptResult, ApplyOptions, DiscoveryProviderOptions, DpEvent, DpLog } from './dp-core.js';

/**
 * Discovery-provider logic, free of HTTP: accepting mappings after every check (R1-R6, R21),
 * precedence between holders (R17), holder invalidation, replacement and key rotation (R19),
 * opt-out (R14, R25), CSIP events (R16, R24). Every change of state happens inside one store
 * transaction. This class is the façade the server uses; each capability lives in its own file
 * (accept.ts, holder-requests.ts, csip-events.ts, contests.ts) over the pure decisions of
 * precedence.ts.
 */
export class DiscoveryProvider {
  readonly id: string;
  private readonly core: DpCore;

  constructor(opts: DiscoveryProviderOptions) {
    this.core = new DpCore(opts);
    this.id = opts.id;
  }

  get contestWindow(): number {
    return this.core.contestWindow;
  }

  /** R3: check a holder- and MSP-signed mapping (or a holder's opt-out), apply precedence, countersign. */
  accept(sub: MappingSubmission): Promise<AcceptResult> {
    return acceptMapping(this.core, sub);
  }

  /** R18, R17: a peer's copy of a new holder's mapping, placed by the same precedence rules. */
  acceptForeign(
    mapping: Mapping,
    origin: string,
  ): Promise<{ state: MappingState | 'ignored'; duplicate: boolean }> {
    return acceptForeign(this.core, mapping, origin);
  }

  /** R19, R25: the holder withdraws one mapping, or all of its mappings for the CSI. */
  invalidate(inv: Invalidation, opts: ApplyOptions = {}): Promise<{ invalidated: string[] }> {
    return invalidate(this.core, inv, opts);
  }

  /** R19: the holder moves to a new key, signed by both; the new key inherits the old one's precedence. */
  rotateKey(rot: KeyRotation, opts: ApplyOptions = {}): Promise<void> {
    return rotateKey(this.core, rot, opts);
  }

  /** R17: the incumbent proves possession again inside its window; the contest is lost. */
  reaffirm(r: Reaffirmation, opts: ApplyOptions = {}): Promise<{ lost: string[] }> {
    return reaffirm(this.core, r, opts);
  }

  /** R28: a holder reads one of its own mappings by id; anyone else gets undefined. */
  readForHolder(r: HolderRead): Promise<StoredMapping | undefined> {
    return readForHolder(this.core, r);
  }

  /** R28: whether a holder may be told its CSI's log pseudonym (throws with the refusal's code). */
  checkPossession(r: PseudonymRequest): Promise<void> {
    return checkPossession(this.core, r);
  }

  /** R16, R24: a number event signed by the CSIP of the CSI; applied once, then relayed. */
  applyCsipEvent(ev: CsipEvent, opts: ApplyOptions = {}): Promise<{ removed: string[]; duplicate: boolean }> {
    return applyCsipEvent(this.core, ev, opts);
  }

  /** R17: contests whose window passed without a new proof are won by the newer holder. */
  resolveContests(): Promise<number> {
    return resolveContests(this.core);
  }
}
