// A VFIO device: sysfs → IOMMU backend (chosen, or the context it joins) → device fd, then its
// info, regions and IRQ info (read once at open: cheap, synchronous getters afterwards) and
// everything that hangs off it (mappings, IRQs, DMA, cookies), which the device closes in a
// safe order.
import * as path from 'path';
import { TypedEventEmitter } from '../events';
import { DeviceEventMap } from './events';
import { VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX } from '../abi';
import { DeviceInfo } from '../decode';
import { ConfigSpace } from './config-space';
import { DeviceFeatures, Feature, FeaturesOptions, KnownFeatures } from '../features/device-features';
import { FeatureInfo, FeatureNumbers, featureIndexIn } from '../features/table';
import { closedError, invalidArgument, throwCloseErrors } from '../errors';
import { withRootCause } from '../doctor';
import { DeviceIrqInfo, IrqBackend, IrqIndex } from '../irq/irq-index';
import { IrqControl } from '../irq/control';
import { InfoBuffer } from '../addon/info-buffer';
import { HotResetInfo } from '../decode/hot-reset';
import { hotReset, hotResetInfo, resetDevice } from './reset';
import { describeValue } from '../errors/args';
import { backendFacts, chooseBackend } from '../iommu/backend';
import { BackendName, DeviceTarget } from '../iommu/context';
import { IommuContext, checkIommuType, joinedBackend, openIommuContext } from '../iommu/open';
import { requireVfioDriver, resolveTarget } from './target';
import {
  CookieKey,
  CookieRegistry,
  MemattrRoutesOptions,
  PatReaderOptions,
  MemattrRoutesReport,
  MemattrTables,
  MmapCookie,
  WcReservation,
  reserveWcBeforeOpen,
} from '../cookie';
import { Mapping } from '../memory/mapping';
import { native } from '../addon/native';
import { Region, RegionHost } from './region';
import { DeviceOpenOptions, openArgs, openFeatureNumbers } from './options';
import { Closable, ResourcePhase, Resources } from './resources';
import { queryDeviceInfo, queryIrqs, queryRegions } from './query';
import { MemoryGate } from './memory-gate';
import { watchDevice } from './device-leak';
import { forgetLeak } from '../addon/leak-guard';
import { deviceIrqBackend } from './irq-backend';

export type { DeviceIrqInfo, DeviceOpenOptions, ResourcePhase, Closable };

/** An open VFIO device: a typed event emitter ({@link DeviceEventMap}). */
export class Device extends TypedEventEmitter<DeviceEventMap> implements Disposable, AsyncDisposable {
  /** The name VFIO knows the device by: its PCI address, or an mdev's UUID. */
  readonly bdf: string;
  /** `'pci'` for a PCI function bound to vfio-pci (or a variant), `'mdev'` for a mediated device. */
  readonly bus: 'pci' | 'mdev';
  /** Its directory in sysfs. */
  readonly sysfsPath: string;
  /** The IOMMU group, when the device has one. */
  readonly group: number | undefined;
  /** The iommufd device id (cdev backends): IommufdContext.hwInfo() and hot resets name devices by it. */
  readonly devid: number | undefined;
  /** VFIO_DEVICE_GET_INFO as read once at open: flags, region and IRQ counts, capabilities. */
  readonly info: DeviceInfo;
  /** Every region, indexed by region index (0..info.numRegions-1), each queried once at open. */
  readonly regions: readonly Region[];
  /** Every IRQ index (INTx, MSI, MSI-X, ERR, REQ on vfio-pci) as VFIO_DEVICE_GET_IRQ_INFO reported it at open. */
  readonly irqs: readonly DeviceIrqInfo[];
  /** The IOMMU context: Type1Context or IommufdContext (narrow on `kind`), possibly shared. */
  readonly iommu: IommuContext;
  private deviceFd: number | undefined;
  private readonly releaseGroup: () => void;
  private readonly ownsIommu: boolean;
  private readonly resources = new Resources();
  private configSpace: ConfigSpace | undefined;
  private irqControl: IrqControl | undefined;
  private featureState: DeviceFeatures | undefined;
  private cookieState: CookieRegistry | undefined;
  private wcReserved: readonly WcReservation[] = [];
  private cookieTables: Partial<MemattrTables> = {};
  private patOptions: PatReaderOptions | undefined;
  private readonly infoBuffer = new InfoBuffer();
  private readonly featureTable: FeatureNumbers;
  private readonly memory = new MemoryGate(
    () => this.bdf,
    () => this.mappings,
    () => this.config.command,
  );

