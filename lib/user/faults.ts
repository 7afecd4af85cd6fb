// A fault-injecting wrapper around any device model: the wrapped device misbehaves on request
// (late completions, lost or spurious interrupts, failed, dropped or corrupted DMA, registers
// that read all-ones or fail, stalled accesses), so that a driver's error paths can be driven
// on purpose. Faults are switched from the host (FaultControl) or from the guest, through a
// small control BAR the wrapper adds to the device (FAULT_REGS), so a guest test needs nothing
// but the device itself.
import { EventEmitter } from 'events';
import { setTimeout as sleep } from 'timers/promises';
import { VfioError } from '../errors';
import type { AccessSize, DeviceBehaviour, DeviceContext, DeviceModel, RegisterValue } from './model';

/** The faults a wrapped model can be told to inject; every one is off by default. */
export interface Faults {
  /** Interrupts the model raises are lost (counted in `irqsDropped`). */
  dropIrq: boolean;
  /** The model's BARs read all-ones and ignore writes, as a device that fell off the bus. */
  dead: boolean;
  /** The model's BAR accesses fail: the server answers the client with an error (EIO). */
  accessError: boolean;
  /** What happens to the model's DMA: it fails (a VfioError EIO), is dropped (reads zeros, writes go nowhere) or is corrupted (the first byte inverted). */
  dma: 'ok' | 'error' | 'drop' | 'corrupt';
  /** Completions come late: each interrupt and each DMA waits this long first (ms). */
  delayMs: number;
  /** Each access to the model's BARs is answered this late (ms): a device that stalls the bus. */
  stallMs: number;
}

/** What the wrapper did, for a test to compare with what the driver saw. */
export interface FaultCounters {
  /** Interrupts delivered (spurious ones included). */
  irqsRaised: number;
  /** Interrupts lost to `dropIrq`. */
  irqsDropped: number;
  /** DMA transfers failed, dropped or corrupted. */
  dmaFaulted: number;
}

/** A DMA the model started, and how it ended: 'ok', or the error's code. */
export interface DmaRecord {
  /** `ctx.dma.read` or `ctx.dma.write`. */
  op: 'read' | 'write';
  /** The guest address the model asked for. */
  iova: bigint;
  /** Bytes. */
  length: number;
  /** Set when it ended: 'ok', or the code of the error it rejected with. */
  outcome?: string;
}

/** The events of a {@link FaultControl}. */
export interface FaultEvents {
  /** The model started a DMA (before the fault, if any, applies). */
  dma: [record: DmaRecord];
  /** The model's DMA ended; `record.outcome` says how. */
  dmaDone: [record: DmaRecord];
}

/**
 * The control BAR's registers (32-bit, byte offsets). FAULTS takes the `FAULT_*` bits; DMA the
 * `DMA_FAULT_*` values; DELAY_MS and STALL_MS the delays; a write of N to SPURIOUS raises N
 * interrupts on vector 0 with nothing to report; the counters are read-only.
 */
export const FAULT_REGS = {
  /** Reads {@link FAULT_MAGIC}. */
  MAGIC: 0x00,
  /** The `FAULT_*` bits in force (read/write). */
  FAULTS: 0x04,
  /** The index of the DMA fault in {@link DMA_FAULTS} (read/write). */
  DMA: 0x08,
  /** {@link Faults.delayMs} (read/write). */
  DELAY_MS: 0x0c,
  /** {@link Faults.stallMs} (read/write). */
  STALL_MS: 0x10,
  /** Write N: N spurious interrupts on vector 0, 20 ms apart (at most 64). */
  SPURIOUS: 0x14,
  /** {@link FaultCounters.irqsRaised} (read-only). */
  IRQS_RAISED: 0x18,
  /** {@link FaultCounters.irqsDropped} (read-only). */
  IRQS_DROPPED: 0x1c,
  /** {@link FaultCounters.dmaFaulted} (read-only). */
  DMA_FAULTED: 0x20,
} as const;
/** What MAGIC reads: "FLT1". */
export const FAULT_MAGIC = 0x31544c46;
/** FAULTS bit: interrupts are lost ({@link Faults.dropIrq}). */
export const FAULT_DROP_IRQ = 0x1;
/** FAULTS bit: BARs read all-ones ({@link Faults.dead}). */
export const FAULT_DEAD = 0x2;
/** FAULTS bit: BAR accesses fail ({@link Faults.accessError}). */
export const FAULT_ACCESS_ERROR = 0x4;
/** The DMA register's values, by index: 0 ok, 1 error, 2 drop, 3 corrupt ({@link Faults.dma}). */
export const DMA_FAULTS = ['ok', 'error', 'drop', 'corrupt'] as const;
/** The control BAR's size. */
export const FAULT_BAR_SIZE = 4096;
/** Longer completion delays are cut to this. */
export const MAX_FAULT_DELAY_MS = 60_000;
/** Longer stalls are cut to this: a stalled access must be answered before the client gives up on it (QEMU waits 5 s). */
export const MAX_FAULT_STALL_MS = 2_000;

