// edu's DMA engine (QEMU docs/specs/edu.rst), for the DMA tests: a 4 KiB buffer inside the
// device at address 0x40000, and registers that copy between it and a bus address.
import { Mapping } from '../../lib';
import { sleep } from '../support/time';

export const EDU_DMA_SRC = 0x80;
export const EDU_DMA_DST = 0x88;
export const EDU_DMA_COUNT = 0x90;
export const EDU_DMA_CMD = 0x98;
const CMD_START = 1 << 0;
const CMD_TO_RAM = 1 << 1; // 0: RAM → edu, 1: edu → RAM
const CMD_IRQ = 1 << 2; // raise the DMA interrupt when done
/** Interrupt status and acknowledge registers; the DMA engine's bit. */
export const EDU_IRQ_STATUS = 0x24;
export const EDU_IRQ_ACK = 0x64;
export const EDU_IRQ_DMA = 0x100;
/** Where edu's buffer sits in the device's own DMA address space. */
export const EDU_BUFFER = 0x40000n;
/** edu drives 28 address bits: IOVAs must stay below 2^28. */
export const EDU_DMA_MASK_BITS = 28;
/**
 * QEMU 7.2 aborts on a transfer that ends exactly at the end of edu's 4 KiB buffer (its range
 * check wants the end strictly inside): transfers stay below this.
 */
export const EDU_MAX_TRANSFER = 4095;

/** Waits for the DMA engine to clear its start bit (edu runs a transfer from a ~100 ms timer). */
export async function eduDmaWait(bar0: Mapping, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((bar0.read32(EDU_DMA_CMD) & CMD_START) !== 0) {
    if (Date.now() > until) throw new Error(`edu DMA still running after ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** RAM (an IOVA) → edu's buffer at `eduOffset`; waits by polling the command register. */
export async function eduDmaFromRam(bar0: Mapping, iova: bigint, eduOffset: number, count: number): Promise<void> {
  await eduDmaWait(bar0);
  eduDmaStart(bar0, { src: iova, dst: EDU_BUFFER + BigInt(eduOffset), count, toRam: false });
  await eduDmaWait(bar0);
}

/** edu's buffer at `eduOffset` → RAM (an IOVA); waits by polling the command register. */
export async function eduDmaToRam(bar0: Mapping, eduOffset: number, iova: bigint, count: number): Promise<void> {
  await eduDmaWait(bar0);
  eduDmaStart(bar0, { src: EDU_BUFFER + BigInt(eduOffset), dst: iova, count, toRam: true });
  await eduDmaWait(bar0);
}

export interface EduTransfer {
  src: bigint;
  dst: bigint;
  count: number;
  /** Direction: edu → RAM when true, RAM → edu when false. */
  toRam: boolean;
  /** Raise the DMA interrupt (status bit 0x100) when done. */
  irq?: boolean;
}

/** Programs and starts one transfer (the engine must be idle). */
export function eduDmaStart(bar0: Mapping, t: EduTransfer): void {
  const eduEnd = Number((t.toRam ? t.src : t.dst) - EDU_BUFFER) + t.count;
  if (t.count <= 0 || eduEnd > EDU_MAX_TRANSFER)
    throw new RangeError(`edu transfer of ${t.count} bytes ends at ${eduEnd}, past ${EDU_MAX_TRANSFER}`);
  bar0.write64(EDU_DMA_SRC, t.src);
  bar0.write64(EDU_DMA_DST, t.dst);
  bar0.write64(EDU_DMA_COUNT, BigInt(t.count));
  bar0.write32(EDU_DMA_CMD, CMD_START | (t.toRam ? CMD_TO_RAM : 0) | (t.irq ? CMD_IRQ : 0));
}
