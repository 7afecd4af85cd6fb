// The JavaScript half of the call frame (native/frame.h): the DMA map and unmap functions of
// both backends and GET_REGION_INFO take their numbers through a small array the addon owns
// instead of as arguments, because unpacking each argument is a Node-API call of its own, and
// those calls are a large share of a small map+unmap pair under emulation (docs/measurements.md).
// These wrappers keep the signatures of the Native contract (lib/addon/native.ts), so nothing above
// this file knows the frame exists.
//
// Type checks stay where they were for callers: a wrong type is a TypeError naming the argument;
// a number out of range or not an integer is -EINVAL from the addon, which checks every slot.
import { constants as osConstants } from 'os';
import type { Native, U64n } from './contract';
import { slotLayout } from './frame-table';

/** The framed functions as the addon exports them: numbers in the frame, objects as arguments. */
export interface FramedAddon {
  /** 9 slots of 8 bytes; see native/frame.h for the layout. */
  readonly frame: ArrayBuffer;
  VFIO_IOMMU_MAP_DMA(): void;
  VFIO_IOMMU_UNMAP_DMA(): void;
  IOMMU_IOAS_MAP(): void;
  IOMMU_IOAS_UNMAP(): void;
  VFIO_DEVICE_GET_REGION_INFO(buf: Uint8Array): void;
}

export type FramedFunctions = Pick<
  Native,
  'VFIO_IOMMU_MAP_DMA' | 'VFIO_IOMMU_UNMAP_DMA' | 'IOMMU_IOAS_MAP' | 'IOMMU_IOAS_UNMAP' | 'VFIO_DEVICE_GET_REGION_INFO'
>;

const KINDS = 7;
const RESULT = 8;
const U64_LIMIT = 1n << 64n;
const EINVAL = osConstants.errno.EINVAL;

