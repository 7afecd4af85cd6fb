// The SET_IRQS calls planned for sparse sets, additions and removals, checked call by call and
// against a model of vfio-pci that fails where the kernel would.
import * as abi from '../../lib/abi';
import {
  EMPTY_STATE,
  IndexShape,
  IndexState,
  disableCall,
  planAdd,
  planRemove,
  requestedVectors,
  runs,
} from '../../lib/irq/plan';
import { VfioPciModel } from './irq-kernel';

const EVENTFD = abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER;
const NONE = abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_TRIGGER;
const MSIX = abi.VFIO_PCI_MSIX_IRQ_INDEX;

const msix = (resizable: boolean): IndexShape => ({ index: MSIX, kind: 'msi', count: 65, resizable });
const msi: IndexShape = { index: abi.VFIO_PCI_MSI_IRQ_INDEX, kind: 'msi', count: 32, resizable: false };
const fds = (...pairs: [number, number][]): Map<number, number> => new Map(pairs);
const state = (allocated: number, ...pairs: [number, number][]): IndexState => ({ active: fds(...pairs), allocated });

describe('first enable', () => {
  it('puts a sparse set in one call that reaches the highest vector, -1 in the holes', () => {
    const p = planAdd(msix(true), EMPTY_STATE, fds([0, 10], [3, 13]));
    expect(p.calls).toEqual([{ flags: EVENTFD, index: MSIX, start: 0, count: 4, fds: [10, -1, -1, 13] }]);
    expect(p.next.allocated).toBe(4);
    expect([...p.next.active]).toEqual([
      [0, 10],
      [3, 13],
    ]);
    expect(p.reenable).toBe(false);
  });

  it('starts at the lowest vector (the kernel still allocates 0..highest)', () => {
    const p = planAdd(msix(false), EMPTY_STATE, fds([5, 15], [3, 13]));
    expect(p.calls).toEqual([{ flags: EVENTFD, index: MSIX, start: 3, count: 3, fds: [13, -1, 15] }]);
    expect(p.next.allocated).toBe(6);
  });

  it('reserves vectors up to `reserve`, never beyond the device', () => {
    expect(planAdd(msix(false), EMPTY_STATE, fds([0, 10]), 8).calls[0]).toMatchObject({ start: 0, count: 8 });
    expect(planAdd(msix(false), EMPTY_STATE, fds([0, 10]), 8).next.allocated).toBe(8);
    expect(planAdd(msix(false), EMPTY_STATE, fds([0, 10]), 100).calls[0]).toMatchObject({ count: 65 });
  });

  it('enables a single-vector index with its one fd', () => {
    const intx: IndexShape = { index: 0, kind: 'single', count: 1, resizable: false };
    expect(planAdd(intx, EMPTY_STATE, fds([0, 7])).calls).toEqual([
      { flags: EVENTFD, index: 0, start: 0, count: 1, fds: [7] },
    ]);
  });
});

describe('additions', () => {
  const live = state(4, [0, 10], [3, 13]);

  it('inside the allocation: one call per run of new vectors, never touching a live one', () => {
    const p = planAdd(msix(false), live, fds([1, 11], [2, 12]));
    expect(p.calls).toEqual([{ flags: EVENTFD, index: MSIX, start: 1, count: 2, fds: [11, 12] }]);
    expect(p.reenable).toBe(false);
  });

  it('beyond the allocation with dynamic MSI-X: just the new vector', () => {
    const p = planAdd(msix(true), live, fds([7, 17]));
    expect(p.calls).toEqual([{ flags: EVENTFD, index: MSIX, start: 7, count: 1, fds: [17] }]);
    expect(p.next.allocated).toBe(8);
    expect([...p.next.active.keys()]).toEqual([0, 3, 7]);
  });

  it('splits around live vectors: {5,6,9} next to a live 7 is two calls', () => {
    const p = planAdd(msix(true), state(8, [7, 17]), fds([5, 15], [6, 16], [9, 19]));
    expect(p.calls.map((c) => [c.start, c.count, c.fds])).toEqual([
      [5, 2, [15, 16]],
      [9, 1, [19]],
    ]);
  });

  it('beyond the allocation of fixed-size MSI-X: off, then on again over the union', () => {
    const p = planAdd(msix(false), live, fds([7, 17]));
    expect(p.calls).toEqual([
      disableCall(MSIX),
      { flags: EVENTFD, index: MSIX, start: 0, count: 8, fds: [10, -1, -1, 13, -1, -1, -1, 17] },
    ]);
    expect(p.reenable).toBe(true);
    expect(p.next.allocated).toBe(8);
  });

  it('MSI never resizes in place', () => {
    const p = planAdd(msi, state(1, [0, 10]), fds([1, 11]));
    expect(p.calls.map((c) => c.flags)).toEqual([NONE, EVENTFD]);
    expect(p.calls[1]).toMatchObject({ start: 0, count: 2, fds: [10, 11] });
  });
});

