import { VfioError } from '../../lib/errors';
import { DecodeError, copyBytes, i32, isDecodeError, putU32, putU64, u16, u32, u64, u8 } from '../../lib/decode';
import { needsLargerBuffer, requestedArgsz, walkCapChain } from '../../lib/decode/caps';
import { Bytes, patchU32, withCaps } from '../fixtures/build';
import { must } from '../support/must';

describe('little-endian readers', () => {
  const buf = new Bytes().u8(0x01).u16(0xbeef).u32(0xfffffffe).u64(0x0123456789abcdefn).done();

  it('read each width little-endian, u32 without sign, u64 as bigint', () => {
    expect(u8(buf, 0)).toBe(0x01);
    expect(u16(buf, 1)).toBe(0xbeef);
    expect(u32(buf, 3)).toBe(0xfffffffe);
    expect(i32(buf, 3)).toBe(-2);
    expect(u64(buf, 7)).toBe(0x0123456789abcdefn);
  });

  it('respect a subarray’s byteOffset', () => {
    expect(u16(buf.subarray(1), 0)).toBe(0xbeef);
  });

  it('throw a DecodeError with op and offset on a read past the end', () => {
    let err: unknown;
    try {
      u32(buf, 13, 'thing');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    // One hierarchy: a caller catching the package's errors catches decode failures too.
    expect(err).toBeInstanceOf(VfioError);
    expect(isDecodeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'EDECODE', op: 'thing', offset: 13, name: 'DecodeError' });
    expect(() => u8(buf, -1)).toThrow(DecodeError);
    expect(() => u64(buf, 8)).toThrow(/past the end/);
  });

  it('copyBytes returns a copy, not a view', () => {
    const c = copyBytes(buf, 1, 3);
    buf[1] = 0;
    expect(Array.from(c)).toEqual([0xef, 0xbe]);
    buf[1] = 0xef;
  });

  it('writers round-trip', () => {
    const out = new Uint8Array(12);
    putU32(out, 0, -1);
    putU64(out, 4, 0xfedcba9876543210n);
    expect(u32(out, 0)).toBe(0xffffffff);
    expect(u64(out, 4)).toBe(0xfedcba9876543210n);
    expect(() => putU32(out, 10, 1)).toThrow(DecodeError);
  });
});

describe('capability chain walker', () => {
  const fixed = new Uint8Array(24);
  const caps = [
    { id: 7, version: 2, body: new Uint8Array([1, 2, 3, 4]) },
    { id: 9, body: new Uint8Array(8) },
  ];

  it('follows next pointers and bounds each cap by the next one', () => {
    const { bytes, offsets } = withCaps(fixed, 16, caps);
    expect(offsets).toEqual([24, 40]);
    const chain = walkCapChain(bytes, 24, 24, bytes.length, 'test');
    expect(chain.map((c) => [c.id, c.version, c.offset])).toEqual([
      [7, 2, 24],
      [9, 1, 40],
    ]);
    expect(chain[0].bytes.length).toBe(16);
    expect(chain[1].bytes.length).toBe(16);
  });

  it('returns nothing for cap_offset 0', () => {
    expect(walkCapChain(new Uint8Array(24), 0, 24, 24, 'test')).toEqual([]);
  });

  it('rejects a loop instead of hanging', () => {
    const { bytes } = withCaps(fixed, 16, caps);
    patchU32(bytes, 40 + 4, 24); // second cap points back at the first
    expect(() => walkCapChain(bytes, 24, 24, bytes.length, 'test')).toThrow(/loops/);
  });

  it('rejects a cap pointing at itself', () => {
    const { bytes } = withCaps(fixed, 16, caps.slice(0, 1));
    patchU32(bytes, 24 + 4, 24);
    expect(() => walkCapChain(bytes, 24, 24, bytes.length, 'test')).toThrow(/loops/);
  });

  it('rejects next pointing outside the data', () => {
    const { bytes } = withCaps(fixed, 16, caps);
    patchU32(bytes, 24 + 4, 0x1000);
    expect(() => walkCapChain(bytes, 24, 24, bytes.length, 'test')).toThrow(DecodeError);
  });

  it('rejects an offset inside the fixed part', () => {
    const { bytes } = withCaps(fixed, 16, caps);
    expect(() => walkCapChain(bytes, 8, 24, bytes.length, 'test')).toThrow(/fixed part/);
  });

  it('rejects a truncated header, reporting its offset', () => {
    const { bytes } = withCaps(fixed, 16, caps);
    const cut = bytes.subarray(0, 44);
    let err: DecodeError | undefined;
    try {
      walkCapChain(cut, 24, 24, cut.length, 'test');
    } catch (e) {
      err = e as DecodeError;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect(must(err, 'err').offset).toBe(40);
  });

  it('only trusts bytes within the limit (argsz), even if the buffer is longer', () => {
    const { bytes } = withCaps(fixed, 16, caps);
    expect(() => walkCapChain(bytes, 24, 24, 40, 'test')).toThrow(/does not fit/);
  });

  it('argsz helpers tell when the kernel wants a bigger buffer', () => {
    const small = patchU32(new Uint8Array(32), 0, 0x48);
    expect(requestedArgsz(small)).toBe(0x48);
    expect(needsLargerBuffer(small)).toBe(true);
    expect(needsLargerBuffer(patchU32(new Uint8Array(32), 0, 32))).toBe(false);
  });
});
