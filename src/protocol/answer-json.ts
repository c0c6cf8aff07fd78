import type { LogReceipt } from './answers.js';

/**
 * The answers that carry a stored mapping, written as JSON text with the mapping spliced in as
 * stored (its canonical JSON, RFC 8785) rather than parsed and written again: the accept and
 * lookup paths serve it byte for byte, and skip a parse and a stringify per mapping. Each writer
 * names the schema (src/protocol/answers.ts, transparency.ts) its output is checked against in
 * test/protocol/answer-json.test.ts; everything else is serialised by fastify from the route's
 * response schema (src/server/answers.ts).
 *
 * Ids are base64url digests and states are enum values, so they are written without escaping.
 */

/** A mapping as its canonical JSON, with what the DP says of it. */
export interface StoredMappingJson {
  id: string;
  state: string;
  /** The mapping's canonical JSON as stored. */
  json: string;
}

const receiptPart = (receipt: LogReceipt | undefined): string =>
  receipt === undefined ? '' : `,"receipt":${JSON.stringify(receipt)}`;

/** AcceptAnswer: POST /v1/mappings, POST /v1/holder/opt-out. */
export function acceptAnswerJson(
  m: StoredMappingJson & { duplicate: boolean; receipt?: LogReceipt | undefined },
): string {
  return `{"id":"${m.id}","state":"${m.state}","mapping":${m.json},"duplicate":${m.duplicate}${receiptPart(m.receipt)}}`;
}

/** MappingAnswer: GET /v1/mappings/:id, POST /v1/holder/mapping. */
export function mappingAnswerJson(m: StoredMappingJson): string {
  return `{"id":"${m.id}","state":"${m.state}","mapping":${m.json}}`;
}

/** One accepted or duplicate item of a SubmissionBatchAnswer. */
export function batchAcceptedJson(
  index: number,
  m: StoredMappingJson & { duplicate: boolean; receipt?: LogReceipt | undefined },
): string {
  const status = m.duplicate ? 'duplicate' : 'accepted';
  return `{"index":${index},"status":"${status}","id":"${m.id}","state":"${m.state}","mapping":${m.json}${receiptPart(m.receipt)}}`;
}

/** One rejected item of a SubmissionBatchAnswer, with its RFC 9457 problem. */
export function batchRejectedJson(index: number, problem: object): string {
  return `{"index":${index},"status":"rejected","problem":${JSON.stringify(problem)}}`;
}

/** SubmissionBatchAnswer, from its items as written by the two functions above. */
export function batchAnswerJson(
  counts: { accepted: number; duplicates: number; rejected: number },
  items: readonly string[],
): string {
  return `{"v":1,"accepted":${counts.accepted},"duplicates":${counts.duplicates},"rejected":${counts.rejected},"results":[${items.join(',')}]}`;
}

/** MappingProofAnswer: POST /v1/federation/log/proof, the proof as the log keeps it (JSON). */
export function mappingProofAnswerJson(logJson: string): string {
  return `{"v":1,"log":${logJson}}`;
}

/** LeavesAnswer: GET /v1/log/leaves, leaves already base64url. */
export function leavesAnswerJson(start: number, leaves: readonly string[]): string {
  return `{"v":1,"start":${start},"leaves":[${leaves.map((l) => `"${l}"`).join(',')}]}`;
}
