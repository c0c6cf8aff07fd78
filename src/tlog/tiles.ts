/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile coordinates, their paths, and which stored
 * hashes and leaves a tile holds. Pure; the HTTP side is src/server/routes/log.ts.
 *
 * A hash tile at level L, index N holds the hashes of the complete subtrees of 2^(8L) leaves at
 * indices 256N .. 256N + W - 1 (W = 256 for a full tile, 1..255 for a partial one). An entry bundle
 * N holds leaves 256N .. 256N + W - 1, each a big-endian uint16 length and the leaf bytes, so
 * that SHA-256(0x00 || leaf) is the leaf hash in the tree (RFC 9162 §2.1.1).
 */

/** Tile height: 2^8 = 256 hashes or entries per full tile. */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Hash tile levels the spec allows (0..63); a 2^53-leaf tree needs at most 7 of them. */
const MAX_LEVEL = 63;

/** One tile: `level` is a hash level, or 'entries' for an entry bundle; `width` 1..256. */
export interface TileCoord {
  readonly level: number | 'entries';
  readonly index: number;
  readonly width: number;
}

const GROUP = /^[0-9]{3}$/;
const X_GROUP = /^x[0-9]{3}$/;
const LEVEL = /^(?:0|[1-9][0-9]?)$/;
const WIDTH = /^[1-9][0-9]{0,2}$/;

/**
 * Parses `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]` (the part after `tile/`), canonical only: N in
 * zero-padded groups of three digits, all but the last prefixed `x`, no leading all-zero group;
 * W in 1..255 without leading zeros. Anything else is undefined (never a throw).
 */
export function parseTilePath(path: string): TileCoord | undefined {
  if (path.length > 64) return undefined;
  const parts = path.split('/');
  const head = parts.shift();
  let level: number | 'entries';
  if (head === 'entries') level = 'entries';
  else if (head !== undefined && LEVEL.test(head) && Number(head) <= MAX_LEVEL) level = Number(head);
  else return undefined;
  let width = TILE_WIDTH;
  const last = parts.length - 1;
  if (last >= 1 && parts[last - 1]!.endsWith('.p')) {
    const w = parts[last]!;
    if (!WIDTH.test(w) || Number(w) >= TILE_WIDTH) return undefined;
    width = Number(w);
    parts.pop();
    parts[last - 1] = parts[last - 1]!.slice(0, -2);
  }
  if (parts.length === 0 || parts.length > 6) return undefined;
  let index = 0;
  for (let i = 0; i < parts.length; i++) {
    const g = parts[i]!;
    const isLast = i === parts.length - 1;
    if (!(isLast ? GROUP.test(g) : X_GROUP.test(g))) return undefined;
    const n = Number(isLast ? g : g.slice(1));
    if (i === 0 && n === 0 && !isLast) return undefined;
    index = index * 1000 + n;
  }
  if (!Number.isSafeInteger(index)) return undefined;
  return { level, index, width };
}

/** The canonical path of a tile, after `tile/` (the inverse of {@link parseTilePath}). */
export function tilePath(t: TileCoord): string {
  let n = t.index;
  let s = String(n % 1000).padStart(3, '0');
  while (n >= 1000) {
    n = Math.floor(n / 1000);
    s = `x${String(n % 1000).padStart(3, '0')}/${s}`;
  }
  return `${t.level}/${s}${t.width === TILE_WIDTH ? '' : `.p/${t.width}`}`;
}

/**
 * How many hashes (or entries) of tile `index` at `level` a tree of `size` leaves has: 0 when the
 * tile is beyond the tree, at most 256. Entry bundles count as level 0.
 */
export function tileWidthAt(level: number | 'entries', index: number, size: number): number {
  const span = 2 ** (TILE_HEIGHT * (level === 'entries' ? 0 : level));
  const complete = Math.floor(size / span) - index * TILE_WIDTH;
  return Math.max(0, Math.min(TILE_WIDTH, complete));
}

/** The leaf ranges [start, end) of the subtrees whose hashes hash tile `t` holds, in order. */
export function tileRanges(t: TileCoord & { level: number }): [number, number][] {
  const span = 2 ** (TILE_HEIGHT * t.level);
  const first = t.index * TILE_WIDTH;
  return Array.from({ length: t.width }, (_, i) => [(first + i) * span, (first + i + 1) * span]);
}

/** An entry bundle: each entry a big-endian uint16 length and its bytes. */
export function entryBundle(entries: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(entries.reduce((n, e) => n + 2 + e.length, 0));
  let at = 0;
  for (const e of entries) {
    if (e.length > 0xffff) throw new RangeError('an entry is longer than 65535 bytes');
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/** Concatenated 32-byte hashes: the body of a hash tile. */
export function hashTile(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * 32);
  for (const [i, h] of hashes.entries()) out.set(h, i * 32);
  return out;
}