  private constructor(
    t: DeviceTarget,
    fd: number,
    devid: number | undefined,
    release: () => void,
    iommu: IommuContext,
    ownsIommu: boolean,
    features: FeatureNumbers,
  ) {
    super();
    this.featureTable = features;
    this.bdf = t.name;
    this.bus = t.bus;
    this.sysfsPath = t.sysfsPath;
    this.group = t.group;
    this.devid = devid;
    this.deviceFd = fd;
    this.releaseGroup = release;
    this.iommu = iommu;
    this.ownsIommu = ownsIommu;
    this.info = queryDeviceInfo(fd, this.bdf, this.infoBuffer);
    this.regions = queryRegions(fd, this.bdf, this.info.numRegions, this.infoBuffer, this.regionHost());
    this.irqs = queryIrqs(fd, this.bdf, this.info);
    if (ownsIommu) this.own({ close: () => this.stopDma() }, 'dma');
    // Listening for release requests is what enables REQ (irq-index.ts: watchRelease).
    this.on('newListener', (event: string | symbol) => {
      if (event === 'release-request' && !this.closed) this.irqHost('Device.on').watchRelease();
    });
    watchDevice(this, this.bdf, fd, release, ownsIommu ? iommu : undefined);
  }

  /**
   * Opens a device by PCI address ('0000:00:03.0' or '00:03.0'), mdev UUID, or sysfs directory,
   * through the backend `o.backend` chooses (or the context `o.iommu` it joins). Runs the
   * possibly slow part (the kernel may reset the device on open) on the thread pool.
   */
  static async open(address: string, oIn: DeviceOpenOptions = {}): Promise<Device> {
    const op = 'Device.open';
    const o = openArgs(op, address, oIn);
    const target = resolveTarget(address, o);
    try {
      return await Device.openTarget(target, o);
    } catch (e) {
      // Lead with the root cause (no IOMMU, vfio-pci missing, a group the host uses, …), found
      // by the same ordered checks as `vfio doctor`, rather than the last step that failed.
      const dev = o.vfioDir === undefined ? undefined : path.dirname(o.vfioDir);
      throw target.bus === 'pci' ? withRootCause(e, target.name, { sysfs: o.sysfs, dev, invocation: o.invocation }) : e;
    }
  }

  private static async openTarget(target: DeviceTarget, o: DeviceOpenOptions): Promise<Device> {
    const bdf = target.name;
    const features = openFeatureNumbers(o);
    requireVfioDriver(target, o.invocation);
    const facts = backendFacts(target, o);
    const backend = o.iommu
      ? joinedBackend(bdf, o.iommu, o.backend, o.unsafeNoIommu ?? false, o.iommuType)
      : chooseBackend(bdf, o.backend ?? 'auto', facts, o.unsafeNoIommu ?? false, o.invocation);
    if (!o.iommu) checkIommuType(bdf, backend, o.iommuType);
    const iommu = o.iommu ?? openIommuContext(backend, facts, o);
    let wc: WcReservation[] = [];
    try {
      // Before the device fd exists: vfio-pci reserves each BAR's memory type when it is opened.
      if (o.writeCombine?.length) wc = reserveWcBeforeOpen(bdf, o.writeCombine, o);
      const { deviceFd, devid, release } = await iommu.openDevice(target, { vfToken: o.vfToken });
      try {
        const dev = new Device(target, deviceFd, devid, release, iommu, o.iommu === undefined, features);
        dev.holdWcReservations(wc);
        dev.cookieTables = o.memattrTables ?? {};
        dev.patOptions = o.pat;
        return dev;
      } catch (e) {
        native().close(deviceFd);
        release();
        throw e;
      }
    } catch (e) {
      wc.forEach((r) => r.close());
      if (o.iommu === undefined) iommu.close();
      throw e;
    }
  }

  /** The backend the device was opened through (its IOMMU context's). */
  get backend(): BackendName {
    return this.iommu.backend;
  }

  /** True in no-IOMMU mode: the device can DMA anywhere in memory. */
  get unsafe(): boolean {
    return this.iommu.unsafe;
  }

  /** @internal The device fd, or the closed error. */
  fd(op: string): number {
    if (this.deviceFd === undefined) throw closedError(op, `device ${this.bdf}`, this.bdf);
    return this.deviceFd;
  }

