// The edu model (examples/models/edu.ts), served over vfio-user by the host's vfio-vm
// (`--model`), driven from the guest through real VFIO with this library: the same checks as
// QEMU's own edu. Runs only when the run serves a model (VFIO_VM_MODEL holds its BDF);
// VFIO_VM_MODEL_DMA says whether guest RAM was mapped into the server or reached by messages.
import { spawnSync } from 'child_process';
import { once } from 'events';
import * as path from 'path';
import { Device, DmaPool, Irq, Mapping } from '../../lib';
import { describeIf, openDevice } from './env';

const MODEL = process.env.VFIO_VM_MODEL;
const DMA_MODE = process.env.VFIO_VM_MODEL_DMA;

const interrupt = (irq: Irq, ms = 60000) => once(irq, 'interrupt', { signal: AbortSignal.timeout(ms) });

async function waitClear(bar: Mapping, off: number, bit: number, ms = 60000): Promise<void> {
  const end = Date.now() + ms;
  while (bar.read32(off) & bit) {
    if (Date.now() > end) throw new Error(`bit 0x${bit.toString(16)} of 0x${off.toString(16)} still set`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describeIf(MODEL, 'no device model served (vfio-vm run --model)')(
  `the edu model over vfio-user (DMA ${DMA_MODE})`,
  () => {
    let dev: Device;
    let bar: Mapping;
    beforeAll(async () => {
      dev = await openDevice(MODEL as string);
      dev.config.memorySpace = true;
      dev.config.busMaster = true;
      bar = dev.bar(0).map();
    });
    afterAll(() => dev?.close());

    it('has edu ids, class and BAR as the model describes them', () => {
      expect([dev.config.vendorId, dev.config.deviceId]).toEqual([0x1234, 0x11e8]);
      expect(dev.config.classCode).toBe(0x00ff00);
      expect(dev.bar(0).size).toBe(1n << 20n);
      expect(bar.read32(0x00)).toBe(0x010000ed);
    });

    it('inverts what is written to the liveness register', () => {
      for (const v of [0x12345678, 0, 0xffffffff, 0xa5a5a5a5]) {
        bar.write32(0x04, v);
        expect(bar.read32(0x04)).toBe(~v >>> 0);
      }
    });

    it('computes a factorial and signals it with MSI', async () => {
      const irq = dev.irq('MSI').enable();
      try {
        const done = interrupt(irq);
        bar.write32(0x20, 0x80);
        bar.write32(0x08, 12);
        await done;
        expect(bar.read32(0x24)).toBe(0x1);
        bar.write32(0x64, 0x1);
        expect(bar.read32(0x08)).toBe(479001600);
        expect(bar.read32(0x24)).toBe(0);
      } finally {
        irq.disable();
      }
    });

    it('copies RAM -> device -> RAM through the IOMMU, with a completion interrupt', async () => {
      const irq = dev.irq('MSI').enable();
      const pool = DmaPool.create(dev, { blockSize: 2048, blocks: 2, dmaMaskBits: 28 });
      try {
        const src = pool.alloc();
        const dst = pool.alloc();
        const pattern = Uint8Array.from({ length: 1500 }, (_, i) => (i * 7 + 3) & 0xff);
        src.u8.set(pattern);
        dst.u8.fill(0);
        for (const [s, d, toRam] of [
          [src.iova, 0x40000, false],
          [0x40000, dst.iova, true],
        ] as const) {
          const done = interrupt(irq);
          bar.write64n(0x80, s);
          bar.write64n(0x88, d);
          bar.write64n(0x90, pattern.length);
          bar.writeRelease32(0x98, 0x1 | (toRam ? 0x2 : 0) | 0x4);
          await done;
          await waitClear(bar, 0x98, 0x1);
          expect(bar.read32(0x24) & 0x100).toBe(0x100);
          bar.write32(0x64, 0x100);
        }
        expect(Buffer.from(dst.u8.subarray(0, pattern.length)).equals(Buffer.from(pattern))).toBe(true);
      } finally {
        irq.disable();
        pool.close();
      }
    });

    it("runs examples/edu-driver unchanged, with the real edu's output", () => {
      dev.close(); // the example opens the device itself
      const script = path.join(__dirname, '..', '..', 'examples', 'edu-driver.js');
      const r = spawnSync(process.execPath, [script, MODEL as string], { encoding: 'utf8', timeout: 120000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('id 0x010000ed (version 1.0)');
      expect(r.stdout).toContain('-> ok');
      expect(r.stdout).toContain('10! = 3628800 (interrupt status 0x1)');
      expect(r.stdout).toMatch(
        /DMA round trip at IOVA 0x[0-9a-f]+: "hello from the host, through the IOMMU and back" -> ok/,
      );
    });
  },
);
