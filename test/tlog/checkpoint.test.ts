import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, importPublicKey } from '../../src/crypto/keys.js';
import {
  addSignature,
  consistencyProof,
  ed25519PrivateKeyFromSeed,
  formatCheckpoint,
  formatVerifierKey,
  inclusionProof,
  isTlogError,
  leafHash,
  MerkleAccumulator,
  type NoteSigner,
  type NoteVerifier,
  noteKeyId,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  TlogError,
  verifyConsistency,
  verifyInclusion,
} from '../../src/tlog/index.js';

interface KeyVector {
  source: string;
  vkey: string;
  skey?: string;
  seedHex?: string;
  keyIdHex: string;
}

interface NoteVector {
  source: string;
  body: string;
  note: string;
  signers: string[];
}

interface CheckpointVector {
  source: string;
  text: string;
  origin: string;
  size: number;
  rootHashBase64: string;
  extensions: string[];
}

interface C2spVectors {
  source: string;
  keys: Record<'peterNeumann' | 'enochRoot' | 'sumdbTest' | 'c2spExample', KeyVector>;
  badVerifierKeys: { values: string[] };
  notes: Record<'peterSigned' | 'peterAndEnoch' | 'c2spExample', NoteVector>;
  malformedNotes: { peterSigLine: string; body: string; values: string[] };
  signedCheckpoints: {
    source: string;
    key: 'sumdbTest';
    note: string;
    origin: string;
    size: number;
    rootHashBase64: string;
  }[];
  checkpoints: CheckpointVector[];
  malformedCheckpoints: { values: string[] };
}

const V = JSON.parse(
  readFileSync(new URL('../vectors/c2sp-checkpoint.json', import.meta.url), 'utf8'),
) as C2spVectors;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unb64 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'base64'));

function expectTlogError(fn: () => unknown, code: string): TlogError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a TlogError').toBeInstanceOf(TlogError);
  expect((caught as TlogError).code).toBe(code);
  return caught as TlogError;
}

/** Runs fn; returns normally if it succeeded or threw a TlogError, else rethrows. */
function onlyTlogErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof TlogError)) throw err;
  }
}

const peterVerifier = parseVerifierKey(V.keys.peterNeumann.vkey);
const peterSigner = parseSignerKey(V.keys.peterNeumann.skey!);
const enochVerifier = parseVerifierKey(V.keys.enochRoot.vkey);
const enochSigner: NoteSigner = {
  name: 'EnochRoot',
  privateKey: ed25519PrivateKeyFromSeed(Uint8Array.from(Buffer.from(V.keys.enochRoot.seedHex!, 'hex'))),
};
const sumdbVerifier = parseVerifierKey(V.keys.sumdbTest.vkey);
const sumdbSigner = parseSignerKey(V.keys.sumdbTest.skey!);

function freshKey(name: string): { signer: NoteSigner; verifier: NoteVerifier } {
  const { publicKey, privateKey } = generateKeyPair();
  return { signer: { name, privateKey }, verifier: { name, publicKey: importPublicKey(publicKey) } };
}

