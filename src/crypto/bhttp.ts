import { concatBytes } from '@noble/hashes/utils.js';
import { fromLatin1, latin1 } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';

/**
 * Binary HTTP (RFC 9292), the messages inside Oblivious HTTP (RFC 9458 §4.1).
 *
 * Written here rather than taken from npm: the one package for it (bhttp-js 0.2.1, a single
 * release with a few hundred downloads a week) reads past the end of a truncated message as if
 * the missing bytes were zeros, overflows on 4- and 8-byte integers (32-bit shifts), never checks a
 * status code (its range test cannot be true) and folds repeated fields into one; the format is
 * small enough to write strictly. Encoding is always known-length (§3.1 framing 0 and 1) with no
 * padding; decoding accepts known and indeterminate length (framing 0-3), padding (§3.8) and the
 * truncation of empty trailing sections that §3.8 allows (RFC 9458 Appendix A relies on it).
 * Every fault is an `ohttp-malformed` MimiError.
 */

export type FieldLine = readonly [name: string, value: string];

export interface BinaryRequest {
  method: string;
  scheme: string;
  authority: string;
  /** Path and query, e.g. `/v1/private/epochs`. */
  path: string;
  headers: FieldLine[];
  content: Uint8Array;
}

export interface BinaryResponse {
  /** The final status (informational 1xx responses are read and dropped). */
  status: number;
  headers: FieldLine[];
  content: Uint8Array;
}

const Framing = {
  KnownRequest: 0,
  KnownResponse: 1,
  IndeterminateRequest: 2,
  IndeterminateResponse: 3,
} as const;

const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const fieldName = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// RFC 9110 §5.5: no CR, LF or NUL in a value; no leading or trailing whitespace.
const fieldValue = /^(?:[^\0\r\n\t ](?:[^\0\r\n]*[^\0\r\n\t ])?)?$/;

function malformed(message: string): MimiError {
  return new MimiError('ohttp-malformed', `binary HTTP: ${message}`);
}

// ---- encoding ----

/** RFC 9000 §16 variable-length integer. */
export function encodeVarint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError('varint out of range');
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  if (n < 0x40000000) {
    return Uint8Array.of(0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n) | (0xc0n << 56n));
  return out;
}

class Writer {
  private readonly parts: Uint8Array[] = [];
  varint(n: number): void {
    this.parts.push(encodeVarint(n));
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.parts.push(b);
  }
  text(s: string): void {
    this.bytes(latin1(s));
  }
  section(fields: readonly FieldLine[]): void {
    const inner = new Writer();
    for (const [name, value] of fields) {
      const n = name.toLowerCase();
      if (!fieldName.test(n) || !fieldValue.test(value)) throw new TypeError(`bad field ${name}`);
      inner.text(n);
      inner.text(value);
    }
    this.bytes(inner.done());
  }
  /** The encoding so far, as its pieces (content is not copied). */
  pieces(): Uint8Array[] {
    return this.parts;
  }
  done(): Uint8Array {
    return concatBytes(...this.parts);
  }
}

/** A known-length request (RFC 9292 §3.1, framing indicator 0). */
export function encodeRequest(req: BinaryRequest): Uint8Array {
  if (!token.test(req.method)) throw new TypeError('bad method');
  const w = new Writer();
  w.varint(Framing.KnownRequest);
  w.text(req.method);
  w.text(req.scheme);
  w.text(req.authority);
  w.text(req.path);
  w.section(req.headers);
  w.bytes(req.content);
  w.section([]);
  return w.done();
}

/** A known-length response (RFC 9292 §3.1, framing indicator 1), without informational responses. */
export function encodeResponse(res: BinaryResponse): Uint8Array {
  return concatBytes(...encodeResponseParts(res));
}

/**
 * {@link encodeResponse} as pieces whose concatenation is the encoding, `content` given as one
 * or several pieces and never copied: a gateway encrypts the pieces one after the other, so a
 * MiB-sized answer is not copied into the message first.
 */
export function encodeResponseParts(
  res: Omit<BinaryResponse, 'content'> & { content: Uint8Array | readonly Uint8Array[] },
): Uint8Array[] {
  if (!Number.isInteger(res.status) || res.status < 200 || res.status > 599) {
    throw new TypeError('bad final status');
  }
  const content = res.content instanceof Uint8Array ? [res.content] : res.content;
  const w = new Writer();
  w.varint(Framing.KnownResponse);
  w.varint(res.status);
  w.section(res.headers);
  w.varint(content.reduce((n, c) => n + c.length, 0));
  const head = w.done();
  const tail = new Writer();
  tail.section([]);
  return [head, ...content, ...tail.pieces()];
}

// ---- decoding ----

