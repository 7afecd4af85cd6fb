// Which VFIO_DEVICE_SET_IRQS calls turn one set of enabled vectors into another, with the ranges
// and the order vfio-pci needs (drivers/vfio/pci/vfio_pci_intrs.c). Pure: no device, no fds of
// its own, so every rule below is tested on any machine.
//
// The rules, for MSI and MSI-X:
// - The first DATA_EVENTFD|ACTION_TRIGGER call enables the index and allocates start+count
//   vectors, no more. A sparse set therefore goes in ONE call whose range reaches the highest
//   vector, with fd -1 in the holes (-1 on a vector without a handler is a no-op). Enabling {0}
//   and then {3} would allocate one vector and fail on the second call where resizing is not
//   supported.
// - Later DATA_EVENTFD calls set exactly the vectors in [start, start+count): an fd attaches,
//   -1 detaches. A vector at or beyond the allocation only works for MSI-X when the kernel can
//   allocate dynamically (VFIO_IRQ_INFO_NORESIZE clear); otherwise the index must be disabled
//   and enabled again with the larger range, which re-registers the vectors already in use.
// - Each call only covers new vectors (and holes): re-setting a live vector frees and requests
//   its interrupt again, and when a call fails the kernel detaches every vector of that call.
// - DATA_NONE|ACTION_TRIGGER with count 0 disables the whole index.
// INTx, ERR, REQ (and non-PCI indexes) have one vector: enable with its fd, disable with count 0.
import { VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_NONE } from '../abi';
import { describeValue, intArg, kindArgError, rangeArgError } from '../errors/args';

/** How an index behaves: 'msi' covers MSI and MSI-X (many vectors, allocated at enable). */
export type IrqKind = 'msi' | 'single';

export interface IndexShape {
  readonly index: number;
  readonly kind: IrqKind;
  /** Vectors the device has for this index (vfio_irq_info.count). */
  readonly count: number;
  /** The kernel can add vectors beyond the enable-time allocation (MSI-X without NORESIZE). */
  readonly resizable: boolean;
}

/** What is live on one index: vector → eventfd, and how many vectors the kernel allocated. */
export interface IndexState {
  readonly active: ReadonlyMap<number, number>;
  readonly allocated: number;
}

export const EMPTY_STATE: IndexState = { active: new Map(), allocated: 0 };

/** One VFIO_DEVICE_SET_IRQS call. `fds` is null for DATA_NONE, else one fd (or -1) per vector. */
export interface SetIrqsCall {
  readonly flags: number;
  readonly index: number;
  readonly start: number;
  readonly count: number;
  readonly fds: readonly number[] | null;
}

export interface Plan {
  readonly calls: readonly SetIrqsCall[];
  /** The state once every call succeeded. */
  readonly next: IndexState;
  /** The index is disabled and enabled again: vectors already live are re-registered. */
  readonly reenable: boolean;
}

const TRIGGER_EVENTFD = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
const TRIGGER_NONE = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;

/** DATA_NONE|ACTION_TRIGGER, count 0: the index is off and its vectors freed. */
export function disableCall(index: number): SetIrqsCall {
  return { flags: TRIGGER_NONE, index, start: 0, count: 0, fds: null };
}

/** DATA_NONE|ACTION_TRIGGER on one vector: the kernel signals its eventfd as the device would. */
export function triggerCall(index: number, vector: number): SetIrqsCall {
  return { flags: TRIGGER_NONE, index, start: vector, count: 1, fds: null };
}

/** One DATA_EVENTFD call over [start, end] (inclusive), -1 where `fds` has no entry. */
function eventfdCall(index: number, start: number, end: number, fds: ReadonlyMap<number, number>): SetIrqsCall {
  const out: number[] = [];
  for (let v = start; v <= end; v++) out.push(fds.get(v) ?? -1);
  return { flags: TRIGGER_EVENTFD, index, start, count: end - start + 1, fds: out };
}

