/**
 * RFC 9497 §2.2 discrete-log-equality proofs (DLEQ), batched over one evaluation with
 * ComputeComposites: one proof per batch that every evaluated element is skS times its blinded
 * element, for the skS behind pkS = skS * G. Written once over a small group interface; the
 * libsodium server and both client engines (libsodium, @noble/curves) each supply only their
 * arithmetic, and the RFC 9497 Appendix A.1.2 vectors pin all three.
 */

import { OprfError } from './oprf-errors.js';
import {
  challengeUniform,
  compositeSeed,
  compositeUniform,
  GROUP_ORDER,
  PROOF_LENGTH,
  type RandomSource,
  randomScalar,
  SCALAR_LENGTH,
} from './oprf-suite.js';

/** The group arithmetic a proof needs, in an engine's own representations (S scalars, E elements). */
export interface ProofGroup<S, E> {
  /** A canonical 32-byte little-endian scalar (checked < L before) as S. */
  scalar(bytes: Uint8Array): S;
  /** 64 uniform bytes reduced modulo L (HashToScalar's second half). */
  reduce(uniform: Uint8Array): S;
  scalarBytes(s: S): Uint8Array;
  /** a * b, a - b modulo L. */
  mul(a: S, b: S): S;
  sub(a: S, b: S): S;
  /** s * G. */
  base(s: S): E;
  /** s * e. */
  mult(s: S, e: E): E;
  add(a: E, b: E): E;
  /** SerializeElement. */
  bytes(e: E): Uint8Array;
  /** sum s[i] * e[i] at once (multi-scalar multiplication), where the engine has a faster way. */
  msm?(s: S[], e: E[]): E;
}

/**
 * RFC 9497 §2.2.1 ComputeComposites: M = sum d_i * C[i], Z = sum d_i * D[i]. With `k` given
 * (the server, ComputeCompositesFast), Z = k * M instead, half the multiplications.
 */
function composites<S, E>(
  g: ProofGroup<S, E>,
  publicKey: Uint8Array,
  c: readonly { e: E; bytes: Uint8Array }[],
  d: readonly { e: E; bytes: Uint8Array }[],
  k?: S,
): { m: E; z: E } {
  const seed = compositeSeed(publicKey);
  if (c.length === 0) throw new TypeError('a proof covers at least one element');
  if (g.msm !== undefined) {
    const w = c.map((ci, i) => g.reduce(compositeUniform(seed, i, ci.bytes, d[i]!.bytes)));
    const m = g.msm(
      w,
      c.map((x) => x.e),
    );
    return {
      m,
      z:
        k === undefined
          ? g.msm(
              w,
              d.map((x) => x.e),
            )
          : g.mult(k, m),
    };
  }
  let m: E | undefined;
  let z: E | undefined;
  for (let i = 0; i < c.length; i++) {
    const di = g.reduce(compositeUniform(seed, i, c[i]!.bytes, d[i]!.bytes));
    const mi = g.mult(di, c[i]!.e);
    m = m === undefined ? mi : g.add(m, mi);
    if (k === undefined) {
      const zi = g.mult(di, d[i]!.e);
      z = z === undefined ? zi : g.add(z, zi);
    }
  }
  if (m === undefined) throw new TypeError('a proof covers at least one element');
  return { m, z: k === undefined ? z! : g.mult(k, m) };
}

/** An element with its serialization, so that nothing is serialized twice. */
export interface Encoded<E> {
  e: E;
  bytes: Uint8Array;
}

/**
 * RFC 9497 §2.2.1 GenerateProof(k, A = G, B = pkS, C = blinded, D = evaluated): one proof for the
 * whole batch.
 *
 * @param g - group arithmetic
 * @param k - skS
 * @param publicKey - SerializeElement(pkS)
 * @param c - the blinded elements, validated
 * @param d - the evaluated elements, d[i] = k * c[i]
 * @param rng - source of the proof's random scalar r (inject a vector's ProofRandomScalar)
 * @returns SerializeScalar(c) || SerializeScalar(s), 64 bytes
 */
export function generateProof<S, E>(
  g: ProofGroup<S, E>,
  k: S,
  publicKey: Uint8Array,
  c: readonly Encoded<E>[],
  d: readonly Encoded<E>[],
  rng?: RandomSource,
): Uint8Array {
  const { m, z } = composites(g, publicKey, c, d, k);
  const r = g.scalar(randomScalar(rng));
  const t2 = g.base(r);
  const t3 = g.mult(r, m);
  const ch = g.reduce(challengeUniform([publicKey, g.bytes(m), g.bytes(z), g.bytes(t2), g.bytes(t3)]));
  const s = g.sub(r, g.mul(ch, k));
  const proof = new Uint8Array(PROOF_LENGTH);
  proof.set(g.scalarBytes(ch), 0);
  proof.set(g.scalarBytes(s), SCALAR_LENGTH);
  return proof;
}

/** A little-endian 32-byte scalar below L (zero allowed: RFC 9497 §2.1 DeserializeScalar). */
function canonical(bytes: Uint8Array): boolean {
  let s = 0n;
  for (let i = SCALAR_LENGTH - 1; i >= 0; i--) s = (s << 8n) | BigInt(bytes[i]!);
  return s < GROUP_ORDER;
}

/**
 * RFC 9497 §2.2.2 VerifyProof(A = G, B = pkS, C = blinded, D = evaluated, proof).
 *
 * @param g - group arithmetic
 * @param publicKey - pkS as an element and its serialization (validated by the caller)
 * @param c - the blinded elements the client sent
 * @param d - the evaluated elements the server returned, validated
 * @param proof - untrusted proof bytes
 * @throws OprfError 'oprf-proof-invalid' if the proof is not 64 bytes of two canonical scalars or
 *   does not verify; TypeError on misuse
 */
export function verifyProof<S, E>(
  g: ProofGroup<S, E>,
  publicKey: Encoded<E>,
  c: readonly Encoded<E>[],
  d: readonly Encoded<E>[],
  proof: unknown,
): void {
  if (!(proof instanceof Uint8Array) || proof.length !== PROOF_LENGTH) {
    throw new OprfError('oprf-proof-invalid', `a proof is ${PROOF_LENGTH} bytes`);
  }
  if (c.length !== d.length) throw new TypeError('blinded and evaluated elements differ in number');
  const cBytes = proof.subarray(0, SCALAR_LENGTH);
  const sBytes = proof.subarray(SCALAR_LENGTH);
  if (!canonical(cBytes) || !canonical(sBytes)) {
    throw new OprfError('oprf-proof-invalid', 'a proof scalar is not reduced modulo the group order');
  }
  const ch = g.scalar(cBytes);
  const s = g.scalar(sBytes);
  const { m, z } = composites(g, publicKey.bytes, c, d);
  const t2 = g.add(g.base(s), g.mult(ch, publicKey.e));
  const t3 = g.add(g.mult(s, m), g.mult(ch, z));
  const expected = g.scalarBytes(
    g.reduce(challengeUniform([publicKey.bytes, g.bytes(m), g.bytes(z), g.bytes(t2), g.bytes(t3)])),
  );
  let diff = 0;
  for (let i = 0; i < SCALAR_LENGTH; i++) diff |= expected[i]! ^ cBytes[i]!;
  if (diff !== 0) throw new OprfError('oprf-proof-invalid', 'the evaluation proof does not verify');
}