describe('verifier and signer keys (signed-note "Verifier keys")', () => {
  it('vector file names its sources', () => {
    expect(V.source).toMatch(/golang\.org\/x\/mod/);
    expect(V.source).toMatch(/C2SP/);
  });

  it.each(Object.entries(V.keys))('parses and re-formats the %s vkey', (_id, k) => {
    const v = parseVerifierKey(k.vkey);
    expect(v.keyId.toString(16).padStart(8, '0')).toBe(k.keyIdHex);
    expect(noteKeyId(v.name, v.publicKey)).toBe(v.keyId);
    expect(formatVerifierKey(v)).toBe(k.vkey);
  });

  it('derives the published public keys from the published private keys', () => {
    for (const [signer, k] of [
      [peterSigner, V.keys.peterNeumann],
      [sumdbSigner, V.keys.sumdbTest],
      [enochSigner, V.keys.enochRoot],
    ] as const) {
      expect(
        formatVerifierKey({ name: signer.name, publicKey: importPublicKey(signer.privateKey.publicKey) }),
      ).toBe(k.vkey);
    }
    expect(peterSigner.keyId).toBe(0xc74f20a3);
  });

  it('rejects the Go test suite bad vkeys', () => {
    for (const bad of V.badVerifierKeys.values)
      expectTlogError(() => parseVerifierKey(bad), 'tlog-key-malformed');
  });

  it('rejects every proper substring and every single-character mangling of a vkey', () => {
    const vkey = V.keys.peterNeumann.vkey;
    for (let i = 0; i <= vkey.length; i++) {
      for (let j = i + 1; j <= vkey.length; j++) {
        if (i === 0 && j === vkey.length) continue;
        expectTlogError(() => parseVerifierKey(vkey.slice(i, j)), 'tlog-key-malformed');
      }
    }
    for (let i = 0; i < vkey.length; i++) {
      const mangled = vkey.slice(0, i) + String.fromCharCode(vkey.charCodeAt(i) + 1) + vkey.slice(i + 1);
      expectTlogError(() => parseVerifierKey(mangled), 'tlog-key-malformed');
    }
    expectTlogError(() => parseVerifierKey(vkey.replace('c74f20a3', 'C74F20A3')), 'tlog-key-malformed');
  });

  it('rejects mangled signer keys', () => {
    const skey = V.keys.peterNeumann.skey!;
    expectTlogError(() => parseSignerKey(skey.slice(1)), 'tlog-key-malformed');
    expectTlogError(() => parseSignerKey(skey.replace('c74f20a3', 'c74f20a4')), 'tlog-key-malformed');
    expectTlogError(() => parseSignerKey(skey.slice(0, -2)), 'tlog-key-malformed');
    expectTlogError(() => parseSignerKey(V.keys.peterNeumann.vkey), 'tlog-key-malformed');
  });

  it('rejects non-Ed25519 keys as API misuse', () => {
    // A node:crypto key object of another curve, and a public key of the wrong length.
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKey = ec.publicKey as unknown as Uint8Array;
    const privateKey = ec.privateKey as unknown as NoteSigner['privateKey'];
    expect(() => noteKeyId('x', publicKey)).toThrow(TypeError);
    expect(() => noteKeyId('x', new Uint8Array(31))).toThrow(TypeError);
    expect(() => signNote('hi\n', { name: 'x', privateKey })).toThrow(TypeError);
    expect(() => openNote(V.notes.peterSigned.note, [{ name: 'PeterNeumann', publicKey }])).toThrow(
      TypeError,
    );
    expect(() => signNote('hi\n', { name: 'bad name', privateKey: peterSigner.privateKey })).toThrow(
      TypeError,
    );
    expect(() => signNote('hi\n', { name: 'a+b', privateKey: peterSigner.privateKey })).toThrow(TypeError);
  });
});