  /** True once {@link Device.close} ran: every other method then throws {@link ClosedError}. */
  get closed(): boolean {
    return this.deviceFd === undefined;
  }

  /** What the regions need of this device: its fd, its resource list, its cookies and features. */
  private regionHost(): RegionHost {
    return {
      label: this.bdf,
      fd: (op) => this.fd(op),
      track: (m) => {
        this.own(m, 'mapping');
        this.cookieState?.noticeMapping(m);
        this.memory.noticeMapping(m);
      },
      untrack: (m) => this.disown(m, 'mapping'),
      cookie: (r, o) => this.cookieHost('Region.cookie').create(r, o),
      exportDmaBuf: (index, ranges, opts) => this.featureHost('Region.exportDmaBuf').exportDmaBuf(index, ranges, opts),
      // The kernel writes an ioeventfd's value into the BAR: it goes with the interrupts, first.
      ownIoeventfd: (res) => this.own(res, 'irq'),
      disownIoeventfd: (res) => this.disown(res, 'irq'),
      configWrite: this.info.flags.pci ? (off, bytes, write) => this.memory.configWrite(off, bytes, write) : undefined,
    };
  }

  /** The region with this index; throws when the device has none (e.g. VGA on most devices). */
  region(index: number): Region {
    this.fd('Device.region');
    const r = this.regions.find((x) => x.index === index);
    if (!r)
      throw invalidArgument(
        'Device.region',
        `${this.bdf} has no region ${describeValue(index)} (it has ${this.regions.map((x) => x.index).join(', ')})`,
        { device: this.bdf },
      );
    return r;
  }

  /** BAR n (0–5). A BAR the device does not implement has size 0 and cannot be accessed. */
  bar(n: number): Region {
    if (!Number.isInteger(n) || n < 0 || n > 5)
      throw invalidArgument('Device.bar', `BAR index ${describeValue(n)} is not 0–5`, { device: this.bdf });
    return this.region(VFIO_PCI_BAR0_REGION_INDEX + n);
  }

  /** PCI configuration space, through the CONFIG region. */
  get config(): ConfigSpace {
    this.fd('Device.config');
    this.configSpace ??= new ConfigSpace(this.region(VFIO_PCI_CONFIG_REGION_INDEX));
    return this.configSpace;
  }

  private featureHost(op: string): DeviceFeatures {
    this.fd(op);
    this.featureState ??= new DeviceFeatures(
      {
        label: this.bdf,
        fd: (o) => this.fd(o),
        regions: this.regions,
        own: (r) => this.own(r, 'cookie'),
        disown: (r) => this.disown(r, 'cookie'),
        beforeSet: (index, payload) => this.cookieState?.beforeFeatureSet(index, payload),
        aroundFeature: (name, set, call) => this.memory.feature(name, set, call),
      },
      this.featureTable,
    );
    return this.featureState;
  }

  /** VFIO_DEVICE_FEATURE by number or name: raw probe/get/set, typed methods for known names (features.ts). */
  feature<N extends keyof KnownFeatures>(name: N): KnownFeatures[N];
  feature(which: number | string): Feature;
  feature(which: number | string): Feature {
    return this.featureHost('Device.feature').feature(which);
  }

  /** Every feature of the number table, probed once per open device (features.ts). */
  features(opts?: FeaturesOptions): FeatureInfo[] {
    return this.featureHost('Device.features').list(opts);
  }

  private irqHost(op: string): IrqControl {
    this.fd(op);
    this.irqControl ??= new IrqControl(this.irqBackend());
    return this.irqControl;
  }

  /** What the IRQ code needs of this device: its fd, its resource list (closed first), its config space. */
  private irqBackend(): IrqBackend {
    return deviceIrqBackend(this);
  }

  /** An IRQ index by name ('INTX', 'MSI', 'MSIX', 'ERR', 'REQ') or number; its enable() gives Irq objects (irq.ts). */
  irq(nameOrIndex: string | number): IrqIndex {
    return this.irqHost('Device.irq').index(nameOrIndex);
  }

