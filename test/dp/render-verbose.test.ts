import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type LookupResult, renderVerbose } from '../../src/dp/lookup.js';
import { type MappingProof, mappingProofText } from '../../src/dp/transparency-log.js';
import { LookupStatus } from '../../src/protocol/records.js';

// R3, R15: a verbose answer written as bytes is the JSON its readers parse, proofs and all.
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const note = 'dp1.example/log\n12\nroot=\n\n— dp1 sig\n';
const hashes = Array.from({ length: 4 }, () => randomBytes(32));
const own = (proof: Uint8Array[]): MappingProof => ({
  checkpoint: JSON.stringify(note),
  leaf: randomBytes(169),
  proof,
});
const row = (id: string, log?: MappingProof | string) => ({
  id,
  json: JSON.stringify({ id, csi: 'tel:+15550000001', note: 'é😀' }),
  holderKey: 'k',
  msp: 'msp1',
  tag: 't',
  priority: 1,
  acceptedAt: 1,
  level: 'otp' as const,
  optOut: false,
  ...(log === undefined ? {} : { log }),
});

describe('renderVerbose (answers written as bytes)', () => {
  const p1 = own([hashes[0]!, hashes[1]!, hashes[2]!]);
  const p2 = own([hashes[3]!, hashes[1]!, hashes[2]!]);
  const peer = own([hashes[0]!, hashes[3]!]);
  const results: LookupResult[] = [
    {
      query: 'tel:+1 555 000 0001',
      csi: 'tel:+15550000001',
      status: LookupStatus.Several,
      rows: [row('m1', p1), row('m2', p2)],
    },
    {
      query: 'mailto:ü@example.org',
      csi: 'mailto:ü@example.org',
      status: LookupStatus.One,
      rows: [{ ...row('m3', mappingProofText(peer)), dps: ['dp2', 'dp3'] }],
    },
    {
      query: 'tel:+15550000009',
      csi: 'tel:+15550000009',
      status: LookupStatus.One,
      rows: [row('m4', '{"checkpoint":5}'), row('m5')],
    },
    { query: 'tel:+15550000010', csi: 'tel:+15550000010', status: LookupStatus.None, rows: [] },
  ];
  const expectedLog = (p: MappingProof) => ({
    checkpoint: note,
    leaf: b64u(p.leaf),
    proof: p.proof.map(b64u),
  });

  it('inline: every member as it was given, proofs written out', () => {
    const answer = JSON.parse(renderVerbose('dp1', results, [{ dp: 'dp2', status: 'ok' }]).toString('utf8'));
    expect(answer.v).toBe(1);
    expect(answer.format).toBe('verbose');
    expect(answer.peers).toEqual([{ dp: 'dp2', status: 'ok' }]);
    expect(
      answer.results.map((r: { query: string; csi: string; status: string }) => [r.query, r.csi, r.status]),
    ).toEqual(results.map((r) => [r.query, r.csi, r.status]));
    const [a, b, c] = answer.results;
    expect(a.mappings.map((m: { dps: string[] }) => m.dps)).toEqual([['dp1'], ['dp1']]);
    expect(a.mappings[0].mapping).toEqual(JSON.parse(results[0]!.rows[0]!.json));
    expect(a.mappings.map((m: { log: unknown }) => m.log)).toEqual([expectedLog(p1), expectedLog(p2)]);
    expect(b.mappings[0].dps).toEqual(['dp2', 'dp3']);
    expect(b.mappings[0].log).toEqual(expectedLog(peer));
    // A peer's member is passed on as it came, inline; a mapping without a proof has no member.
    expect(c.mappings[0].log).toEqual({ checkpoint: 5 });
    expect('log' in c.mappings[1]).toBe(false);
  });

  it('shared: each checkpoint and hash once, in order of first use; a malformed peer proof is left out', () => {
    const answer = JSON.parse(renderVerbose('dp1', results, undefined, { shared: true }).toString('utf8'));
    expect(answer.logShared.checkpoints).toEqual([note]);
    expect(answer.logShared.nodes).toEqual([hashes[0], hashes[1], hashes[2], hashes[3]].map((h) => b64u(h!)));
    const logs = answer.results.flatMap((r: { mappings: { log?: unknown }[] }) =>
      r.mappings.map((m) => m.log),
    );
    expect(logs).toEqual([
      { leaf: b64u(p1.leaf), checkpoint: 0, proof: [0, 1, 2] },
      { leaf: b64u(p2.leaf), checkpoint: 0, proof: [3, 1, 2] },
      { leaf: b64u(peer.leaf), checkpoint: 0, proof: [0, 3] },
      undefined,
      undefined,
    ]);
    expect('peers' in answer).toBe(false);
  });
});