describe('signed notes (C2SP signed-note)', () => {
  it('reproduces the Go sumdb note signature byte for byte', () => {
    const v = V.notes.peterSigned;
    expect(signNote(v.body, peterSigner)).toBe(v.note);
  });

  it('adds a cosignature after the existing one, as Go note.Sign does', () => {
    const v = V.notes.peterAndEnoch;
    expect(addSignature(V.notes.peterSigned.note, enochSigner)).toBe(v.note);
    // Re-signing with an existing key replaces its line instead of duplicating it.
    expect(addSignature(v.note, enochSigner)).toBe(v.note);
    expect(addSignature(v.note, peterSigner)).toBe(
      `${v.body}\n${v.note.split('\n').slice(-2, -1)[0]}\n${V.malformedNotes.peterSigLine}`,
    );
  });

  it.each(Object.entries(V.notes))('opens the %s vector note', (_id, v) => {
    const opened = openNote(v.note, [
      peterVerifier,
      enochVerifier,
      parseVerifierKey(V.keys.c2spExample.vkey),
    ]);
    expect(opened.body).toBe(v.body);
    expect(opened.verifiedBy).toEqual(v.signers);
    expect(opened.unknown).toEqual([]);
  });

  it('ignores signatures from unknown keys and reports them', () => {
    const note = V.notes.peterAndEnoch.note;
    const onlyPeter = openNote(note, [peterVerifier]);
    expect(onlyPeter.verifiedBy).toEqual(['PeterNeumann']);
    expect(onlyPeter.unknown.map((s) => [s.name, s.keyId])).toEqual([['EnochRoot', 0xaf0cfe78]]);
    expect(openNote(note, [enochVerifier]).verifiedBy).toEqual(['EnochRoot']);
  });

  it('rejects a note with no signature from a known key (tlog-note-unverified)', () => {
    expectTlogError(() => openNote(V.notes.peterAndEnoch.note, []), 'tlog-note-unverified');
    // Same name, different key: unknown, so ignored, so unverified.
    const impostor = freshKey('PeterNeumann');
    expectTlogError(() => openNote(V.notes.peterSigned.note, [impostor.verifier]), 'tlog-note-unverified');
    // A line whose key ID matches but name differs is also unknown.
    const renamed = V.notes.peterSigned.note.replace('— PeterNeumann ', '— CarmenSandiego ');
    expectTlogError(() => openNote(renamed, [peterVerifier]), 'tlog-note-unverified');
  });

  it('rejects the whole note when a known key signature fails (tlog-signature-invalid)', () => {
    const { body, peterSigLine } = V.malformedNotes;
    // Go's test: bytes inserted into the signature (still valid base64).
    const longer = `${peterSigLine.slice(0, 60)}ABCD${peterSigLine.slice(60)}`;
    expectTlogError(() => openNote(`${body}\n${longer}`, [peterVerifier]), 'tlog-signature-invalid');
    // Tampered body.
    const tampered = V.notes.peterSigned.note.replace('cryptography', 'Cryptography');
    expectTlogError(() => openNote(tampered, [peterVerifier]), 'tlog-signature-invalid');
    // A good signature does not rescue a bad one from another known key.
    const enochLine = V.notes.peterAndEnoch.note.split('\n').slice(-2, -1)[0]!;
    const sig = unb64(enochLine.split(' ')[2]!);
    sig[10] = sig[10]! ^ 1;
    const badEnoch = `— EnochRoot ${b64(sig)}\n`;
    expectTlogError(
      () => openNote(`${body}\n${peterSigLine}${badEnoch}`, [peterVerifier, enochVerifier]),
      'tlog-signature-invalid',
    );
    expect(openNote(`${body}\n${peterSigLine}${badEnoch}`, [peterVerifier]).verifiedBy).toEqual([
      'PeterNeumann',
    ]);
  });

  it('rejects the Go test suite malformed notes (tlog-note-malformed)', () => {
    for (const bad of V.malformedNotes.values) {
      expectTlogError(() => openNote(bad, [peterVerifier]), 'tlog-note-malformed');
      expectTlogError(() => parseNote(bad), 'tlog-note-malformed');
    }
  });

  it('rejects other syntax errors (tlog-note-malformed)', () => {
    const { body, peterSigLine } = V.malformedNotes;
    const cases = [
      `${body}\n${peterSigLine.replace('\u2014', '-')}`,
      `${body}\n${peterSigLine.replace('\u2014 ', '\u2014')}`,
      `${body}\n${peterSigLine.replace('=\n', '\n')}`,
      `${body}\n${peterSigLine.replace(/ x08go\S+/, ' x08g')}`,
      `${body}\n${peterSigLine.replace(/ x08go\S+/, ' AAAA')}`,
      `${body}\n${peterSigLine}\n`,
      `${body}\n${peterSigLine.replace('\n', '\r\n')}`,
      `\ud800${body}\n${peterSigLine}`,
      `${body}\n${peterSigLine.repeat(101)}`,
    ];
    for (const bad of cases) expectTlogError(() => openNote(bad, [peterVerifier]), 'tlog-note-malformed');
    expectTlogError(() => signNote('no trailing newline', peterSigner), 'tlog-note-malformed');
    expectTlogError(() => signNote('', peterSigner), 'tlog-note-malformed');
    expectTlogError(() => signNote('tab\there\n', peterSigner), 'tlog-note-malformed');
  });

  it('accepts blank lines inside the text and many signatures', () => {
    const a = freshKey('example.com/a');
    const body = 'line one\n\nline three\n\n';
    let note = signNote(body, a.signer);
    const witnesses = Array.from({ length: 20 }, (_, i) => freshKey(`witness.example/${i}`));
    for (const w of witnesses) note = addSignature(note, w.signer);
    const opened = openNote(note, [a.verifier, ...witnesses.map((w) => w.verifier)]);
    expect(opened.body).toBe(body);
    expect(opened.verifiedBy).toHaveLength(21);
    expect(parseNote(note).signatures).toHaveLength(21);
  });

  it('rejects duplicate verifiers as API misuse', () => {
    expect(() => openNote(V.notes.peterSigned.note, [peterVerifier, peterVerifier])).toThrow(TypeError);
  });

  it('property: sign/open round-trips; any single-character change breaks or is rejected', () => {
    const k = freshKey('example.com/log');
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.nat(),
        (lines, pos) => {
          const body = `${lines.map((l) => l.replace(/[\n\r\t]/g, ' ')).join('\n')}\n`;
          const note = signNote(body, k.signer);
          const opened = openNote(note, [k.verifier]);
          expect(opened.body).toBe(body);
          expect(opened.verifiedBy).toEqual(['example.com/log']);
          // Replace one UTF-16 unit of the body (not creating a newline): must not verify.
          const i = pos % body.length;
          if (body[i] !== '\n' && !/[\ud800-\udfff]/.test(body[i]!)) {
            const changed = `${body.slice(0, i)}${body[i] === 'x' ? 'y' : 'x'}${body.slice(i + 1)}`;
            expectTlogError(
              () => openNote(`${changed}${note.slice(body.length)}`, [k.verifier]),
              'tlog-signature-invalid',
            );
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('checkpoints (C2SP tlog-checkpoint)', () => {
  it.each(V.checkpoints.map((c) => [c.source, c] as const))('parses and formats: %s', (_src, c) => {
    const cp = parseCheckpoint(c.text);
    expect(cp.origin).toBe(c.origin);
    expect(cp.size).toBe(c.size);
    expect(b64(cp.rootHash)).toBe(c.rootHashBase64);
    expect(cp.extensions).toEqual(c.extensions);
    expect(formatCheckpoint(cp)).toBe(c.text);
  });

  it('the Go golden checkpoint root is the RFC 9162 leaf hash of "hello world"', () => {
    const golden = V.checkpoints[0]!;
    expect(b64(leafHash(new TextEncoder().encode('hello world')))).toBe(golden.rootHashBase64);
  });

  it.each(V.signedCheckpoints.map((c) => [c.size, c] as const))(
    'opens the signed Go sumdb tree %i',
    (_n, c) => {
      const { checkpoint, verifiedBy } = openCheckpoint(c.note, [sumdbVerifier], { origin: c.origin });
      expect(verifiedBy).toEqual(['localhost.localdev/sumdb']);
      expect(checkpoint.size).toBe(c.size);
      expect(b64(checkpoint.rootHash)).toBe(c.rootHashBase64);
      // Ed25519 is deterministic: re-signing with the published test key reproduces the note.
      expect(signCheckpoint(checkpoint, sumdbSigner)).toBe(c.note);
    },
  );

  it('rejects a checkpoint from another origin (tlog-origin-mismatch)', () => {
    const c = V.signedCheckpoints[0]!;
    expectTlogError(
      () => openCheckpoint(c.note, [sumdbVerifier], { origin: 'example.com/log' }),
      'tlog-origin-mismatch',
    );
  });

  it('rejects a signed note whose body is not a checkpoint', () => {
    expectTlogError(
      () => openCheckpoint(V.notes.peterSigned.note, [peterVerifier]),
      'tlog-checkpoint-malformed',
    );
  });

  it('rejects the malformed vector checkpoints', () => {
    for (const bad of V.malformedCheckpoints.values) {
      expectTlogError(() => parseCheckpoint(bad), 'tlog-checkpoint-malformed');
    }
  });

  it('rejects non-canonical sizes and root hashes', () => {
    const root = 'TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=';
    const cp = (size: string, hash = root, tail = '') => `log.example\n${size}\n${hash}\n${tail}`;
    expect(parseCheckpoint(cp('0')).size).toBe(0);
    expect(parseCheckpoint(cp('9007199254740991')).size).toBe(Number.MAX_SAFE_INTEGER);
    for (const size of ['00', '01', '-1', '+1', '1e3', ' 1', '1 ', '0x10', '１', '', '9007199254740992']) {
      expectTlogError(() => parseCheckpoint(cp(size)), 'tlog-checkpoint-malformed');
    }
    const bad = [
      root.slice(0, -1), // missing padding
      root.replace('=', ''),
      root.replace('+', '-'), // URL-safe alphabet
      root.replace('Bb0=', 'Bb1='), // non-zero padding bits
      b64(new Uint8Array(31)),
      b64(new Uint8Array(33)),
      `${root} `,
      '',
    ];
    for (const h of bad) expectTlogError(() => parseCheckpoint(cp('1', h)), 'tlog-checkpoint-malformed');
    expectTlogError(() => parseCheckpoint(cp('1', root, '\n')), 'tlog-checkpoint-malformed');
    expectTlogError(() => parseCheckpoint(cp('1').replace(/\n/g, '\r\n')), 'tlog-checkpoint-malformed');
    expectTlogError(() => parseCheckpoint('log.example\n1\n'), 'tlog-checkpoint-malformed');
    expectTlogError(() => parseCheckpoint(''), 'tlog-checkpoint-malformed');
  });

  it('round-trips extension lines', () => {
    const text = formatCheckpoint({
      origin: 'example.com/log',
      size: 7,
      rootHash: new Uint8Array(32).fill(7),
      extensions: ['ext one', '— odd but allowed'],
    });
    expect(text).toBe(`example.com/log\n7\n${b64(new Uint8Array(32).fill(7))}\next one\n— odd but allowed\n`);
    expect(parseCheckpoint(text).extensions).toEqual(['ext one', '— odd but allowed']);
  });

  it('refuses to format invalid checkpoints', () => {
    const rootHash = new Uint8Array(32);
    expectTlogError(() => formatCheckpoint({ origin: '', size: 1, rootHash }), 'tlog-checkpoint-malformed');
    expectTlogError(
      () => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash }),
      'tlog-checkpoint-malformed',
    );
    expectTlogError(
      () => formatCheckpoint({ origin: 'a', size: 1, rootHash: new Uint8Array(31) }),
      'tlog-checkpoint-malformed',
    );
    expectTlogError(
      () => formatCheckpoint({ origin: 'a', size: 1, rootHash, extensions: [''] }),
      'tlog-checkpoint-malformed',
    );
    expect(() => formatCheckpoint({ origin: 'a', size: -1, rootHash })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'a', size: 2 ** 53, rootHash })).toThrow(RangeError);
  });

  it('property: format/parse round-trip', () => {
    const line = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
      .map((s) => s.replace(/[\n\r\t]/g, '_'));
    fc.assert(
      fc.property(
        line,
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(line, { maxLength: 3 }),
        (origin, size, rootHash, extensions) => {
          const cp = parseCheckpoint(formatCheckpoint({ origin, size, rootHash, extensions }));
          expect(cp).toEqual({ origin, size, rootHash, extensions });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('end to end: log signs, witness cosigns, client verifies proofs against checkpoints', () => {
    const log = freshKey('log.example/discovery');
    const witness = freshKey('witness.example/w1');
    const acc = new MerkleAccumulator();
    const leaves: Uint8Array[] = [];
    const sign = () =>
      addSignature(
        signCheckpoint({ origin: 'log.example/discovery', size: acc.size, rootHash: acc.root() }, log.signer),
        witness.signer,
      );
    for (let i = 0; i < 13; i++) leaves.push(leafHash(new TextEncoder().encode(`entry ${i}`)));
    for (const l of leaves.slice(0, 5)) acc.append(l);
    const older = openCheckpoint(sign(), [witness.verifier], { origin: 'log.example/discovery' }).checkpoint;
    for (const l of leaves.slice(5)) acc.append(l);
    const newerNote = sign();
    const newer = openCheckpoint(newerNote, [log.verifier, witness.verifier]);
    expect(newer.verifiedBy).toEqual(['log.example/discovery', 'witness.example/w1']);
    const cp = newer.checkpoint;
    verifyInclusion(leaves[9]!, 9, cp.size, inclusionProof(9, leaves), cp.rootHash);
    verifyConsistency(older.size, cp.size, older.rootHash, cp.rootHash, consistencyProof(older.size, leaves));
  });
});

describe('parsers only throw TlogError on garbage', () => {
  const verifiers = [peterVerifier, enochVerifier, sumdbVerifier];
  const parsers: [string, (s: string) => unknown][] = [
    ['parseCheckpoint', parseCheckpoint],
    ['parseNote', parseNote],
    ['openNote', (s) => openNote(s, verifiers)],
    ['openCheckpoint', (s) => openCheckpoint(s, verifiers)],
    ['parseVerifierKey', parseVerifierKey],
    ['parseSignerKey', parseSignerKey],
    ['addSignature', (s) => addSignature(s, enochSigner)],
  ];
  const seeds = [
    V.notes.peterAndEnoch.note,
    V.signedCheckpoints[0]!.note,
    V.checkpoints[0]!.text,
    V.keys.peterNeumann.vkey,
    V.keys.peterNeumann.skey!,
  ];
  // Random edits of valid inputs reach deep into the parsers.
  const mutated = fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.nat({ max: 3 }),
          fc.constantFrom('\n', ' ', '+', '=', '\u2014', 'A', '0', '\u0000', '\ud800', '😀', '/', '-'),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([seed, edits]) => {
      let s = seed;
      for (const [pos, del, ins] of edits) {
        const i = s.length === 0 ? 0 : pos % s.length;
        s = s.slice(0, i) + ins + s.slice(i + del);
      }
      return s;
    });
  const garbage = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.string({ unit: 'binary-ascii', maxLength: 200 }),
    mutated,
  );

  it.each(parsers)('%s', (_name, parse) => {
    fc.assert(
      fc.property(garbage, (s) => {
        onlyTlogErrors(() => parse(s));
      }),
      { numRuns: 400 },
    );
  });

  it('isTlogError narrows by code', () => {
    const err = new TlogError('tlog-proof-invalid', 'x');
    expect(isTlogError(err)).toBe(true);
    expect(isTlogError(err, 'tlog-proof-invalid')).toBe(true);
    expect(isTlogError(err, 'tlog-bad-range')).toBe(false);
    expect(isTlogError(new Error('x'))).toBe(false);
    expect(err.name).toBe('TlogError');
    expect(err).toBeInstanceOf(Error);
  });
});