const NONE: Faults = { dropIrq: false, dead: false, accessError: false, dma: 'ok', delayMs: 0, stallMs: 0 };

/** The host's handle on a wrapped model's faults; the guest reaches the same state through the control BAR. */
export class FaultControl extends EventEmitter<FaultEvents> {
  private state: Faults = { ...NONE };
  /** What the wrapper has done so far. */
  readonly counters: FaultCounters = { irqsRaised: 0, irqsDropped: 0, dmaFaulted: 0 };

  /** The faults in force. */
  get faults(): Readonly<Faults> {
    return this.state;
  }

  /** Changes some faults; delays are clamped to {@link MAX_FAULT_DELAY_MS}, stalls to {@link MAX_FAULT_STALL_MS}. */
  set(change: Partial<Faults>): void {
    const clamp = (ms: number, max: number) => Math.max(0, Math.min(max, Math.trunc(ms) || 0));
    this.state = { ...this.state, ...change };
    this.state.delayMs = clamp(this.state.delayMs, MAX_FAULT_DELAY_MS);
    this.state.stallMs = clamp(this.state.stallMs, MAX_FAULT_STALL_MS);
  }

  /** Every fault off (counters kept). */
  clear(): void {
    this.state = { ...NONE };
  }
}

/** A wrapped model and the handle on its faults. */
export interface FaultyModel {
  /** The wrapped model, to serve. */
  model: DeviceModel;
  /** The host's handle on its faults. */
  control: FaultControl;
}

/**
 * Wraps `inner` so it can be told to misbehave. The device gains a 4 KiB mem32 BAR at
 * `controlBar` (default 2; it must be free) with the {@link FAULT_REGS} registers.
 * @throws `VfioError` (through the server) when the control BAR collides with one of the model's.
 */
export function withFaults(inner: DeviceModel, opts: { controlBar?: number } = {}): FaultyModel {
  const controlBar = opts.controlBar ?? 2;
  const control = new FaultControl();
  const description = {
    ...inner.description,
    bars: [...(inner.description.bars ?? []), { index: controlBar, size: FAULT_BAR_SIZE, kind: 'mem32' as const }],
  };
  const model: DeviceModel = {
    description,
    create(ctx: DeviceContext): DeviceBehaviour {
      const faulty = new FaultyContext(ctx, control);
      const behaviour = inner.create(faulty.ctx);
      return new FaultyBehaviour(behaviour, faulty, control, controlBar);
    },
  };
  return { model, control };
}

/** The context the inner model sees: interrupts and DMA pass through the faults. */
class FaultyContext {
  readonly ctx: DeviceContext;

  constructor(
    private readonly outer: DeviceContext,
    private readonly control: FaultControl,
  ) {
    const ctx = {
      irq: (vector = 0) => this.irq(vector),
      dma: {
        read: (iova: bigint | number, length: number) =>
          this.dma({ op: 'read', iova: BigInt(iova), length }, undefined),
        write: async (iova: bigint | number, data: Uint8Array) =>
          void (await this.dma({ op: 'write', iova: BigInt(iova), length: data.length }, data)),
      },
    } as DeviceContext;
    Object.defineProperty(ctx, 'busMaster', { get: () => outer.busMaster, enumerable: true });
    this.ctx = ctx;
  }

  irq(vector: number): boolean {
    const f = this.control.faults;
    if (f.dropIrq) {
      this.control.counters.irqsDropped++;
      return true; // the device believes it signalled
    }
    if (f.delayMs > 0) {
      setTimeout(() => this.deliver(vector), f.delayMs);
      return true;
    }
    return this.deliver(vector);
  }

  deliver(vector: number): boolean {
    const ok = this.outer.irq(vector);
    if (ok) this.control.counters.irqsRaised++;
    return ok;
  }

  /** The inner model's register function is running (its DMA must then fail as the server's would). */
  inAccess = false;

  private async dma(record: DmaRecord, data: Uint8Array | undefined): Promise<Uint8Array> {
    if (this.inAccess) {
      // Straight to the server, which refuses it (EDEADLK) before any fault could hide that.
      return data
        ? this.outer.dma.write(record.iova, data).then(() => new Uint8Array(0))
        : this.outer.dma.read(record.iova, record.length);
    }
    this.control.emit('dma', record);
    try {
      const out = await this.transfer(record, data);
      record.outcome = 'ok';
      return out;
    } catch (e) {
      record.outcome = e instanceof VfioError ? e.code : 'error';
      throw e;
    } finally {
      this.control.emit('dmaDone', record);
    }
  }