/** Maximal runs of consecutive numbers in an ascending list: [[0,1],[3,3],[7,9]]. */
export function runs(sorted: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last && v === last[1] + 1) last[1] = v;
    else out.push([v, v]);
  }
  return out;
}

const ascending = (a: number, b: number): number => a - b;

/**
 * The calls that add `add` (vector → fd) to an index. `reserve` (MSI/MSI-X) makes a first enable
 * allocate at least that many vectors, so later additions below it need no re-enable. The
 * caller has checked the vectors (in range, not live, single-vector kinds only use vector 0).
 */
export function planAdd(shape: IndexShape, state: IndexState, add: ReadonlyMap<number, number>, reserve = 0): Plan {
  const vectors = [...add.keys()].sort(ascending);
  if (vectors.length === 0) return { calls: [], next: state, reenable: false };
  const union = new Map([...state.active, ...add]);
  const top = vectors[vectors.length - 1];

  if (state.active.size === 0) {
    // First enable: one call reaching the highest vector (and the reservation).
    const end = shape.kind === 'msi' ? Math.min(Math.max(top, reserve - 1), shape.count - 1) : top;
    const call = eventfdCall(shape.index, vectors[0], end, add);
    return { calls: [call], next: { active: union, allocated: end + 1 }, reenable: false };
  }

  if (top >= state.allocated && !shape.resizable) {
    // Off, then on again over the union: the only way to grow MSI or fixed-size MSI-X.
    const all = [...union.keys()].sort(ascending);
    const end = Math.min(Math.max(top, reserve - 1), shape.count - 1);
    return {
      calls: [disableCall(shape.index), eventfdCall(shape.index, all[0], end, union)],
      next: { active: union, allocated: end + 1 },
      reenable: true,
    };
  }

  // Within the allocation, or dynamically allocated MSI-X: one call per run of new vectors, so
  // no call touches a live vector.
  const calls = runs(vectors).map(([s, e]) => eventfdCall(shape.index, s, e, add));
  return { calls, next: { active: union, allocated: Math.max(state.allocated, top + 1) }, reenable: false };
}

/** The calls that detach `remove` from an index; the last vectors out disable it. */
export function planRemove(shape: IndexShape, state: IndexState, remove: readonly number[]): Plan {
  const gone = [...new Set(remove)].filter((v) => state.active.has(v)).sort(ascending);
  if (gone.length === 0) return { calls: [], next: state, reenable: false };
  const left = new Map([...state.active].filter(([v]) => !gone.includes(v)));
  if (left.size === 0) return { calls: [disableCall(shape.index)], next: EMPTY_STATE, reenable: false };
  // The allocation stays: the kernel frees vectors only when the index is disabled.
  const none = new Map<number, number>();
  const calls = runs(gone).map(([s, e]) => eventfdCall(shape.index, s, e, none));
  return { calls, next: { active: left, allocated: state.allocated }, reenable: false };
}

/**
 * The vectors an enable() request names: an explicit list, or `count` vectors from 0. A list
 * that is not an array or a count that is not a safe integer is an InvalidArgumentError; a count
 * past `limit` (the index's vector count) yields limit + 1 vectors, so that the range check names
 * the first one out of range without building a list of any length the caller wrote.
 */
export function requestedVectors(
  o: { vectors?: readonly number[]; count?: number },
  op = 'IrqIndex.enable',
  limit = Number.MAX_SAFE_INTEGER - 1,
): number[] {
  if (o.vectors !== undefined) {
    if (!Array.isArray(o.vectors))
      throw kindArgError(op, `vectors is ${describeValue(o.vectors)}: give an array of vector numbers`);
    if (o.vectors.length > limit)
      throw rangeArgError(op, `${o.vectors.length} vectors asked for: the index has ${limit}`);
    return [...o.vectors];
  }
  const n = o.count === undefined ? 1 : intArg(op, 'count', o.count);
  return Array.from({ length: Math.min(n, limit + 1) }, (_, i) => i);
}
