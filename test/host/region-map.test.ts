// The range Region.map() maps (lib/device/region-map.ts): defaults, and each refusal with its
// code, against a region with two mappable areas around a hole (as SPARSE_MMAP reports them).
import { mapWindow } from '../../lib/device/region-map';
import { InvalidArgumentError } from '../../lib/errors';
import { native } from '../../lib/addon/native';

const { PAGE_SIZE } = native().constants;
const P = BigInt(PAGE_SIZE);
const region = {
  name: 'BAR0',
  mappable: true,
  areas: [
    { offset: 0n, size: 2n * P },
    { offset: 4n * P, size: 4n * P },
  ],
  device: 'test',
};

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return { code: (e as InvalidArgumentError).code, message: (e as Error).message };
  }
  throw new Error('no refusal');
}

describe('the range Region.map() maps', () => {
  it('defaults to the first area, and to the rest of the area that holds the offset', () => {
    expect(mapWindow('map', undefined, undefined, region)).toEqual({ offset: 0n, length: 2 * PAGE_SIZE });
    expect(mapWindow('map', 5 * PAGE_SIZE, undefined, region)).toEqual({ offset: 5n * P, length: 3 * PAGE_SIZE });
    expect(mapWindow('map', 4n * P, PAGE_SIZE, region)).toEqual({ offset: 4n * P, length: PAGE_SIZE });
  });

  it('refuses an unmappable region, a hole, a misaligned offset and a range past its area', () => {
    expect(refusal(() => mapWindow('map', undefined, undefined, { ...region, mappable: false })).message).toMatch(
      /BAR0 cannot be mmapped/,
    );
    expect(refusal(() => mapWindow('map', undefined, undefined, { ...region, areas: [] })).message).toMatch(
      /cannot be mmapped/,
    );
    const hole = refusal(() => mapWindow('map', 2 * PAGE_SIZE, undefined, region));
    expect(hole).toEqual({ code: 'ERANGE', message: expect.stringMatching(/in no mappable area of BAR0 \(0x0\+/) });
    expect(refusal(() => mapWindow('map', 0x800, undefined, region)).message).toMatch(/not page-aligned/);
    const past = refusal(() => mapWindow('map', 0, 3 * PAGE_SIZE, region));
    expect(past).toEqual({ code: 'ERANGE', message: expect.stringMatching(/run past the mappable area/) });
    expect(refusal(() => mapWindow('map', 0, 0, region)).code).toBe('ERANGE');
  });
});