  private async transfer(record: DmaRecord, data: Uint8Array | undefined): Promise<Uint8Array> {
    const f = this.control.faults;
    if (f.delayMs > 0) await sleep(f.delayMs);
    const mode = this.control.faults.dma;
    if (mode === 'error') {
      this.control.counters.dmaFaulted++;
      throw new VfioError({
        code: 'EIO',
        op: `dma.${record.op}`,
        message: `dma.${record.op}: failed by fault injection at 0x${record.iova.toString(16)}`,
        hint: 'the fault-injecting model was told to fail DMA: clear its dma fault',
      });
    }
    if (mode === 'drop') {
      this.control.counters.dmaFaulted++;
      return new Uint8Array(data ? 0 : record.length);
    }
    const corrupt = mode === 'corrupt';
    if (corrupt) this.control.counters.dmaFaulted++;
    if (data) {
      const out = corrupt ? invertFirst(data) : data;
      await this.outer.dma.write(record.iova, out);
      return new Uint8Array(0);
    }
    const got = await this.outer.dma.read(record.iova, record.length);
    return corrupt ? invertFirst(got) : got;
  }
}

function invertFirst(data: Uint8Array): Uint8Array {
  const out = Uint8Array.from(data);
  if (out.length) out[0] ^= 0xff;
  return out;
}

/** The behaviour the server sees: the control BAR, and the inner model's BARs through the faults. */
class FaultyBehaviour implements DeviceBehaviour {
  constructor(
    private readonly inner: DeviceBehaviour,
    private readonly faulty: FaultyContext,
    private readonly control: FaultControl,
    private readonly controlBar: number,
  ) {}

  read(bar: number, offset: number, size: AccessSize): RegisterValue | Promise<RegisterValue> {
    if (bar === this.controlBar) return this.controlRead(offset, size);
    return this.faulted(() =>
      this.control.faults.dead ? allOnes(size) : (this.inner.read?.(bar, offset, size) ?? allOnes(size)),
    );
  }

  write(bar: number, offset: number, size: AccessSize, value: RegisterValue): void | Promise<void> {
    if (bar === this.controlBar) return this.controlWrite(offset, size, value);
    return this.faulted(() => (this.control.faults.dead ? undefined : this.inner.write?.(bar, offset, size, value)));
  }

  reset(): void | Promise<void> {
    return this.inner.reset?.();
  }

  private faulted<T>(access: () => T | Promise<T>): T | Promise<T> {
    const f = this.control.faults;
    const run = (): T | Promise<T> => {
      if (this.control.faults.accessError) throw new Error('access failed by fault injection');
      this.faulty.inAccess = true;
      try {
        return access();
      } finally {
        this.faulty.inAccess = false;
      }
    };
    return f.stallMs > 0 ? sleep(f.stallMs).then(run) : run();
  }

  private controlRead(offset: number, size: AccessSize): RegisterValue {
    if (size !== 4) return allOnes(size);
    const f = this.control.faults;
    const c = this.control.counters;
    switch (offset) {
      case FAULT_REGS.MAGIC:
        return FAULT_MAGIC;
      case FAULT_REGS.FAULTS:
        return (f.dropIrq ? FAULT_DROP_IRQ : 0) | (f.dead ? FAULT_DEAD : 0) | (f.accessError ? FAULT_ACCESS_ERROR : 0);
      case FAULT_REGS.DMA:
        return DMA_FAULTS.indexOf(f.dma);
      case FAULT_REGS.DELAY_MS:
        return f.delayMs;
      case FAULT_REGS.STALL_MS:
        return f.stallMs;
      case FAULT_REGS.IRQS_RAISED:
        return c.irqsRaised >>> 0;
      case FAULT_REGS.IRQS_DROPPED:
        return c.irqsDropped >>> 0;
      case FAULT_REGS.DMA_FAULTED:
        return c.dmaFaulted >>> 0;
      default:
        return 0xffffffff;
    }
  }

  private controlWrite(offset: number, size: AccessSize, value: RegisterValue): void {
    if (size !== 4) return;
    const v = Number(value) >>> 0;
    switch (offset) {
      case FAULT_REGS.FAULTS:
        this.control.set({
          dropIrq: (v & FAULT_DROP_IRQ) !== 0,
          dead: (v & FAULT_DEAD) !== 0,
          accessError: (v & FAULT_ACCESS_ERROR) !== 0,
        });
        break;
      case FAULT_REGS.DMA:
        this.control.set({ dma: DMA_FAULTS[v] ?? 'ok' });
        break;
      case FAULT_REGS.DELAY_MS:
        this.control.set({ delayMs: v });
        break;
      case FAULT_REGS.STALL_MS:
        this.control.set({ stallMs: v });
        break;
      case FAULT_REGS.SPURIOUS:
        // After the write is answered, as a device's own interrupt would come.
        for (let i = 0; i < Math.min(v, 64); i++) setTimeout(() => this.faulty.deliver(0), 1 + i * 20);
        break;
    }
  }
}

function allOnes(size: AccessSize): RegisterValue {
  return size === 8 ? 0xffffffffffffffffn : 2 ** (8 * size) - 1;
}
