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

export interface DeviceFlags {
  readonly reset: boolean;
  readonly pci: boolean;
  readonly platform: boolean;
  readonly amba: boolean;
  readonly ccw: boolean;
  readonly ap: boolean;
  readonly fslMc: boolean;
  readonly caps: boolean;
  readonly cdx: boolean;
}

export interface PciAtomicCompCap {
  readonly type: 'pci-atomic-comp';
  readonly flags: number;
  readonly comp32: boolean;
  readonly comp64: boolean;
  readonly comp128: boolean;
}

/** s390 zPCI caps: named, with their bytes kept (their layouts matter only on s390). */
export interface ZpciCap {
  readonly type: 'zpci';
  readonly kind: 'base' | 'group' | 'util' | 'pfip';
  readonly id: number;
  readonly version: number;
  readonly bytes: Uint8Array;
}

export type DeviceCap = PciAtomicCompCap | ZpciCap | UnknownCap;

export interface DeviceInfo {
  readonly argsz: number;
  readonly rawFlags: number;
  readonly flags: DeviceFlags;
  readonly numRegions: number;
  readonly numIrqs: number;
  readonly capOffset: number;
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