/** Wrappers with the Native contract's signatures over the addon's framed functions. */
export function framedFunctions(addon: FramedAddon): FramedFunctions {
  const f64 = new Float64Array(addon.frame, 0, 9);
  const u64 = new BigUint64Array(addon.frame, 0, 9);
  // Taken once: the addon's exports object is in dictionary mode, and a property load from it
  // on every call goes through the generic load path (docs/measurements.md).
  const {
    VFIO_IOMMU_MAP_DMA: mapDma,
    VFIO_IOMMU_UNMAP_DMA: unmapDma,
    IOMMU_IOAS_MAP: ioasMap,
    IOMMU_IOAS_UNMAP: ioasUnmap,
    VFIO_DEVICE_GET_REGION_INFO: regionInfo,
  } = addon;
  let kinds = 0;
  // Each function's argument layout, from the one table of slots.
  const mapDmaLayout = slotLayout('VFIO_IOMMU_MAP_DMA');
  const unmapDmaLayout = slotLayout('VFIO_IOMMU_UNMAP_DMA');
  const ioasMapLayout = slotLayout('IOMMU_IOAS_MAP');
  const ioasUnmapLayout = slotLayout('IOMMU_IOAS_UNMAP');

  /** A number slot: fds, ids, flags. */
  function num(slot: number, v: number, arg: number): void {
    if (typeof v !== 'number') throw new TypeError(`vfio native: argument ${arg} must be a number`);
    f64[slot] = v;
  }
  /** An address or length: a number (the addon checks it is an integer up to 2^53) or a bigint. */
  function addr(slot: number, v: U64n, arg: number): boolean {
    if (typeof v === 'number') {
      f64[slot] = v;
      return true;
    }
    if (typeof v !== 'bigint') throw new TypeError(`vfio native: argument ${arg} must be a bigint or a number`);
    if (v < 0n || v >= U64_LIMIT) return false;
    u64[slot] = v;
    kinds |= 1 << slot;
    return true;
  }
  /** Starts a call: no slot holds a bigint yet. */
  function begin(): void {
    kinds = 0;
  }
  /** Publishes which slots hold bigints; false (the call is -EINVAL) when one was out of range. */
  function ready(inRange: boolean): boolean {
    f64[KINDS] = kinds;
    return inRange;
  }
  /**
   * The general path, out of line so that each wrapper stays small enough for V8 to inline
   * into its caller (DmaSpace.map, say): every argument type, bigints included. `layout` has
   * a letter per argument (frame-table.ts: slotLayout), which goes to the slot of the same
   * index: 'n' a number, 'a' an address or length (a number or a bigint).
   */
  function general(layout: string, ...args: unknown[]): boolean {
    begin();
    let ok = true;
    for (let i = 0; i < layout.length; i++) {
      if (layout[i] === 'n') num(i, args[i] as number, i);
      else ok = addr(i, args[i] as U64n, i) && ok;
    }
    return ready(ok);
  }
  // Each DMA function first tries the library's own call, every argument a number: straight
  // into the frame, a shorter path than the general one, which also takes bigints and names the
  // argument of a TypeError (docs/measurements.md).
  return {
    VFIO_IOMMU_MAP_DMA(containerFd, mem, offset, size, iova, flags) {
      if (
        typeof containerFd === 'number' &&
        typeof mem === 'number' &&
        typeof offset === 'number' &&
        typeof size === 'number' &&
        typeof iova === 'number' &&
        typeof flags === 'number'
      ) {
        f64[0] = containerFd;
        f64[1] = mem;
        f64[2] = offset;
        f64[3] = size;
        f64[4] = iova;
        f64[5] = flags;
        f64[KINDS] = 0;
      } else if (!general(mapDmaLayout, containerFd, mem, offset, size, iova, flags)) {
        return -EINVAL;
      }
      mapDma();
      return f64[RESULT];
    },
    VFIO_IOMMU_UNMAP_DMA(containerFd, iova, size, flags) {
      if (
        typeof containerFd === 'number' &&
        typeof iova === 'number' &&
        typeof size === 'number' &&
        typeof flags === 'number'
      ) {
        f64[0] = containerFd;
        f64[1] = iova;
        f64[2] = size;
        f64[3] = flags;
        f64[KINDS] = 0;
      } else if (!general(unmapDmaLayout, containerFd, iova, size, flags)) {
        return -EINVAL;
      }
      unmapDma();
      return f64[RESULT];
    },
    IOMMU_IOAS_MAP(iommufd, ioasId, mem, offset, length, iova, flags) {
      if (
        typeof iommufd === 'number' &&
        typeof ioasId === 'number' &&
        typeof mem === 'number' &&
        typeof offset === 'number' &&
        typeof length === 'number' &&
        typeof iova === 'number' &&
        typeof flags === 'number'
      ) {
        f64[0] = iommufd;
        f64[1] = ioasId;
        f64[2] = mem;
        f64[3] = offset;
        f64[4] = length;
        f64[5] = iova;
        f64[6] = flags;
        f64[KINDS] = 0;
      } else if (!general(ioasMapLayout, iommufd, ioasId, mem, offset, length, iova, flags)) {
        return -EINVAL;
      }
      ioasMap();
      // The IOVA the kernel used: a number below 2^53, else (the addon set bit 8 of kinds) a bigint.
      return f64[KINDS] === 0 ? f64[RESULT] : u64[RESULT];
    },
    IOMMU_IOAS_UNMAP(iommufd, ioasId, iova, length) {
      if (
        typeof iommufd === 'number' &&
        typeof ioasId === 'number' &&
        typeof iova === 'number' &&
        typeof length === 'number'
      ) {
        f64[0] = iommufd;
        f64[1] = ioasId;
        f64[2] = iova;
        f64[3] = length;
        f64[KINDS] = 0;
      } else if (!general(ioasUnmapLayout, iommufd, ioasId, iova, length)) {
        return -EINVAL;
      }
      ioasUnmap();
      return f64[RESULT];
    },
    VFIO_DEVICE_GET_REGION_INFO(deviceFd, index, buf) {
      begin();
      num(0, deviceFd, 0);
      num(1, index, 1);
      ready(true);
      regionInfo(buf);
      return f64[RESULT];
    },
  };
}
