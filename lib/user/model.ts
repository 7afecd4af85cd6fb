// What a device model is: a description (ids, class, BARs, capabilities) from which the server
// builds config space and region/IRQ info, and behaviour: register reads and writes (sync or
// returning a promise) and a reset hook, given a context to raise interrupts and reach guest
// memory through.

/** A BAR: its index (0-5), size (a power of two), and kind. A mem64 BAR also takes index + 1. */
export interface BarDescription {
  /** BAR number, 0-5 (0-4 for mem64, which also uses the next one); no two BARs share one. */
  index: number;
  /** Size in bytes, a power of two: mem32 16 to 2^31, mem64 16 to 2^32, io 4 to 256. */
  size: number;
  /** 32-bit memory, 64-bit memory (two BAR registers) or I/O space. */
  kind: 'mem32' | 'mem64' | 'io';
  /** Memory BARs only: reads have no side effects, so the host may prefetch (default false). */
  prefetchable?: boolean;
}

/**
 * A PCI capability, placed in config space from 0x40 in list order: MSI, MSI-X, or a PCI Express
 * endpoint capability (which also makes config space 4 KiB).
 */
export type Capability =
  | {
      /** MSI. */
      type: 'msi';
      /** Vectors the device asks for (Multiple Message Capable): a power of two up to 32. */
      vectors: 1 | 2 | 4 | 8 | 16 | 32;
      /** Adds the per-vector mask and pending registers (default false). */
      perVectorMask?: boolean;
    }
  | {
      /** MSI-X. */
      type: 'msix';
      /** Table size: 1-2048 vectors. */
      vectors: number;
      /** BAR and offset (8-byte aligned) of the vector table and the pending-bit array. */
      tableBar: number;
      /** Byte offset of the vector table in `tableBar` (8-byte aligned, 16 bytes per vector). */
      tableOffset: number;
      /** BAR that holds the pending-bit array. */
      pbaBar: number;
      /** Byte offset of the pending-bit array in `pbaBar` (8-byte aligned). */
      pbaOffset: number;
    }
  | {
      /** PCI Express endpoint capability (version 2, 2.5 GT/s x1 link). */
      type: 'pcie';
    };

/** What the device looks like on the bus: ids, class, interrupt pin, BARs and capabilities. */
export interface DeviceDescription {
  /** PCI vendor id, 16 bits. */
  vendorId: number;
  /** PCI device id, 16 bits. */
  deviceId: number;
  /** 24 bits: base class, sub-class, programming interface (0x00ff00: "other"). */
  classCode: number;
  /** Revision id, 8 bits (default 0). */
  revision?: number;
  /** Subsystem vendor id, 16 bits (default 0). */
  subsystemVendorId?: number;
  /** Subsystem id, 16 bits (default 0). */
  subsystemId?: number;
  /** 0 (no INTx; the default), 1-4 for INTA-INTD. */
  interruptPin?: number;
  /** The BARs (default none); each becomes region `index` of the device. */
  bars?: BarDescription[];
  /** The capabilities, in list order, each type at most once (default none). */
  capabilities?: Capability[];
}

/** 1, 2 and 4-byte accesses carry a number, 8-byte ones a bigint. */
export type RegisterValue = number | bigint;
/** Width in bytes of one register access. */
export type AccessSize = 1 | 2 | 4 | 8;

/** Guest memory by IOVA: through mapped windows when the client passed fds, else by messages. */
export interface DmaAccess {
  /**
   * Reads `length` bytes of guest memory at IOVA `iova`. Rejects with a `VfioError`: EFAULT when
   * the range is outside the client's DMA windows, EPERM when the window is not readable, EDEADLK
   * when called during a register access, ETIMEDOUT when the client does not answer within
   * `dmaTimeoutMs`.
   */
  read(iova: bigint | number, length: number): Promise<Uint8Array>;
  /**
   * Writes `data` to guest memory at IOVA `iova`. Rejects with a `VfioError`: EFAULT when the
   * range is outside the client's DMA windows, EPERM when the window is not writeable, EDEADLK
   * when called during a register access, ETIMEDOUT when the client does not answer within
   * `dmaTimeoutMs`.
   */
  write(iova: bigint | number, data: Uint8Array): Promise<void>;
}

/** What a model's behaviour can do to the outside: interrupts, guest memory, bus-master state. */
export interface DeviceContext {
  /**
   * Signals interrupt `vector` on whichever kind the client armed (MSI-X, then MSI, then INTx).
   * false when none is armed for that vector (the interrupt is dropped, as a device whose
   * interrupts are disabled would drop it).
   */
  irq(vector?: number): boolean;
  /** Guest memory, by IOVA, as the client mapped it. */
  readonly dma: DmaAccess;
  /** PCI_COMMAND's bus-master bit: a well-behaved device does no DMA without it. */
  readonly busMaster: boolean;
}

/** A model's register behaviour; every hook is optional and may return a promise. */
export interface DeviceBehaviour {
  /** A read of `size` bytes at `offset` of BAR `bar`. Unimplemented reads return all-ones. */
  read?(bar: number, offset: number, size: AccessSize): RegisterValue | Promise<RegisterValue>;
  /**
   * A write of `size` bytes at `offset` of BAR `bar`: a number for 1-4 bytes, a bigint for 8.
   * Unimplemented writes are ignored.
   */
  write?(bar: number, offset: number, size: AccessSize, value: RegisterValue): void | Promise<void>;
  /** The client reset the device (VFIO_USER_DEVICE_RESET), or its connection went away. */
  reset?(): void | Promise<void>;
}

/** A device model: its description and a factory for its behaviour. */
export interface DeviceModel {
  /** Ids, BARs and capabilities; checked by the server, which throws a `VfioError` if invalid. */
  description: DeviceDescription;
  /** Called once per server: the model's state lives in the closure or object it returns. */
  create(ctx: DeviceContext): DeviceBehaviour;
}

/** Identity function that gives a model literal its type. */
export function defineModel(model: DeviceModel): DeviceModel {
  return model;
}
