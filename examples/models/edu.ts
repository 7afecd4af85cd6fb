// QEMU's "edu" teaching device (docs/specs/edu.rst in QEMU) as a vfio-user device model: the
// same ids, registers and behaviour, so a driver written against the real edu (see
// examples/edu-driver.ts) runs unchanged against this one.
//
//   npx vfio-vm run --model dist/examples/models/edu.js -- node dist/examples/edu-driver.js
//
// In your own project, import from 'vfio/user' instead of '../../lib/user'.
import { defineModel, type DeviceContext, type RegisterValue } from '../../lib/user';

// BAR0 registers (byte offsets).
const ID = 0x00;
const LIVENESS = 0x04;
const FACTORIAL = 0x08;
const STATUS = 0x20;
const IRQ_STATUS = 0x24;
const IRQ_RAISE = 0x60;
const IRQ_ACK = 0x64;
const DMA_SRC = 0x80;
const DMA_DST = 0x88;
const DMA_COUNT = 0x90;
const DMA_CMD = 0x98;

const STATUS_COMPUTING = 0x01;
const STATUS_IRQ_ON_FACTORIAL = 0x80;
const IRQ_FACTORIAL = 0x001;
const IRQ_DMA = 0x100;
const DMA_RUN = 0x1;
const DMA_TO_RAM = 0x2;
const DMA_IRQ = 0x4;

/** The internal buffer's place in the device's own DMA address space, and its size. */
export const EDU_BUFFER = 0x40000;
const BUFFER_SIZE = 4096;
/** edu drops address bits above 27. */
const DMA_MASK = (1n << 28n) - 1n;

export interface EduOptions {
  /** The delay before a factorial or DMA completes, as the real device's worker and timer give (ms). */
  latencyMs?: number;
}

/** n! modulo 2^32, as edu's 32-bit register holds it. */
export function factorial32(n: number): number {
  let r = 1;
  for (let i = 2; i <= n; i++) r = Math.imul(r, i) >>> 0;
  return r >>> 0;
}

export function eduModel(opts: EduOptions = {}) {
  const latency = opts.latencyMs ?? 1;
  return defineModel({
    description: {
      vendorId: 0x1234,
      deviceId: 0x11e8,
      classCode: 0x00ff00,
      revision: 0x10,
      subsystemVendorId: 0x1af4,
      subsystemId: 0x1100,
      bars: [{ index: 0, size: 1 << 20, kind: 'mem32' }],
      capabilities: [{ type: 'msi', vectors: 1 }],
    },
    create: (ctx: DeviceContext) => new Edu(ctx, latency),
  });
}

class Edu {
  private liveness = 0;
  private fact = 0;
  private status = 0;
  private irqStatus = 0;
  private dma = { src: 0n, dst: 0n, count: 0n, cmd: 0n };
  private readonly buffer = new Uint8Array(BUFFER_SIZE);
  private timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly ctx: DeviceContext,
    private readonly latencyMs: number,
  ) {}

  read(bar: number, offset: number, size: number): RegisterValue {
    const ones = size === 8 ? 0xffffffffffffffffn : 0xffffffff;
    // Registers below 0x80 take 4-byte accesses only; the DMA registers 4 or 8.
    if (bar !== 0 || (offset < 0x80 && size !== 4) || (offset >= 0x80 && size !== 4 && size !== 8)) return ones;
    const wide = (v: bigint): RegisterValue => (size === 8 ? v : Number(v & 0xffffffffn));
    switch (offset) {
      case ID:
        return 0x010000ed;
      case LIVENESS:
        return this.liveness;
      case FACTORIAL:
        return this.fact;
      case STATUS:
        return this.status;
      case IRQ_STATUS:
        return this.irqStatus;
      case DMA_SRC:
        return wide(this.dma.src);
      case DMA_DST:
        return wide(this.dma.dst);
      case DMA_COUNT:
        return wide(this.dma.count);
      case DMA_CMD:
        return wide(this.dma.cmd);
      default:
        return ones;
    }
  }

  write(bar: number, offset: number, size: number, value: RegisterValue): void {
    if (bar !== 0 || (offset < 0x80 && size !== 4) || (offset >= 0x80 && size !== 4 && size !== 8)) return;
    const v = BigInt(value);
    const v32 = Number(v & 0xffffffffn);
    switch (offset) {
      case LIVENESS:
        this.liveness = ~v32 >>> 0;
        break;
      case FACTORIAL:
        if (this.status & STATUS_COMPUTING) break;
        this.status |= STATUS_COMPUTING;
        this.fact = v32;
        this.later(() => {
          this.fact = factorial32(this.fact);
          this.status &= ~STATUS_COMPUTING;
          if (this.status & STATUS_IRQ_ON_FACTORIAL) this.raise(IRQ_FACTORIAL);
        });
        break;
      case STATUS:
        this.status = (this.status & ~STATUS_IRQ_ON_FACTORIAL) | (v32 & STATUS_IRQ_ON_FACTORIAL);
        break;
      case IRQ_RAISE:
        this.raise(v32);
        break;
      case IRQ_ACK:
        this.irqStatus = (this.irqStatus & ~v32) >>> 0;
        break;
      case DMA_SRC:
      case DMA_DST:
      case DMA_COUNT:
        if (this.dma.cmd & BigInt(DMA_RUN)) break; // ignored while the engine runs
        this.dma[offset === DMA_SRC ? 'src' : offset === DMA_DST ? 'dst' : 'count'] = v;
        break;
      case DMA_CMD:
        if (!(v & BigInt(DMA_RUN)) || this.dma.cmd & BigInt(DMA_RUN)) break;
        this.dma.cmd = v;
        // The engine runs on its own, after the register write has been answered.
        this.later(() => void this.runDma());
        break;
    }
  }

  reset(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.liveness = this.fact = this.status = this.irqStatus = 0;
    this.dma = { src: 0n, dst: 0n, count: 0n, cmd: 0n };
    this.buffer.fill(0);
  }

  private later(fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.latencyMs);
    this.timers.add(t);
  }

  private raise(bits: number): void {
    this.irqStatus = (this.irqStatus | bits) >>> 0;
    if (this.irqStatus) this.ctx.irq(0);
  }

  /** One transfer between guest memory (an IOVA) and the internal buffer, then its interrupt. */
  private async runDma(): Promise<void> {
    const { src, dst, count, cmd } = this.dma;
    const toRam = (cmd & BigInt(DMA_TO_RAM)) !== 0n;
    const local = toRam ? src : dst;
    const n = Number(count);
    const inBuffer = local >= BigInt(EDU_BUFFER) && local + count <= BigInt(EDU_BUFFER + BUFFER_SIZE);
    try {
      // A transfer outside the buffer, or without bus mastering, does nothing (the real device
      // would stop the machine on the former).
      if (inBuffer && n > 0 && this.ctx.busMaster) {
        const at = Number(local) - EDU_BUFFER;
        if (toRam) await this.ctx.dma.write(dst & DMA_MASK, this.buffer.slice(at, at + n));
        else this.buffer.set(await this.ctx.dma.read(src & DMA_MASK, n), at);
      }
    } catch {
      // A DMA the IOMMU refused: the transfer ends without data, as on a real bus.
    }
    this.dma.cmd &= ~BigInt(DMA_RUN);
    if (cmd & BigInt(DMA_IRQ)) this.raise(IRQ_DMA);
  }
}

/** `vfio-vm run --model` takes a module whose default export is a model. */
export default eduModel();
