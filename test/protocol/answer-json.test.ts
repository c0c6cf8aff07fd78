import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/crypto/jcs.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { logReceipt } from '../../src/dp/log-pseudonym.js';
import {
  acceptAnswerJson,
  batchAcceptedJson,
  batchAnswerJson,
  batchRejectedJson,
  leavesAnswerJson,
  mappingAnswerJson,
  mappingProofAnswerJson,
} from '../../src/protocol/answer-json.js';
import { MimiError, toProblem } from '../../src/protocol/errors.js';
import { WireSchemas } from '../../src/protocol/wire-schemas.js';
import { mappingId } from '../../src/registry/verify-mapping.js';

const root = join(import.meta.dirname, '..', '..');
const vectors = JSON.parse(readFileSync(join(root, 'test', 'vectors', 'mimi-discovery-v1.json'), 'utf8'));
const mapping = vectors.mapping.record;
const json = canonicalize(mapping);
const id = mappingId(mapping);
const dpKey = generateKeyPair();
const receipt = logReceipt({
  dp: 'dp1',
  dpKey: dpKey.privateKey,
  mappingId: id,
  holderKey: mapping.body.holderKey,
  pseudonym: new Uint8Array(32).fill(7),
});

/** What a writer wrote, read back: valid JSON, valid per its schema. */
function valid(name: keyof typeof WireSchemas, text: string): unknown {
  const value = JSON.parse(text) as unknown;
  expect(
    [...Value.Errors(WireSchemas[name], value)].map((e) => e.path),
    name,
  ).toEqual([]);
  return value;
}

describe('answers written as JSON text are valid per their wire schemas', () => {
  it('AcceptAnswer, with and without a receipt, splices the stored mapping byte for byte', () => {
    for (const r of [undefined, receipt]) {
      for (const duplicate of [false, true]) {
        const text = acceptAnswerJson({ id, state: 'active', json, duplicate, receipt: r });
        const value = valid('AcceptAnswer', text) as { mapping: unknown; receipt?: unknown };
        expect(value.mapping).toEqual(mapping);
        expect(value.receipt).toEqual(r);
        expect(text).toContain(`"mapping":${json}`);
      }
    }
  });

  it('MappingAnswer', () => {
    const text = mappingAnswerJson({ id, state: 'contested', json });
    expect(valid('MappingAnswer', text)).toEqual({ id, state: 'contested', mapping });
  });

  it('SubmissionBatchAnswer: accepted, duplicate and rejected items, in order', () => {
    const items = [
      batchAcceptedJson(0, { id, state: 'active', json, duplicate: false, receipt }),
      batchAcceptedJson(1, { id, state: 'active', json, duplicate: true }),
      batchRejectedJson(2, toProblem(new MimiError('record-invalid', 'no'))),
    ];
    const value = valid(
      'SubmissionBatchAnswer',
      batchAnswerJson({ accepted: 1, duplicates: 1, rejected: 1 }, items),
    ) as {
      results: { index: number; status: string }[];
    };
    expect(value.results.map((r) => [r.index, r.status])).toEqual([
      [0, 'accepted'],
      [1, 'duplicate'],
      [2, 'rejected'],
    ]);
  });

  it('MappingProofAnswer and LeavesAnswer', () => {
    const proof = {
      leaf: 'AAAA',
      proof: [],
      checkpoint:
        'mimi-discovery/devnet/dp1\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— dp1 AAAA\n',
    };
    valid('MappingProofAnswer', mappingProofAnswerJson(JSON.stringify(proof)));
    expect(valid('LeavesAnswer', leavesAnswerJson(5, ['AAEC', 'AwQF']))).toEqual({
      v: 1,
      start: 5,
      leaves: ['AAEC', 'AwQF'],
    });
  });
});
