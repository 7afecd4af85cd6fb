// A complete userspace driver for QEMU's "edu" teaching device (1234:11e8): registers through a
// BAR mapping, a computation that ends with an interrupt, and a DMA round trip through the IOMMU.
// Copy it as the skeleton of your own driver. The register map is QEMU's docs/specs/edu.rst.
//
//   npx vfio-vm run -- node dist/examples/edu-driver.js            (emulated host: edu at $VFIO_VM_EDU)
//   sudo node dist/examples/edu-driver.js 0000:00:03.0             (a machine with edu bound to vfio-pci)
//
// In your own project, import from 'vfio' instead of '../lib'.
import { once } from 'events';
import { Device, DmaPool, Irq, Mapping } from '../lib';

// edu's BAR0 registers.
const ID = 0x00; // 0xRRrr00ed: major/minor version, then 0xed
const LIVENESS = 0x04; // reads back the bitwise NOT of what was written
const FACTORIAL = 0x08; // write n, read n! once the computing bit clears
const STATUS = 0x20; // bit 0: computing; bit 7: raise an interrupt when a factorial is done
const IRQ_STATUS = 0x24; // why the device interrupted: 0x1 factorial, 0x100 DMA
const IRQ_ACK = 0x64; // write the IRQ_STATUS bits to acknowledge them
const DMA_SRC = 0x80; // 64-bit registers
const DMA_DST = 0x88;
const DMA_COUNT = 0x90;
const DMA_CMD = 0x98; // bit 0 start, bit 1 direction (1: device to RAM), bit 2 interrupt when done
const EDU_BUFFER = 0x40000; // the device's internal 4 KiB DMA buffer, as a DMA address on its side
const EDU_DMA_MASK_BITS = 28; // edu ignores address bits above 27: IOVAs must stay below 256 MiB

/** Waits for the next interrupt, or fails after `ms` (a driver should never wait forever). */
async function interrupt(irq: Irq, ms = 5000): Promise<void> {
  await once(irq, 'interrupt', { signal: AbortSignal.timeout(ms) });
}

async function main(bdf: string): Promise<void> {
  // `await using` closes the device (and everything hanging off it) however main() ends.
  await using dev = await Device.open(bdf);
  const bar0 = dev.bar(0).map();

  // 1. MMIO: every access below is one load or store of exactly 32 bits.
  const id = bar0.read32(ID);
  console.log(`edu ${bdf}: id 0x${id.toString(16).padStart(8, '0')} (version ${id >>> 24}.${(id >>> 16) & 0xff})`);
  bar0.write32(LIVENESS, 0x12345678);
  const alive = bar0.read32(LIVENESS) === ~0x12345678 >>> 0;
  console.log(
    `liveness check: wrote 0x12345678, read 0x${bar0.read32(LIVENESS).toString(16)} -> ${alive ? 'ok' : 'FAILED'}`,
  );

  // 2. An interrupt: edu signals MSI, which is a memory write by the device, so it needs bus
  //    mastering on. Enable the vector before starting the work that raises it.
  dev.config.busMaster = true;
  const irq = dev.irq('MSI').enable();
  const done = interrupt(irq);
  bar0.write32(STATUS, 0x80); // interrupt on completion
  bar0.write32(FACTORIAL, 10);
  await done;
  const why = bar0.read32(IRQ_STATUS);
  bar0.write32(IRQ_ACK, why); // acknowledge, or the device keeps the interrupt raised
  console.log(`factorial: 10! = ${bar0.read32(FACTORIAL)} (interrupt status 0x${why.toString(16)})`);

  // 3. DMA: the device reads a block we filled, then writes it back into another block.
  //    The IOMMU decides what the device may touch: only what we map. A pool is one buffer and
  //    one mapping carved into blocks that know their IOVAs (a driver never maps per transfer).
  const pool = DmaPool.create(dev, { blockSize: 2048, blocks: 2, dmaMaskBits: EDU_DMA_MASK_BITS });
  const src = pool.alloc();
  const dst = pool.alloc();
  const message = new TextEncoder().encode('hello from the host, through the IOMMU and back');
  src.u8.set(message);
  await transfer(bar0, irq, src.iova, EDU_BUFFER, message.length, false); // RAM -> device
  await transfer(bar0, irq, EDU_BUFFER, dst.iova, message.length, true); // device -> RAM
  const back = new TextDecoder().decode(dst.u8.subarray(0, message.length));
  console.log(
    `DMA round trip at IOVA 0x${src.iova.toString(16)}: "${back}" -> ${back === new TextDecoder().decode(message) ? 'ok' : 'FAILED'}`,
  );

  irq.disable();
  if (!alive || bar0.read32(FACTORIAL) !== 3628800 || back !== new TextDecoder().decode(message)) process.exitCode = 1;
}

/**
 * One DMA transfer of edu's engine, waiting for its completion interrupt, then for the engine's
 * run bit to read clear (a register poll with a deadline, never an endless loop).
 */
async function transfer(
  bar0: Mapping,
  irq: Irq,
  src: number,
  dst: number,
  count: number,
  toRam: boolean,
): Promise<void> {
  const done = interrupt(irq);
  // write64n: addresses as numbers, no bigint per transfer. edu takes a 4-byte write of a
  // 64-bit register as the whole value (its addresses are below 2^28 anyway).
  bar0.write64n(DMA_SRC, src);
  bar0.write64n(DMA_DST, dst);
  bar0.write64n(DMA_COUNT, count);
  // The release: the pattern stored into the pool reaches the device before the start command.
  bar0.writeRelease32(DMA_CMD, 0x1 | (toRam ? 0x2 : 0) | 0x4);
  await done;
  await bar0.waitFor(DMA_CMD, 0x1, 0, { timeoutMs: 5000, what: 'the DMA run bit to clear' });
  bar0.write32(IRQ_ACK, bar0.read32(IRQ_STATUS));
}

const bdf = process.argv[2] ?? process.env.VFIO_VM_EDU;
if (!bdf) {
  console.error('usage: node edu-driver.js BDF   (inside the emulated host, $VFIO_VM_EDU is the default)');
  process.exit(2);
}
main(bdf).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
