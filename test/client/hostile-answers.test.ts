import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type VerifiedResult, verifyVerboseAnswer } from '../../src/client/lookup-client.js';
import type { VerboseAnswer } from '../../src/protocol/answers.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R3, R15: a verbose answer is checked against the question asked, whoever serves it. A DP (or
 * anyone who can rewrite its answers) holding a genuine, fully signed mapping for one number must
 * not be able to hand it out as the answer for another number.
 */
describe('verbose answers from a hostile DP', () => {
  let net: RunningDevnet;
  const bob = 'tel:+14155550101';
  const alice = 'tel:+14155550199';
  let bobs: VerifiedResult;

  beforeAll(async () => {
    net = await startDevnet();
    const agent = net.msp('msp1');
    const holder = net.holder();
    const attestation = await net.prove(holder, bob);
    await agent.submit(
      await agent.confirm(
        holder.signMapping({ csi: bob, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation }),
      ),
    );
    [bobs] = (await agent.lookup([bob])) as [VerifiedResult];
  });
  afterAll(() => net.close());

  const answer = (query: string, csi: string): VerboseAnswer => ({
    v: 1,
    format: 'verbose',
    dp: 'dp1',
    results: [{ query, csi, status: 'one', mappings: bobs.mappings.map((m) => ({ ...m })) }],
  });
  const ctx = () => ({ registry: net.registry, policy: { allowUnlogged: true }, now: net.clock.now() });

  it('the genuine answer verifies', () => {
    const [r] = verifyVerboseAnswer(answer(bob, bob), { asked: [bob], ...ctx() });
    expect(r!.mappings[0]!.mapping.body.ssi).toBe('mimi://chat.example/u/bob');
  });

  it("Bob's mapping given as the answer for Alice's number is refused", () => {
    // The DP echoes the query but names Bob's CSI as its canonical form, with Bob's signed mapping.
    expect(() => verifyVerboseAnswer(answer(alice, bob), { asked: [alice], ...ctx() })).toThrow(
      expect.objectContaining({ code: 'record-invalid' }),
    );
  });

  it('a query in another spelling is checked against its canonical form', () => {
    expect(
      verifyVerboseAnswer(answer('+1 415 555 0101', bob), { asked: ['+1 415 555 0101'], ...ctx() }),
    ).toHaveLength(1);
    expect(() =>
      verifyVerboseAnswer(answer('+1 415 555 0199', bob), { asked: ['+1 415 555 0199'], ...ctx() }),
    ).toThrow(expect.objectContaining({ code: 'record-invalid' }));
  });
});
