// What Device.open accepts: the backend, the IOMMU context it joins, and the tables and paths
// the device's features, cookies and hints use.
import { FeatureNumberOverrides, FeatureNumbers, featureNumbers } from '../features/table';
import { invalidArgument } from '../errors';
import { describeValue, oneOfArg, optionsArg } from '../errors/args';
import { Invocation } from '../system/hints';
import { BACKENDS, DeviceNodeOptions } from '../iommu/backend';
import { BackendChoice } from '../iommu/context';
import { IommuContext, checkIommuType } from '../iommu/open';
import { TYPE1_IOMMU_TYPES, Type1IommuType } from '../iommu/type1';
import { MemattrTables, PatReaderOptions } from '../cookie';
import { SysfsOptions } from '../system/sysfs';

/**
 * Options of {@link Device.open}: where sysfs and the device nodes are (the inherited `sysfs`
 * and node options, for tests and containers), the IOMMU backend and context, and what the
 * device sets up before its fd opens. Every field is optional.
 */
export interface DeviceOpenOptions extends SysfsOptions, DeviceNodeOptions {
  /**
   * How to reach the IOMMU (docs/backends.md): 'auto' (default) takes iommufd when /dev/iommu and
   * the device's cdev exist, else type1; or 'type1', 'iommufd-compat', 'iommufd', 'noiommu'.
   */
  backend?: BackendChoice;
  /**
   * The IOMMU type of a new type1 or iommufd-compat container (VFIO_SET_IOMMU): 'type1v2'
   * (default) or 'type1', the original type whose unmaps may cut a mapping (docs/backends.md).
   * With another backend it is an InvalidArgumentError; an IOMMU type the kernel does not offer
   * is an EOPNOTSUPP VfioError with a hint.
   */
  iommuType?: Type1IommuType;
  /**
   * Accept a device without IOMMU protection (VFIO no-IOMMU mode): it can then DMA anywhere in
   * memory. Without this, such devices are refused whatever the backend.
   */
  unsafeNoIommu?: boolean;
  /**
   * Join an existing IOMMU context (shared container or IOAS: one mapping serves every device in
   * it); default: a new one owned by the device. The context decides the backend.
   */
  iommu?: IommuContext;
  /** Feature numbers that differ from the 7.3 header on this kernel (see features.ts). */
  featureNumbers?: FeatureNumberOverrides;
  /**
   * The VF token (a UUID) an SR-IOV VF of a PF bound to vfio-pci opens with (also the PF while
   * its VFs are in use): the one the PF's user set with `feature('PCI_VF_TOKEN').setToken()`.
   * Passed as `vf_token=` (group) or with VFIO_DEVICE_BIND_FLAG_TOKEN (cdev); docs/sriov.md.
   */
  vfToken?: string;
  /**
   * BARs to reserve write-combining (through sysfs resourceN_wc, prefetchable BARs only) before
   * the device fd is opened: vfio-pci's own mappings of them are then WC while the device is
   * open, and WC cookies get a route (cookie/reserve.ts, docs/cookies.md).
   */
  writeCombine?: readonly number[];
  /**
   * Replacements for the cookie layer's tables (cookie/model.ts MemattrTables) for every cookie
   * and route report of this device: region types of WC regions, a driver's cookie feature,
   * route order. E.g. the sample driver's: `memattrTables: sampleDriverTables()`.
   */
  memattrTables?: Partial<MemattrTables>;
  /**
   * How hints write the commands they suggest (`vfio bind …`): the `vfio` bin passes its own;
   * default `npx vfio`, with sudo when not root and sudo is installed.
   */
  invocation?: Invocation;
  /**
   * How the device's cookies and mappings read the kernel's PAT memtype list for their
   * `effective` attribute: where debugfs is, and whether it may be mounted when it is not
   * (`{ mountDebugfs: false }` to forbid it; docs/cookies.md).
   */
  pat?: PatReaderOptions;
}

/** @internal The device's feature number table: the 7.3 header's, with `o.featureNumbers` applied. */
export function openFeatureNumbers(o: DeviceOpenOptions): FeatureNumbers {
  try {
    return featureNumbers(o.featureNumbers);
  } catch (e) {
    throw invalidArgument('Device.open', (e as Error).message, { cause: e });
  }
}

/** @internal Device.open's arguments, checked before anything is opened: the options it takes. */
export function openArgs(op: string, address: string, oIn: DeviceOpenOptions): DeviceOpenOptions {
  const o = optionsArg(op, oIn) as DeviceOpenOptions;
  if (typeof address !== 'string' || address === '') {
    throw invalidArgument(
      op,
      `address is ${describeValue(address)}: give a PCI address ('0000:00:03.0' or '00:03.0'), an mdev UUID or a sysfs directory`,
    );
  }
  if (o.backend !== undefined) oneOfArg(op, 'backend', o.backend, ['auto', ...BACKENDS]);
  if (o.iommuType !== undefined) oneOfArg(op, 'iommuType', o.iommuType, TYPE1_IOMMU_TYPES);
  checkIommuType(address, o.backend, o.iommuType);
  return o;
}