class Reader {
  p = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}
  get atEnd(): boolean {
    return this.p >= this.end;
  }
  varint(): number {
    if (this.p >= this.end) throw malformed('truncated integer');
    const first = this.buf[this.p]!;
    const len = 1 << (first >> 6);
    if (this.p + len > this.end) throw malformed('truncated integer');
    let n = first & 0x3f;
    for (let i = 1; i < len; i++) n = n * 256 + this.buf[this.p + i]!;
    this.p += len;
    if (!Number.isSafeInteger(n)) throw malformed('integer too large');
    return n;
  }
  take(n: number): Uint8Array {
    if (n > this.end - this.p) throw malformed('truncated field');
    const out = this.buf.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }
  text(): string {
    return fromLatin1(this.take(this.varint()));
  }
}

function fieldLine(r: Reader, nameLength: number): FieldLine {
  const name = fromLatin1(r.take(nameLength));
  const value = r.text();
  // RFC 9292 §3.6 (as HTTP/2 and HTTP/3): names are lowercase; CR, LF and NUL never appear.
  if (!fieldName.test(name)) throw malformed('field name is not a lowercase token');
  if (!fieldValue.test(value)) throw malformed('field value holds a forbidden character');
  return [name, value];
}

function section(r: Reader, known: boolean, maxFields: number): FieldLine[] {
  // §3.8: a message may end where only empty sections remain.
  if (r.atEnd) return [];
  const fields: FieldLine[] = [];
  if (known) {
    const len = r.varint();
    if (len > r.end - r.p) throw malformed('truncated field section');
    const inner = new Reader(r.buf, r.p + len);
    inner.p = r.p;
    while (!inner.atEnd) {
      fields.push(fieldLine(inner, inner.varint()));
      if (fields.length > maxFields) throw malformed('too many fields');
    }
    r.p = inner.p;
    return fields;
  }
  for (;;) {
    const nameLength = r.varint();
    if (nameLength === 0) return fields;
    fields.push(fieldLine(r, nameLength));
    if (fields.length > maxFields) throw malformed('too many fields');
  }
}

/** The content: for known length a view into the message (no copy: a bucket batch is MiBs). */
function content(r: Reader, known: boolean): Uint8Array {
  if (r.atEnd) return new Uint8Array(0);
  if (known) return r.take(r.varint());
  const chunks: Uint8Array[] = [];
  for (;;) {
    const n = r.varint();
    if (n === 0) return concatBytes(...chunks);
    chunks.push(r.take(n));
  }
}

function padding(r: Reader): void {
  // §3.8: anything after the message is padding, all zeros.
  for (; r.p < r.end; r.p++) if (r.buf[r.p] !== 0) throw malformed('non-zero padding');
}

export interface DecodeLimits {
  /** Field lines per section (default 64). */
  maxFields?: number;
}

/** Decodes a request; any fault is `ohttp-malformed`. */
export function decodeRequest(bytes: Uint8Array, limits: DecodeLimits = {}): BinaryRequest {
  const r = new Reader(bytes);
  const framing = r.varint();
  if (framing !== Framing.KnownRequest && framing !== Framing.IndeterminateRequest) {
    throw malformed('not a request');
  }
  const known = framing === Framing.KnownRequest;
  const method = r.text();
  const scheme = r.text();
  const authority = r.text();
  const path = r.text();
  if (!token.test(method)) throw malformed('bad method');
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw malformed('bad scheme');
  if (!/^[\x21-\x7e]*$/.test(authority)) throw malformed('bad authority');
  if (!/^\/[\x21-\x7e]*$/.test(path)) throw malformed('bad path');
  const maxFields = limits.maxFields ?? 64;
  const headers = section(r, known, maxFields);
  const body = content(r, known);
  section(r, known, maxFields); // trailers: read, checked, not used
  padding(r);
  return { method, scheme, authority, path, headers, content: body };
}

/** Decodes a response, skipping informational (1xx) ones; any fault is `ohttp-malformed`. */
export function decodeResponse(bytes: Uint8Array, limits: DecodeLimits = {}): BinaryResponse {
  const r = new Reader(bytes);
  const framing = r.varint();
  if (framing !== Framing.KnownResponse && framing !== Framing.IndeterminateResponse) {
    throw malformed('not a response');
  }
  const known = framing === Framing.KnownResponse;
  const maxFields = limits.maxFields ?? 64;
  let status = r.varint();
  while (status >= 100 && status < 200) {
    section(r, known, maxFields);
    status = r.varint();
  }
  if (status < 200 || status > 599) throw malformed('bad status code');
  const headers = section(r, known, maxFields);
  const body = content(r, known);
  section(r, known, maxFields);
  padding(r);
  return { status, headers, content: body };
}
