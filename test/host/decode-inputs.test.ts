// Decoders take bytes from callers in every shape JavaScript has; a shape they do not expect must
// give the same answer (a DataView over the same bytes) or a typed error, never "nothing" or a
// raw TypeError.
import { DecodeError, decodeIommuHwInfo, dirtyRanges, dirtyPageCount } from '../../lib/decode';
import { CloseError, InvalidArgumentError, VfioError, throwCloseErrors } from '../../lib/errors';

describe('dirtyRanges', () => {
  const bytes = new Uint8Array(8);
  bytes[0] = 0b0000_0110; // pages 1 and 2 dirty
  const want = [{ start: 0x10000n + 0x1000n, length: 0x2000n }];

  it.each([
    ['Uint8Array', bytes],
    ['ArrayBuffer', bytes.slice().buffer],
    ['DataView', new DataView(bytes.slice().buffer)],
    ['BigUint64Array', new BigUint64Array(bytes.slice().buffer)],
    [
      'Uint32Array over part of a larger buffer',
      (() => {
        const big = new Uint8Array(24);
        big.set(bytes, 8);
        return new Uint32Array(big.buffer, 8, 2);
      })(),
    ],
  ])('reads the same bits from a %s', (_name, bitmap) => {
    expect(dirtyRanges(bitmap, 0x10000n, 0x10000n)).toEqual(want);
    expect(dirtyPageCount(bitmap, 16)).toBe(2);
  });

  it('takes numbers as well as bigints for iova and length', () => {
    expect(dirtyRanges(bytes, 0x10000, 0x10000)).toEqual(want);
  });

  it('a typed error for something that is not bytes, or a bitmap too small', () => {
    expect(() => dirtyRanges('nope' as never, 0n, 4096n)).toThrow(InvalidArgumentError);
    expect(() => dirtyRanges(new Uint8Array(8), 0n, 4096n * 65n)).toThrow(InvalidArgumentError);
    expect(() => dirtyRanges(bytes, 0.5, 4096)).toThrow(/not an integer/);
  });
});

describe('decodeIommuHwInfo', () => {
  it.each([
    ['an empty answer', new BigUint64Array(0)],
    ['a 2-entry answer', new BigUint64Array(2)],
    ['a plain array', [0n, 0n, 0n] as unknown as BigUint64Array],
  ])('a DecodeError (a VfioError) on %s', (_n, out) => {
    let err: unknown;
    try {
      decodeIommuHwInfo(1, out, new Uint8Array(32));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect(err).toBeInstanceOf(VfioError);
    expect((err as VfioError).code).toBe('EDECODE');
  });

  it('a short data buffer of any kind is cut to what it holds', () => {
    const info = decodeIommuHwInfo(0, BigUint64Array.of(0n, 64n, 0n), new DataView(new ArrayBuffer(8)));
    expect(info.data.length).toBe(8);
  });
});

describe('close errors', () => {
  it('one CloseError with every cause, never an AggregateError', () => {
    const a = new InvalidArgumentError({ code: 'EINVAL', op: 'x' });
    const b = new Error('plain');
    let err: unknown;
    try {
      throwCloseErrors('Thing.close', [a, b], 'dev0');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CloseError);
    expect(err).toBeInstanceOf(VfioError);
    expect(err).not.toBeInstanceOf(AggregateError);
    expect(err).toMatchObject({ code: 'EINVAL', op: 'Thing.close', device: 'dev0', causes: [a, b], cause: a });
    expect(() => throwCloseErrors('x', [])).not.toThrow();
    expect(() => throwCloseErrors('x', [a])).toThrow(a);
  });
});