  private cookieHost(op: string): CookieRegistry {
    this.fd(op);
    this.cookieState ??= new CookieRegistry(
      {
        bdf: this.bdf,
        regions: this.regions,
        fd: (o) => this.fd(o),
        mappings: () => this.mappings,
        own: (r) => this.own(r, 'cookie'),
        disown: (r) => this.disown(r, 'cookie'),
        featureNumber: (name) => featureIndexIn(this.featureTable, name),
        probeFeature: (i) => this.featureHost(op).answers(i),
        // The cookie feature is a driver's own (kernel/vfio-pci-wc-sample): its documented payload
        // holds values only (BAR, memory type, offsets, lengths), so it takes the raw path.
        setFeature: (i, payload) => {
          this.featureHost(op).feature(i).set(payload, { unsafe: true });
        },
        getFeature: (i, payload) => this.featureHost(op).feature(i).get(payload, { unsafe: true }),
        wcReservedBeforeOpen: (bar) => this.wcReserved.some((r) => r.bar === bar && !r.closed),
      },
      { tables: this.cookieTables, paths: { pat: this.patOptions } },
    );
    return this.cookieState;
  }

  /** Kept until the device closes: the WC reservation must be in place whenever vfio-pci makes its own. */
  private holdWcReservations(list: readonly WcReservation[]): void {
    this.wcReserved = list;
    for (const r of list) this.own(r, 'cookie');
  }

  /** Live mmap cookies (Region.cookie()), oldest first (cookie/). */
  get cookies(): MmapCookie[] {
    return this.closed ? [] : (this.cookieState?.cookies ?? []);
  }

  /** The cookie an mmap would land in: a bigint is a device-fd offset, a number an fd a cookie holds. */
  cookieAt(key: CookieKey): MmapCookie | undefined {
    return this.cookieHost('Device.cookieAt').at(key);
  }

  /** Which routes to a write-combining mapping exist for a region and, if none, why (cookie/). */
  memattrRoutes(region: Region | number, o?: MemattrRoutesOptions): MemattrRoutesReport {
    return this.cookieHost('Device.memattrRoutes').report(typeof region === 'number' ? this.region(region) : region, o);
  }

  /**
   * VFIO_DEVICE_RESET, on the thread pool. Refused with NotSupportedError when the device
   * advertises no reset. Mappings (BAR and DMA) stay valid, except those of dma-buf cookies,
   * which are taken down first (the reset revokes dma-bufs; docs/cookies.md); emits 'reset'.
   */
  reset(): Promise<void> {
    if (!this.closed && this.info.flags.reset) this.cookieState?.beforeReset('function');
    return resetDevice(this);
  }

  /** The devices and IOMMU groups a hot (slot or bus) reset would hit. */
  hotResetInfo(): HotResetInfo {
    return hotResetInfo(this);
  }

  /** Slot or bus reset, with the group fds of this device's IOMMU context; emits 'reset'. */
  hotReset(): Promise<void> {
    if (!this.closed) this.cookieState?.beforeReset('hot');
    return hotReset(this);
  }

  /**
   * Close step for a device that owns its IOMMU context: stop bus mastering, then unmap DMA,
   * so nothing is in flight to an IOVA that goes away. A shared context keeps its mappings
   * for the other devices; whoever opened it closes it.
   */
  private stopDma(): void {
    if (this.info.flags.pci) this.config.busMaster = false;
    const errors = this.iommu.unmapAll();
    throwCloseErrors('Device.close', errors, this.bdf);
  }

  /** @internal Registers something the device must close before itself. */
  own(res: Closable, phase: ResourcePhase): void {
    this.fd('Device.own');
    this.resources.add(res, phase);
  }

  /** @internal */
  disown(res: Closable, phase: ResourcePhase): void {
    this.resources.delete(res, phase);
  }

  /** Live mappings of this device's regions. */
  get mappings(): Mapping[] {
    return this.resources.list('mapping') as Mapping[];
  }

  /**
   * Closes everything hanging off the device in a safe order — interrupts off, DMA unmapped,
   * cookies and mappings detached then unmapped — then the device fd, its group and (if the
   * device opened it) the IOMMU context. Idempotent; every accessor throws afterwards.
   */
  close(): void {
    if (this.deviceFd === undefined) return;
    forgetLeak(this);
    const errors = this.resources.closeAll();
    native().close(this.deviceFd);
    this.deviceFd = undefined;
    this.releaseGroup();
    if (this.ownsIommu) this.iommu.close();
    this.emit('close');
    throwCloseErrors('Device.close', errors, this.bdf);
  }

  /** `using dev = …`: the same as {@link Device.close} (which may throw a {@link CloseError}). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using dev = …`: the same as {@link Device.close}, synchronously. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
