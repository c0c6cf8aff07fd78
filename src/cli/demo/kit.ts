import type { ZoneRecord } from '../../dns/records.js';
import type { ZoneSet } from '../../dns/zone-set.js';
import { type ErrorCode, MimiError } from '../../protocol/errors.js';
import type { DevnetAccess } from '../devnet-access.js';
import { CliError, CliErrorCode } from '../io.js';
import type { RunningNode } from '../node.js';

/** What the demo's steps share: its people, its checks and its running devnet. */
export const bob = '+1 415 555 0101';
export const carol = '+1 415 555 0102';
export const eve = '+1 415 555 0103';
export const nobody = '+1 415 555 0199';
/** Bob's number as a CSI. */
export const bobCsi = 'tel:+14155550101';

export interface DemoStep {
  n: number;
  title: string;
  ok: boolean;
  evidence: string[];
  error?: string;
}

/** A step that did not behave as the requirements say: the demo stops there. */
export class StepFailed extends CliError {
  constructor(what: string) {
    super(CliErrorCode.DemoStepFailed, what);
  }
}

export function expect(cond: boolean, what: string): void {
  if (!cond) throw new StepFailed(what);
}

/** Runs `fn` and returns the error it must fail with; anything else fails the step. */
export async function rejected(code: ErrorCode, fn: () => unknown): Promise<MimiError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof MimiError && err.code === code) return err;
    const got = err instanceof MimiError ? `[${err.code}] ${err.message}` : String(err);
    throw new StepFailed(`expected a rejection with ${code}, got ${got}`);
  }
  throw new StepFailed(`expected a rejection with ${code}, but it was accepted`);
}

/** Runs one narrated step: its title, why (with its requirement), then `fn`'s evidence lines. */
export type StepRunner = (title: string, why: string, fn: () => Promise<string[]>) => Promise<void>;

/** What the steps share: the devnet dp1 runs, its relay, issuers and DNS, and what earlier steps made. */
export interface Demo {
  dir: string;
  net: DevnetAccess;
  node: RunningNode;
  /** dp1's and the relay's request logs, kept in memory: the full-privacy step shows what each saw. */
  dpLines: string[];
  relayLines: string[];
  /** The loopback address the relay connects to gateways from, where the system has one. */
  egress: string | undefined;
  relayUrl: string;
  /** The port of the node's own DNS responder for example.net (R29). */
  dnsPort: number;
  zone: { name: string; extra: ZoneRecord[] };
  dnsZones: ZoneSet;
  /** The three-DP devnet's nodes, started by the federation steps and closed with the rest. */
  fedNodes: RunningNode[];
  step: StepRunner;
  /** Bob's Default and business mappings on dp1, once published. */
  made: { defaultId: string; businessId: string };
}
