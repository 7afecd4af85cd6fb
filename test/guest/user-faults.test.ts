// The faulty edu (examples/models/faulty-edu.ts) served over vfio-user, driven through real
// VFIO in the guest: each fault switched through its control BAR, and what this library does
// about it: typed errors with hints, deadlines kept, nothing left registered or open, the
// process alive. Runs only where the configuration serves that model (VFIO_TEST_MODEL_FAULTS).
import * as fs from 'fs';
import { Device, DmaPool, Irq, Mapping, TimeoutError, VfioError } from '../../lib';
import { FAULT_MAGIC, FAULT_REGS as R } from '../../lib/user';
import { rejection } from '../support/errors';
import { describeIf, openDevice } from './env';

const MODEL = process.env.VFIO_VM_MODEL;
const FAULTY = MODEL && process.env.VFIO_TEST_MODEL_FAULTS;
// edu's registers.
const ID = 0x00;
const FACTORIAL = 0x08;
const STATUS = 0x20;
const IRQ_STATUS = 0x24;
const IRQ_RAISE = 0x60;
const IRQ_ACK = 0x64;
const DMA_CMD = 0x98;
const BUFFER = 0x40000;
const DMA_MODES = ['ok', 'error', 'drop', 'corrupt'];
/** How far past its deadline a wait may settle: one TCG guest's timer and MMIO round trip slack. */
const SLACK_MS = 1500;

const openFds = () => fs.readdirSync('/proc/self/fd').length;

/** What `f` resolves to, and how long from the call on it took (ms). */
async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

