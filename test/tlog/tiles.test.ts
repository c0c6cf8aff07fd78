import { describe, expect, it } from 'vitest';
import { entryBundle, parseTilePath, tilePath, tileRanges, tileWidthAt } from '../../src/tlog/tiles.js';

/** C2SP tlog-tiles coordinates: canonical paths only, and which subtrees a tile holds. */
describe('tlog-tiles paths', () => {
  it('round-trips canonical paths, as Go sumdb/tlog writes them without the height', () => {
    const cases: [string, ReturnType<typeof parseTilePath>][] = [
      ['0/000', { level: 0, index: 0, width: 256 }],
      ['0/999', { level: 0, index: 999, width: 256 }],
      ['1/x001/234', { level: 1, index: 1234, width: 256 }],
      ['2/x001/x234/067.p/8', { level: 2, index: 1234067, width: 8 }],
      ['entries/x001/000.p/255', { level: 'entries', index: 1000, width: 255 }],
      ['63/000.p/1', { level: 63, index: 0, width: 1 }],
      ['0/x001/x002/x003/x004/x005/006', { level: 0, index: 1002003004005006, width: 256 }],
    ];
    for (const [path, tile] of cases) {
      expect(parseTilePath(path)).toEqual(tile);
      expect(tilePath(tile!)).toBe(path);
    }
  });

  it('refuses every other spelling', () => {
    for (const bad of [
      '',
      '0',
      '0/',
      '0/0',
      '0/0000',
      '0/x000/001',
      '0/x001',
      '0/001/002',
      '0/x01/002',
      '0/+01',
      '0/ 01',
      '0/001.p',
      '0/001.p/',
      '0/001.p/0',
      '0/001.p/256',
      '0/001.p/010',
      '0/001.p/1/',
      '0/x001.p/1/002',
      '00/000',
      '01/000',
      '64/000',
      '-1/000',
      'data/000',
      'entries',
      'entries/000/',
      '0/x009/x007/x199/x254/x740/992',
    ]) {
      expect([bad, parseTilePath(bad)]).toEqual([bad, undefined]);
    }
  });

  it('gives the width a tree has of each tile, and the subtrees a tile holds', () => {
    expect(tileWidthAt(0, 0, 700)).toBe(256);
    expect(tileWidthAt(0, 2, 700)).toBe(700 - 512);
    expect(tileWidthAt(0, 3, 700)).toBe(0);
    expect(tileWidthAt('entries', 2, 700)).toBe(700 - 512);
    expect(tileWidthAt(1, 0, 700)).toBe(2);
    expect(tileWidthAt(1, 0, 255)).toBe(0);
    expect(tileWidthAt(2, 0, 2 ** 16)).toBe(1);
    expect(tileWidthAt(60, 0, Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(tileRanges({ level: 1, index: 1, width: 2 })).toEqual([
      [65536, 65792],
      [65792, 66048],
    ]);
    expect(tileRanges({ level: 0, index: 0, width: 2 })).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });

  it('writes entry bundles as big-endian uint16 lengths and bytes', () => {
    const long = new Uint8Array(300).fill(7);
    expect(Buffer.from(entryBundle([Uint8Array.of(1, 2), long])).subarray(0, 6)).toEqual(
      Buffer.from([0, 2, 1, 2, 1, 44]),
    );
    expect(() => entryBundle([new Uint8Array(65536)])).toThrow(RangeError);
  });
});
