// The framed calls (native/frame.h) and their slots: the one description of which number goes
// where. Argument i of a framed function goes to slot i. frame.ts takes its argument layouts
// from here, and test/host/frame-table.test.ts reads the C functions in native/*.cc and checks
// that each reads its slots in this order with these readers.

/**
 * How the C side reads a slot (FrameCall in native/frame.h): an fd, a u32, a mapping id (a DMA
 * buffer, mman.h), or a u64 given as a number below 2^53 or a bigint.
 */
export type SlotKind = 'fd' | 'u32' | 'id' | 'u64';

export interface FramedCall {
  /** The slots in order, named as the contract (contract.ts) names the arguments. */
  readonly slots: readonly (readonly [name: string, kind: SlotKind])[];
  /** Object arguments after the numbers (a Uint8Array), passed as real arguments, not in the frame. */
  readonly objects: number;
}

export const FRAMED_CALLS = {
  VFIO_IOMMU_MAP_DMA: {
    slots: [
      ['containerFd', 'fd'],
      ['mem', 'id'],
      ['offset', 'u64'],
      ['size', 'u64'],
      ['iova', 'u64'],
      ['flags', 'u32'],
    ],
    objects: 0,
  },
  VFIO_IOMMU_UNMAP_DMA: {
    slots: [
      ['containerFd', 'fd'],
      ['iova', 'u64'],
      ['size', 'u64'],
      ['flags', 'u32'],
    ],
    objects: 0,
  },
  IOMMU_IOAS_MAP: {
    slots: [
      ['iommufd', 'fd'],
      ['ioasId', 'u32'],
      ['mem', 'id'],
      ['offset', 'u64'],
      ['length', 'u64'],
      ['iova', 'u64'],
      ['flags', 'u32'],
    ],
    objects: 0,
  },
  IOMMU_IOAS_UNMAP: {
    slots: [
      ['iommufd', 'fd'],
      ['ioasId', 'u32'],
      ['iova', 'u64'],
      ['length', 'u64'],
    ],
    objects: 0,
  },
  VFIO_DEVICE_GET_REGION_INFO: {
    slots: [
      ['deviceFd', 'fd'],
      ['index', 'u32'],
    ],
    objects: 1,
  },
} as const satisfies Record<string, FramedCall>;

export type FramedName = keyof typeof FRAMED_CALLS;

/**
 * The argument layout frame.ts's general path walks: a letter per slot, 'n' for a number, 'a'
 * for an address or length (a number or a bigint).
 */
export function slotLayout(name: FramedName): string {
  const call: FramedCall = FRAMED_CALLS[name];
  return call.slots.map(([, kind]) => (kind === 'u64' ? 'a' : 'n')).join('');
}
