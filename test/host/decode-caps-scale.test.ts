// The capability walk must cost in proportion to the chain, whatever order the chain takes: a
// 1 MiB info buffer holds 131,000 caps. Counted in byte reads rather than timed, so a slow or
// loaded machine cannot make it pass or fail.
import { DecodeError, walkCapChain } from '../../lib/decode';

const FIXED = 24;

/** An info buffer of `n` 8-byte caps after a 24-byte fixed part, chained in `order`. */
function chain(n: number, order: 'ascending' | 'descending' | 'shuffled'): { buf: Uint8Array; first: number } {
  const buf = new Uint8Array(FIXED + n * 8);
  const dv = new DataView(buf.buffer);
  const slots = Array.from({ length: n }, (_, i) => FIXED + i * 8);
  if (order === 'descending') slots.reverse();
  if (order === 'shuffled') {
    let seed = 12345;
    for (let i = n - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const j = seed % (i + 1);
      [slots[i], slots[j]] = [slots[j], slots[i]];
    }
  }
  slots.forEach((at, i) => {
    dv.setUint16(at, i & 0xffff, true);
    dv.setUint32(at + 4, i + 1 < n ? slots[i + 1] : 0, true);
  });
  return { buf, first: slots[0] };
}

/** The same bytes behind a proxy that counts indexed reads. */
function counting(buf: Uint8Array): { view: Uint8Array; reads: () => number } {
  let reads = 0;
  const view = new Proxy(buf, {
    get(target, key) {
      if (typeof key === 'string' && key.length > 0 && key.charCodeAt(0) <= 57) reads++;
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { view, reads: () => reads };
}

describe('walkCapChain at scale', () => {
  it.each(['ascending', 'descending', 'shuffled'] as const)(
    'reads each byte a bounded number of times (%s chain)',
    (order) => {
      const per: number[] = [];
      for (const n of [500, 2000]) {
        const { buf, first } = chain(n, order);
        const { view, reads } = counting(buf);
        const caps = walkCapChain(view, first, FIXED, buf.length, 'test');
        expect(caps).toHaveLength(n);
        per.push(reads() / n);
      }
      // A walk that re-scans the chain for each cap reads O(n) bytes per cap: 4x more at 2000 caps
      // than at 500. A linear one reads a constant number.
      expect(per[1]).toBeLessThan(per[0] * 1.5);
      expect(per[1]).toBeLessThan(64);
    },
  );

  it.each(['ascending', 'descending', 'shuffled'] as const)(
    'walks a 1 MiB buffer of caps (%s) with correct lengths',
    (order) => {
      const n = ((1 << 20) - FIXED) / 8;
      const { buf, first } = chain(n, order);
      const caps = walkCapChain(buf, first, FIXED, buf.length, 'test');
      expect(caps).toHaveLength(n);
      expect(caps.filter((c) => c.length !== 8)).toHaveLength(0);
      expect(caps[0].offset).toBe(first);
    },
  );

  it('still rejects a loop in a long chain', () => {
    const { buf } = chain(4096, 'ascending');
    new DataView(buf.buffer).setUint32(FIXED + 4095 * 8 + 4, FIXED + 100 * 8, true);
    expect(() => walkCapChain(buf, FIXED, FIXED, buf.length, 'test')).toThrow(DecodeError);
    expect(() => walkCapChain(buf, FIXED, FIXED, buf.length, 'test')).toThrow(/loops/);
  });
});
