export type {
  Checkpoint,
  CheckpointInput,
  NoteSignature,
  NoteSigner,
  NoteVerifier,
  OpenedCheckpoint,
  OpenedNote,
  ParsedNote,
  ParsedVerifierKey,
} from './checkpoint.js';
export {
  addSignature,
  ED25519_SIGNATURE_TYPE,
  ed25519PrivateKeyFromSeed,
  formatCheckpoint,
  formatVerifierKey,
  MAX_NOTE_SIGNATURES,
  noteKeyId,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signNote,
} from './checkpoint.js';
export type { Cosignature } from './cosignature.js';
export {
  COSIGNATURE_V1_TYPE,
  cosignatureKeyId,
  cosignNote,
  signatureLines,
  verifyCosignatures,
} from './cosignature.js';
export type { TlogErrorCode } from './errors.js';
export { isTlogError, TlogError } from './errors.js';
export {
  commitmentOf,
  decodeLeaf,
  encodeLeaf,
  LogLeaf,
  LogLeafKind,
  leafIsAbout,
  leafTag,
  mappingLeafKinds,
} from './leaf.js';
export type { AccumulatorState, LeafHashFn, SubtreeHashFn, TreeSource } from './merkle.js';
export {
  arraySubtreeHasher,
  CompactRange,
  consistencyProof,
  emptyRoot,
  HASH_SIZE,
  inclusionProof,
  leafHash,
  MerkleAccumulator,
  nodeHash,
  rootFromInclusionProof,
  rootFromLeafHashes,
  rootFromSource,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