describe('removals', () => {
  const live = state(8, [0, 10], [3, 13], [4, 14], [7, 17]);

  it('detaches runs with fd -1 and keeps the allocation', () => {
    const p = planRemove(msix(true), live, [4, 3]);
    expect(p.calls).toEqual([{ flags: EVENTFD, index: MSIX, start: 3, count: 2, fds: [-1, -1] }]);
    expect(p.next.allocated).toBe(8);
    expect([...p.next.active.keys()]).toEqual([0, 7]);
  });

  it('the last vectors out disable the index', () => {
    expect(planRemove(msix(true), live, [0, 3, 4, 7]).calls).toEqual([
      { flags: NONE, index: MSIX, start: 0, count: 0, fds: null },
    ]);
    expect(planRemove(msix(true), live, [0, 3, 4, 7]).next).toEqual(EMPTY_STATE);
  });

  it('ignores vectors that are not live', () => {
    expect(planRemove(msix(true), live, [1, 2]).calls).toEqual([]);
  });
});

describe('helpers', () => {
  it('runs', () => {
    expect(runs([0, 1, 3, 7, 8, 9])).toEqual([
      [0, 1],
      [3, 3],
      [7, 9],
    ]);
    expect(runs([])).toEqual([]);
  });

  it('requestedVectors: explicit list, a count from 0, or vector 0', () => {
    expect(requestedVectors({ vectors: [5, 1] })).toEqual([5, 1]);
    expect(requestedVectors({ count: 3 })).toEqual([0, 1, 2]);
    expect(requestedVectors({})).toEqual([0]);
  });
});

describe('every plan is accepted by the vfio-pci model', () => {
  // A deterministic pseudo-random walk of additions and removals on MSI-X, with and without
  // dynamic allocation: each planned call must succeed, and the model must end up with exactly
  // the vectors the plan says are live, each on its own fd.
  function walk(dyn: boolean, seed: number): void {
    const model = new VfioPciModel({ intx: false, msi: 0, msix: 65, dynMsix: dyn });
    const shape = msix(dyn);
    let st: IndexState = EMPTY_STATE;
    let x = seed;
    const rnd = (n: number): number => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x % n;
    };
    for (let step = 0; step < 60; step++) {
      const live = [...st.active.keys()];
      const add = rnd(3) !== 0 || live.length === 0;
      let plan;
      if (add) {
        const want = new Map<number, number>();
        for (let k = rnd(4) + 1; k > 0; k--) {
          const v = rnd(40);
          if (!st.active.has(v) && !want.has(v)) want.set(v, model.fds.tap(v, () => undefined).fd);
        }
        plan = planAdd(shape, st, want, rnd(5) === 0 ? rnd(48) : 0);
      } else {
        plan = planRemove(
          shape,
          st,
          live.filter(() => rnd(2) === 0),
        );
      }
      for (const c of plan.calls) expect(model.setIrqs(c)).toBe(0);
      st = plan.next;
      expect([...model.ctx].sort((a, b) => a[0] - b[0])).toEqual([...st.active].sort((a, b) => a[0] - b[0]));
    }
  }

  it.each([1, 2, 3, 4, 5])('fixed-size MSI-X, seed %d', (seed) => walk(false, seed));
  it.each([1, 2, 3, 4, 5])('dynamic MSI-X, seed %d', (seed) => walk(true, seed));

  it('the naive order (lowest vector first, one call each) fails on fixed-size MSI-X', () => {
    const model = new VfioPciModel({ intx: false, msi: 0, msix: 65 });
    const a = model.fds.tap(0, () => undefined).fd;
    const b = model.fds.tap(3, () => undefined).fd;
    expect(model.setIrqs({ flags: EVENTFD, index: MSIX, start: 0, count: 1, fds: [a] })).toBe(0);
    expect(model.setIrqs({ flags: EVENTFD, index: MSIX, start: 3, count: 1, fds: [b] })).toBeLessThan(0);
  });
});
