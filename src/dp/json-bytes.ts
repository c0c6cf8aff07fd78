/**
 * A JSON answer written as bytes (issue 16: verbose answers). A verbose answer of 100 CSIs is a
 * quarter of a megabyte; built as a string it was a rope of thousands of pieces that the server
 * then flattened, measured in UTF-8 (Content-Length) and encoded again to write, and every proof
 * hash was a base64url string of its own. Written here, each piece is copied once into one
 * buffer, hashes are encoded straight into it, and the buffer is what goes to the socket.
 *
 * Server-side only (Buffer); nothing here checks JSON: callers write the structure, and texts go
 * through JSON.stringify or are known to need no escaping (base64url, numbers, our own keys).
 */
const alphabet = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 'latin1');

/** Buffer's encoders without `write`'s dispatch on the encoding's name (in Node since 0.x, untyped). */
type NodeBuffer = Buffer & {
  latin1Write(text: string, offset: number): number;
  utf8Write(text: string, offset: number): number;
};

export class JsonBytes {
  private buf: Buffer;
  private at = 0;

  constructor(sizeHint = 4096) {
    this.buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
  }

  /** Text that is ASCII by construction (keys, punctuation, numbers, base64url, hex). */
  ascii(text: string): this {
    this.room(text.length);
    // Most are a few characters (keys, punctuation): a loop is a fifth of Buffer's call.
    if (text.length <= 32) {
      const { buf, at } = this;
      for (let i = 0; i < text.length; i++) buf[at + i] = text.charCodeAt(i);
      this.at += text.length;
    } else this.at += (this.buf as NodeBuffer).latin1Write(text, this.at);
    return this;
  }

  /** Text as UTF-8 (already JSON: a stored record, a peer's member, a JSON.stringify result). */
  utf8(text: string): this {
    this.room(3 * text.length);
    this.at += (this.buf as NodeBuffer).utf8Write(text, this.at);
    return this;
  }

  /** A JSON string value. */
  string(value: string): this {
    return this.utf8(JSON.stringify(value));
  }

  /**
   * `data` as base64url without padding (RFC 4648 §5), written in place: Buffer's own encoder
   * makes a string, and a proof's 17 hashes would be 17 strings to copy again.
   */
  b64u(data: Uint8Array): this {
    this.room(Math.ceil((data.length * 4) / 3));
    const out = this.buf;
    let o = this.at;
    let i = 0;
    for (; i + 2 < data.length; i += 3) {
      const n = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
      out[o++] = alphabet[n >> 18]!;
      out[o++] = alphabet[(n >> 12) & 63]!;
      out[o++] = alphabet[(n >> 6) & 63]!;
      out[o++] = alphabet[n & 63]!;
    }
    const rest = data.length - i;
    if (rest > 0) {
      const n = (data[i]! << 16) | (rest === 2 ? data[i + 1]! << 8 : 0);
      out[o++] = alphabet[n >> 18]!;
      out[o++] = alphabet[(n >> 12) & 63]!;
      if (rest === 2) out[o++] = alphabet[(n >> 6) & 63]!;
    }
    this.at = o;
    return this;
  }

  /** A JSON array of byte strings, each as base64url (proof paths, hash tables). */
  b64uArray(list: readonly Uint8Array[]): this {
    this.ascii('[');
    for (let i = 0; i < list.length; i++)
      this.ascii(i === 0 ? '"' : ',"')
        .b64u(list[i]!)
        .ascii('"');
    return this.ascii(']');
  }

  /** The answer: a view of what was written (the builder is not to be used after). */
  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}