describeIf(FAULTY, 'the run serves no fault-injecting model (--model dist/examples/models/faulty-edu.js)')(
  'a fault-injecting model: what the library does about each fault',
  () => {
    let fdsBefore: number;
    let dev: Device;
    let bar: Mapping;
    let ctl: Mapping;
    let irq: Irq;

    /** Starts one edu DMA (RAM <-> its buffer) with a completion interrupt. */
    const startDma = (src: number, dst: number, count: number, toRam: boolean) => {
      bar.write64n(0x80, src);
      bar.write64n(0x88, dst);
      bar.write64n(0x90, count);
      bar.writeRelease32(DMA_CMD, 0x1 | (toRam ? 0x2 : 0) | 0x4);
    };
    const dmaDone = async () => {
      await bar.waitFor(DMA_CMD, 0x1, 0, { timeoutMs: 30000 });
      bar.write32(IRQ_ACK, 0x100);
    };

    beforeAll(async () => {
      fdsBefore = openFds();
      dev = await openDevice(MODEL as string);
      dev.config.memorySpace = true;
      dev.config.busMaster = true;
      bar = dev.bar(0).map();
      ctl = dev.bar(2).map();
      irq = dev.irq('MSI').enable();
    });
    let closed = false;
    // Each test starts from a quiet edu: no fault, nothing pending, no stray interrupt on its way.
    beforeEach(async () => {
      if (closed) return;
      for (const r of [R.FAULTS, R.DMA, R.DELAY_MS, R.STALL_MS]) ctl.write32(r, 0);
      await bar.waitFor(DMA_CMD, 0x1, 0, { timeoutMs: 30000 });
      await bar.waitFor(STATUS, 0x1, 0, { timeoutMs: 30000 });
      bar.write32(STATUS, 0);
      bar.write32(IRQ_ACK, 0xffffffff);
      await new Promise((r) => setTimeout(r, 100));
    });

    it('has the control BAR, and edu behind it unchanged', () => {
      expect(ctl.read32(R.MAGIC)).toBe(FAULT_MAGIC);
      expect(bar.read32(ID)).toBe(0x010000ed);
    });

    it('fell off the bus: BARs read all-ones, waitFor keeps its deadline and its hint says so', async () => {
      ctl.write32(R.FAULTS, 0x2);
      expect(bar.read32(ID)).toBe(0xffffffff);
      const [e, ms] = await timed(() => rejection<TimeoutError>(bar.waitFor(STATUS, 0x1, 0, { timeoutMs: 500 })));
      expect(e).toBeInstanceOf(TimeoutError);
      expect(e.code).toBe('ETIMEDOUT');
      expect(e.hint).toMatch(/fallen off the bus.*vendorId/);
      expect(ms).toBeGreaterThanOrEqual(500);
      expect(ms).toBeLessThan(500 + SLACK_MS);
      // As the hint says: config space still answers, so the device is there but its BARs are not.
      expect(dev.config.vendorId).toBe(0x1234);
      ctl.write32(R.FAULTS, 0);
      expect(bar.read32(ID)).toBe(0x010000ed);
    });

    it('a register access the device fails reads all-ones, and the device works on', () => {
      ctl.write32(R.FAULTS, 0x4);
      expect(bar.read32(ID)).toBe(0xffffffff);
      ctl.write32(R.FAULTS, 0);
      expect(bar.read32(ID)).toBe(0x010000ed);
    });

    it('a lost interrupt: Irq.wait times out on time with a hint, nothing stays registered, polling finds the work done', async () => {
      const dropped = ctl.read32(R.IRQS_DROPPED);
      ctl.write32(R.FAULTS, 0x1);
      bar.write32(STATUS, 0x80);
      bar.write32(FACTORIAL, 10);
      const [e, ms] = await timed(() => rejection<TimeoutError>(irq.wait({ timeoutMs: 1000 })));
      expect(e).toBeInstanceOf(TimeoutError);
      expect(e.op).toBe('Irq.wait');
      expect(e.hint).toMatch(/lost.*status register|status register.*lost/);
      expect(ms).toBeGreaterThanOrEqual(1000);
      expect(ms).toBeLessThan(1000 + SLACK_MS);
      expect(irq.listenerCount('interrupt')).toBe(0);
      expect(irq.listenerCount('disable')).toBe(0);
      await bar.waitFor(STATUS, 0x1, 0, { timeoutMs: 10000 });
      expect(bar.read32(FACTORIAL)).toBe(3628800);
      expect(bar.read32(IRQ_STATUS) & 0x1).toBe(0x1);
      expect(ctl.read32(R.IRQS_DROPPED)).toBe(dropped + 1);
      bar.write32(IRQ_ACK, 0x1);
      bar.write32(STATUS, 0);
      // The interrupt path itself is intact.
      ctl.write32(R.FAULTS, 0);
      const next = irq.wait({ timeoutMs: 20000 });
      bar.write32(IRQ_RAISE, 0x1);
      expect(await next).toMatchObject({ vector: 0 });
      bar.write32(IRQ_ACK, 0x1);
    });

    it('late completions: short waits time out on time, a long one gets the interrupt and the data', async () => {
      const pool = DmaPool.create(dev, { blockSize: 4096, blocks: 2, dmaMaskBits: 28 });
      try {
        const src = pool.alloc();
        const dst = pool.alloc();
        src.u8.fill(0x5c);
        dst.u8.fill(0);
        ctl.write32(R.DELAY_MS, 5000); // the DMA waits 5 s, then its interrupt another 5 s
        startDma(src.iova, BUFFER, 64, false);
        const [e, ms] = await timed(() => rejection<TimeoutError>(irq.wait({ timeoutMs: 300 })));
        expect(e).toBeInstanceOf(TimeoutError);
        expect(ms).toBeLessThan(300 + SLACK_MS);
        const busy = await rejection<TimeoutError>(bar.waitFor(DMA_CMD, 0x1, 0, { timeoutMs: 300 }));
        expect(busy).toBeInstanceOf(TimeoutError);
        expect(busy.hint).toMatch(/longer timeoutMs/);
        expect(await irq.wait({ timeoutMs: 30000 })).toMatchObject({ vector: 0 });
        await dmaDone();
        ctl.write32(R.DELAY_MS, 0);
        startDma(BUFFER, dst.iova, 64, true);
        await dmaDone();
        expect(dst.u8.subarray(0, 64).every((b) => b === 0x5c)).toBe(true);
      } finally {
        pool.close();
      }
    });

    it('spurious interrupts arrive with nothing in the status register', async () => {
      const raised = ctl.read32(R.IRQS_RAISED);
      const first = irq.wait({ timeoutMs: 20000 });
      ctl.write32(R.SPURIOUS, 3);
      const ev = await first;
      expect(ev.vector).toBe(0);
      expect(bar.read32(IRQ_STATUS)).toBe(0);
      await new Promise((r) => setTimeout(r, 500));
      expect(ctl.read32(R.IRQS_RAISED)).toBe(raised + 3);
    });

    it('failed, dropped and corrupted DMA: the memory shows each, the engine completes, the next transfer is clean', async () => {
      const pool = DmaPool.create(dev, { blockSize: 4096, blocks: 2, dmaMaskBits: 28 });
      try {
        const src = pool.alloc();
        const dst = pool.alloc();
        const pattern = Uint8Array.from({ length: 256 }, (_, i) => (i * 13 + 1) & 0xff);
        src.u8.set(pattern);
        startDma(src.iova, BUFFER, pattern.length, false);
        await dmaDone();
        const faulted = ctl.read32(R.DMA_FAULTED);
        for (const mode of ['error', 'drop', 'corrupt', 'ok']) {
          dst.u8.fill(0xaa);
          ctl.write32(R.DMA, DMA_MODES.indexOf(mode));
          startDma(BUFFER, dst.iova, pattern.length, true);
          await dmaDone();
          const got = dst.u8.subarray(0, pattern.length);
          if (mode === 'error' || mode === 'drop') expect(got.every((b) => b === 0xaa)).toBe(true);
          else {
            expect(got[0]).toBe(mode === 'corrupt' ? pattern[0] ^ 0xff : pattern[0]);
            expect(Buffer.from(got.subarray(1)).equals(Buffer.from(pattern.subarray(1)))).toBe(true);
          }
        }
        expect(ctl.read32(R.DMA_FAULTED)).toBe(faulted + 3);
      } finally {
        pool.close();
      }
    });

    it('a stalled device: each access is slow but right, and waitFor still keeps its deadline', async () => {
      ctl.write32(R.STALL_MS, 200);
      const [id, ms] = await timed(async () => bar.read32(ID));
      expect(id).toBe(0x010000ed);
      expect(ms).toBeGreaterThanOrEqual(190);
      const [e, waited] = await timed(() => rejection<TimeoutError>(bar.waitFor(STATUS, 0x1, 0x1, { timeoutMs: 600 })));
      expect(e).toBeInstanceOf(TimeoutError);
      // One access may be under way at the deadline: the overshoot is at most one stall.
      expect(waited).toBeLessThan(600 + 200 + SLACK_MS);
    });

    it('after all of it: the device closes cleanly, the Irq rejects as closed, nothing is left open', async () => {
      const pending = irq.wait({ timeoutMs: 60000 });
      closed = true;
      dev.close();
      const e = await rejection<VfioError>(pending);
      expect(e.code).toBe('ECLOSED');
      expect(openFds()).toBe(fdsBefore);
    });
  },
);
