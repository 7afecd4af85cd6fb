// struct vfio_device_info (VFIO_DEVICE_GET_INFO) and its caps.
import {
  SIZEOF,
  VFIO_DEVICE_FLAGS_AMBA,
  VFIO_DEVICE_FLAGS_AP,
  VFIO_DEVICE_FLAGS_CAPS,
  VFIO_DEVICE_FLAGS_CCW,
  VFIO_DEVICE_FLAGS_CDX,
  VFIO_DEVICE_FLAGS_FSL_MC,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_PLATFORM,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP,
  VFIO_DEVICE_INFO_CAP_ZPCI_BASE,
  VFIO_DEVICE_INFO_CAP_ZPCI_GROUP,
  VFIO_DEVICE_INFO_CAP_ZPCI_PFIP,
  VFIO_DEVICE_INFO_CAP_ZPCI_UTIL,
  VFIO_PCI_ATOMIC_COMP128,
  VFIO_PCI_ATOMIC_COMP32,
  VFIO_PCI_ATOMIC_COMP64,
} from '../abi';
import { u32 } from './bytes';
import { RawCap, UnknownCap, dataLimit, requireCapSize, unknownCap, walkCapChain } from './caps';
import { DecodeError } from './errors';

/** sizeof(struct vfio_device_info). */
export const DEVICE_INFO_SIZE = SIZEOF.vfio_device_info;
const OP = 'vfio_device_info';

/** VFIO_DEVICE_FLAGS_*: what kind of device and what it supports. */
export interface DeviceFlags {
  /** VFIO_DEVICE_RESET is supported. */
  readonly reset: boolean;
  /** A PCI device (vfio-pci). */
  readonly pci: boolean;
  /** A platform device (vfio-platform). */
  readonly platform: boolean;
  /** An ARM AMBA device. */
  readonly amba: boolean;
  /** An s390 channel I/O device. */
  readonly ccw: boolean;
  /** An s390 adjunct processor (crypto) device. */
  readonly ap: boolean;
  /** A Freescale Management Complex device. */
  readonly fslMc: boolean;
  /** The info struct has a capability chain. */
  readonly caps: boolean;
  /** An AMD CDX device. */
  readonly cdx: boolean;
}

/** The PCI atomic completer capability (VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP). */
export interface PciAtomicCompCap {
  /** Discriminant. */
  readonly type: 'pci-atomic-comp';
  /** The raw flags word. */
  readonly flags: number;
  /** 32-bit AtomicOp completion is supported by the root port. */
  readonly comp32: boolean;
  /** 64-bit AtomicOp completion is supported. */
  readonly comp64: boolean;
  /** 128-bit CAS completion is supported. */
  readonly comp128: boolean;
}

/** s390 zPCI caps: named, with their bytes kept (their layouts matter only on s390). */
export interface ZpciCap {
  /** Discriminant. */
  readonly type: 'zpci';
  /** Which zPCI cap: base, group, util or PFIP. */
  readonly kind: 'base' | 'group' | 'util' | 'pfip';
  /** The capability id (1-4). */
  readonly id: number;
  /** The capability's version. */
  readonly version: number;
  /** A copy of the cap's bytes, header included. */
  readonly bytes: Uint8Array;
}

/** A capability of vfio_device_info's chain; narrow on `type`. */
export type DeviceCap = PciAtomicCompCap | ZpciCap | UnknownCap;

/** struct vfio_device_info (VFIO_DEVICE_GET_INFO), decoded. */
export interface DeviceInfo {
  /** Bytes the kernel needs for the whole struct with its caps. */
  readonly argsz: number;
  /** The flags word as the kernel wrote it. */
  readonly rawFlags: number;
  /** The flags, decoded. */
  readonly flags: DeviceFlags;
  /** Number of regions (9 on vfio-pci, more with device-specific regions). */
  readonly numRegions: number;
  /** Number of IRQ indexes (5 on vfio-pci). */
  readonly numIrqs: number;
  /** Offset of the first capability in the struct, 0 when none. */
  readonly capOffset: number;
  /** The decoded capability chain. */
  readonly caps: readonly DeviceCap[];
}

const ZPCI_KINDS: Readonly<Record<number, ZpciCap['kind']>> = {
  [VFIO_DEVICE_INFO_CAP_ZPCI_BASE]: 'base',
  [VFIO_DEVICE_INFO_CAP_ZPCI_GROUP]: 'group',
  [VFIO_DEVICE_INFO_CAP_ZPCI_UTIL]: 'util',
  [VFIO_DEVICE_INFO_CAP_ZPCI_PFIP]: 'pfip',
};

function decodeAtomicComp(cap: RawCap): PciAtomicCompCap {
  const op = `${OP}: PCI_ATOMIC_COMP cap`;
  requireCapSize(cap, 16, op, 'PCI_ATOMIC_COMP');
  const flags = cap.u32(8, op);
  return {
    type: 'pci-atomic-comp',
    flags,
    comp32: (flags & VFIO_PCI_ATOMIC_COMP32) !== 0,
    comp64: (flags & VFIO_PCI_ATOMIC_COMP64) !== 0,
    comp128: (flags & VFIO_PCI_ATOMIC_COMP128) !== 0,
  };
}

function decodeDeviceCap(cap: RawCap): DeviceCap {
  if (cap.id === VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP) return decodeAtomicComp(cap);
  const kind = ZPCI_KINDS[cap.id];
  if (kind) return { type: 'zpci', kind, id: cap.id, version: cap.version, bytes: cap.buf.slice(cap.offset, cap.end) };
  return unknownCap(cap);
}

function deviceFlags(raw: number): DeviceFlags {
  const has = (bit: number): boolean => (raw & bit) !== 0;
  return {
    reset: has(VFIO_DEVICE_FLAGS_RESET),
    pci: has(VFIO_DEVICE_FLAGS_PCI),
    platform: has(VFIO_DEVICE_FLAGS_PLATFORM),
    amba: has(VFIO_DEVICE_FLAGS_AMBA),
    ccw: has(VFIO_DEVICE_FLAGS_CCW),
    ap: has(VFIO_DEVICE_FLAGS_AP),
    fslMc: has(VFIO_DEVICE_FLAGS_FSL_MC),
    caps: has(VFIO_DEVICE_FLAGS_CAPS),
    cdx: has(VFIO_DEVICE_FLAGS_CDX),
  };
}

/** Decodes a buffer filled by VFIO_DEVICE_GET_INFO (fixed part plus any caps). */
export function decodeDeviceInfo(buf: Uint8Array): DeviceInfo {
  if (buf.length < DEVICE_INFO_SIZE) {
    throw new DecodeError(OP, 0, `buffer of ${buf.length} bytes is shorter than the ${DEVICE_INFO_SIZE}-byte struct`);
  }
  const argsz = u32(buf, 0, OP);
  const rawFlags = u32(buf, 4, OP);
  const capOffset = u32(buf, 16, OP);
  const caps = walkCapChain(buf, capOffset, DEVICE_INFO_SIZE, dataLimit(buf, argsz), OP, decodeDeviceCap);
  return {
    argsz,
    rawFlags,
    flags: deviceFlags(rawFlags),
    numRegions: u32(buf, 8, OP),
    numIrqs: u32(buf, 12, OP),
    capOffset,
    caps,
  };
}
