// What a device model is: a description (ids, class, BARs, capabilities) from which the server
// builds config space and region/IRQ info, and behaviour: register reads and writes (sync or
// returning a promise) and a reset hook, given a context to raise interrupts and reach guest
// memory through.

/** A BAR: its index (0-5), size (a power of two), and kind. A mem64 BAR also takes index + 1. */
export interface BarDescription {
  index: number;
  size: number;
  kind: 'mem32' | 'mem64' | 'io';
  prefetchable?: boolean;
}

export type Capability =
  | { type: 'msi'; vectors: 1 | 2 | 4 | 8 | 16 | 32; perVectorMask?: boolean }
  | {
      type: 'msix';
      vectors: number;
      /** BAR and offset (8-byte aligned) of the vector table and the pending-bit array. */
      tableBar: number;
      tableOffset: number;
      pbaBar: number;
      pbaOffset: number;
    }
  | { type: 'pcie' };

export interface DeviceDescription {
  vendorId: number;
  deviceId: number;
  /** 24 bits: base class, sub-class, programming interface (0x00ff00: "other"). */
  classCode: number;
  revision?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 0 (no INTx; the default), 1-4 for INTA-INTD. */
  interruptPin?: number;
  bars?: BarDescription[];
  capabilities?: Capability[];
}

/** 1, 2 and 4-byte accesses carry a number, 8-byte ones a bigint. */
export type RegisterValue = number | bigint;
export type AccessSize = 1 | 2 | 4 | 8;

/** Guest memory by IOVA: through mapped windows when the client passed fds, else by messages. */
export interface DmaAccess {
  read(iova: bigint | number, length: number): Promise<Uint8Array>;
  write(iova: bigint | number, data: Uint8Array): Promise<void>;
}

export interface DeviceContext {
  /**
   * Signals interrupt `vector` on whichever kind the client armed (MSI-X, then MSI, then INTx).
   * false when none is armed for that vector (the interrupt is dropped, as a device whose
   * interrupts are disabled would drop it).
   */
  irq(vector?: number): boolean;
  readonly dma: DmaAccess;
  /** PCI_COMMAND's bus-master bit: a well-behaved device does no DMA without it. */
  readonly busMaster: boolean;
}

export interface DeviceBehaviour {
  /** A read of `size` bytes at `offset` of BAR `bar`. Unimplemented reads return all-ones. */
  read?(bar: number, offset: number, size: AccessSize): RegisterValue | Promise<RegisterValue>;
  write?(bar: number, offset: number, size: AccessSize, value: RegisterValue): void | Promise<void>;
  /** The client reset the device (VFIO_USER_DEVICE_RESET), or its connection went away. */
  reset?(): void | Promise<void>;
}

export interface DeviceModel {
  description: DeviceDescription;
  /** Called once per server: the model's state lives in the closure or object it returns. */
  create(ctx: DeviceContext): DeviceBehaviour;
}

/** Identity function that gives a model literal its type. */
export function defineModel(model: DeviceModel): DeviceModel {
  return model;
}
