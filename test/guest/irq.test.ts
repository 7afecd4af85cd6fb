// Interrupts from real devices (edu's raise register and factorial unit) and from the kernel's
// software trigger (nvme MSI-X, ERR, REQ) into the event loop, in the emulated VFIO host.
import { spawn } from 'child_process';
import { once } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { BusyError, Device, InvalidArgumentError, Irq, Mapping, NotSupportedError } from '../../lib';
import { openDevice } from './env';
import { sleep, waitFor } from '../support/time';
import { must } from '../support/must';

const EDU = must(process.env.VFIO_VM_EDU, 'process.env.VFIO_VM_EDU');
const NVME = must(process.env.VFIO_VM_NVME, 'process.env.VFIO_VM_NVME');

// edu registers (QEMU hw/misc/edu.c)
const FACT = 0x08;
const STATUS = 0x20;
const STATUS_COMPUTING = 0x01;
const STATUS_IRQFACT = 0x80;
const IRQ_STATUS = 0x24;
const IRQ_RAISE = 0x60;
const IRQ_ACK = 0x64;
const FACT_IRQ = 0x01;

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

async function openEdu(): Promise<{ dev: Device; bar: Mapping }> {
  const dev = await openDevice(EDU);
  dev.config.memorySpace = true;
  dev.config.busMaster = true; // MSI messages are memory writes
  return { dev, bar: dev.bar(0).map() };
}

describe('edu with MSI', () => {
  let dev: Device;
  let bar: Mapping;
  beforeAll(async () => ({ dev, bar } = await openEdu()));
  afterEach(() => {
    for (const name of ['MSI', 'INTX']) dev.irq(name).disable();
  });
  afterAll(() => dev?.close());

  it('has the interrupts the kernel reports for edu', () => {
    const byName = Object.fromEntries(dev.irqs.map((i) => [i.name, i]));
    expect(byName.INTX.count).toBe(1);
    expect(byName.INTX.flags).toMatchObject({ eventfd: true, maskable: true, automasked: true });
    expect(byName.MSI.count).toBe(1);
    expect(byName.MSIX.count).toBe(0);
    expect(() => dev.irq('MSIX').enable()).toThrow(NotSupportedError);
  });

  it('N raises give N interrupts, and the status register shows each raised value', async () => {
    const irq = dev.irq('MSI').enable();
    const counts: number[] = [];
    irq.on('interrupt', (count: number) => counts.push(count));
    const N = 20;
    for (let i = 0; i < N; i++) {
      const value = (1 << (i % 24)) >>> 0;
      bar.write32(IRQ_RAISE, value);
      expect(bar.read32(IRQ_STATUS)).toBe(value);
      bar.write32(IRQ_ACK, value);
      expect(bar.read32(IRQ_STATUS)).toBe(0);
      // One at a time: two messages on the same vector that reach the CPU's interrupt controller
      // before it takes the first are merged there, before any eventfd sees them.
      await waitFor(`interrupt ${i + 1}`, () => counts.reduce((a, b) => a + b, 0) === i + 1);
    }
    await sleep(50);
    expect(counts).toEqual(Array(N).fill(1));
  }, 180000);

  it('the factorial unit signals its completion with an interrupt', async () => {
    const irq = dev.irq('MSI').enable();
    bar.write32(STATUS, STATUS_IRQFACT);
    const done = once(irq, 'interrupt');
    bar.write32(FACT, 10);
    const [count] = await done;
    expect(count).toBe(1);
    expect(bar.read32(STATUS) & STATUS_COMPUTING).toBe(0);
    expect(bar.read32(IRQ_STATUS)).toBe(FACT_IRQ);
    expect(bar.read32(FACT)).toBe(3628800);
    bar.write32(IRQ_ACK, FACT_IRQ);
    bar.write32(STATUS, 0);
  }, 120000);

  it('MSI and INTx exclude each other', () => {
    const msi = dev.irq('MSI').enable();
    expect(() => dev.irq('INTX').enable()).toThrow(BusyError);
    msi.disable();
    const intx = dev.irq('INTX').enable();
    expect(() => dev.irq('MSI').enable()).toThrow(/cannot enable MSI while INTX is enabled/);
    intx.disable();
  });
});

describe('edu with INTx (automasked)', () => {
  let dev: Device;
  let bar: Mapping;
  let irq: Irq;
  beforeAll(async () => ({ dev, bar } = await openEdu()));
  afterEach(() => irq?.disable());
  afterAll(() => dev?.close());

  it('N raises, each acknowledged in the handler, give N interrupts', async () => {
    dev.config.intxDisabled = true; // enable() must clear it, or the kernel keeps INTx masked
    irq = dev.irq('INTX').enable();
    expect(dev.config.intxDisabled).toBe(false);
    const seen: number[] = [];
    const counts: number[] = [];
    irq.on('interrupt', (count: number) => {
      seen.push(bar.read32(IRQ_STATUS));
      counts.push(count);
      bar.write32(IRQ_ACK, 0xffffffff);
    });
    const N = 10;
    for (let i = 0; i < N; i++) {
      bar.write32(IRQ_RAISE, 0x100 + i);
      await waitFor(`INTx ${i + 1}`, () => seen.length === i + 1);
    }
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => 0x100 + i));
    expect(counts).toEqual(Array(N).fill(1));
  }, 180000);

  it('while masked nothing arrives; after unmask the pending interrupt does', async () => {
    irq = dev.irq('INTX').enable();
    let n = 0;
    irq.on('interrupt', () => {
      n++;
      bar.write32(IRQ_ACK, 0xffffffff);
    });
    irq.mask();
    bar.write32(IRQ_RAISE, 0x42);
    await sleep(300);
    expect(n).toBe(0);
    expect(bar.read32(IRQ_STATUS)).toBe(0x42);
    irq.unmask();
    await waitFor('the pending INTx', () => n === 1);
    await sleep(100);
    expect(n).toBe(1);
    expect(bar.read32(IRQ_STATUS)).toBe(0);
  }, 120000);

  it('an async iterator keeps the line masked until it asks for the next interrupt', async () => {
    irq = dev.irq('INTX').enable();
    const got: number[] = [];
    const events: unknown[] = [];
    const loop = (async () => {
      for await (const e of irq) {
        got.push(bar.read32(IRQ_STATUS));
        events.push(e);
        bar.write32(IRQ_ACK, 0xffffffff);
        if (got.length === 3) break;
      }
    })();
    for (let i = 1; i <= 3; i++) {
      await sleep(20);
      bar.write32(IRQ_RAISE, i);
      await waitFor(`iterated INTx ${i}`, () => got.length === i);
    }
    await loop;
    expect(got).toEqual([1, 2, 3]);
    expect(events).toEqual(Array(3).fill({ vector: 0, count: 1 }));
  }, 120000);
});

describe('nvme MSI-X, ERR and REQ through the software trigger', () => {
  let dev: Device;
  beforeAll(async () => {
    dev = await openDevice(NVME);
    dev.config.busMaster = true; // not needed for software triggers, but real MSI-X needs it
  });
  afterAll(() => dev?.close());

  it('vectors {0, 3} on one Irq, vector 7 added later on another: each event on its own object', async () => {
    const info = must(
      dev.irqs.find((i) => i.name === 'MSIX'),
      "dev.irqs.find((i) => i.name === 'MSIX')",
    );
    expect(info.count).toBe(65);
    const a = dev.irq('MSIX').enable({ vectors: [3, 0] });
    const b = dev.irq('MSIX').enable({ vectors: [7] });
    expect(dev.irq('MSIX').vectors).toEqual([0, 3, 7]);
    // Where the kernel cannot grow MSI-X in place, adding 7 re-enabled it over 0..7.
    expect(dev.irq('MSIX').allocated).toBe(8);
    const onA: [number, number][] = [];
    const onB: [number, number][] = [];
    a.on('interrupt', (count: number, vector: number) => onA.push([vector, count]));
    b.on('interrupt', (count: number, vector: number) => onB.push([vector, count]));
    a.trigger(0);
    await waitFor('vector 0', () => onA.length === 1);
    a.trigger(3);
    a.trigger(3);
    await waitFor('vector 3', () => onA.length === 2);
    b.trigger(7);
    await waitFor('vector 7', () => onB.length === 1);
    await sleep(50);
    expect(onA).toEqual([
      [0, 1],
      [3, 2],
    ]);
    expect(onB).toEqual([[7, 1]]);
    expect(() => a.trigger(7)).toThrow(InvalidArgumentError);

    dev.irq('MSIX').disable();
    expect([a.enabled, b.enabled, dev.irq('MSIX').enabled]).toEqual([false, false, false]);
    // The kernel has MSI-X off too: INTx, which excludes it there, can now be enabled.
    dev.irq('INTX').enable().disable();
  }, 120000);

  it('growing one Irq: add(), and an out-of-range vector is refused before the kernel sees it', async () => {
    const irq = dev.irq('MSIX').enable({ count: 2 });
    irq.add([9, 10]);
    expect(irq.vectors).toEqual([0, 1, 9, 10]);
    const got = once(irq, 'interrupt');
    irq.trigger(10);
    expect(await got).toEqual([1, 10]);
    expect(() => irq.add(65)).toThrow(
      expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/MSIX has 65 vector\(s\) \(0–64\)/) }),
    );
    expect(() => dev.irq('MSI').enable()).toThrow(NotSupportedError); // nvme has no MSI
    irq.disable();
  });

  it('ERR: a software-triggered error notification', async () => {
    const err = dev.irq('ERR').enable();
    const got = once(err, 'interrupt');
    err.trigger();
    expect(await got).toEqual([1, 0]);
    err.disable();
  });

  it("REQ: a 'release-request' listener enables it, and a trigger reaches the device", async () => {
    const got = once(dev, 'release-request');
    expect(dev.irq('REQ').enabled).toBe(true);
    dev.irq('REQ').irqs[0].trigger();
    expect(await got).toEqual([1]);
  });
});

describe('lifetime', () => {
  it('dev.close() closes every eventfd: no fd is left', async () => {
    (await openDevice(NVME)).close(); // first open sets up whatever the process keeps
    const before = openFds();
    const dev = await openDevice(NVME);
    dev.config.busMaster = true;
    const irq = dev.irq('MSIX').enable({ vectors: [0, 3, 7, 20] });
    dev.irq('ERR').enable();
    dev.on('release-request', () => undefined);
    irq.on('interrupt', () => undefined);
    expect(openFds()).toBeGreaterThanOrEqual(before + 6);
    dev.close();
    expect(irq.enabled).toBe(false);
    expect(openFds()).toBe(before);
  }, 120000);

  const child = path.join(__dirname, 'irq-child.js');

  it('a process with enabled but idle interrupts exits by itself', async () => {
    const p = spawn(process.execPath, [child, NVME, 'idle'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 240000);
    const [code, signal] = await once(p, 'exit');
    clearTimeout(timer);
    expect(out).toBe('armed 3 1\n');
    expect([code, signal]).toEqual([0, null]);
  }, 300000);

  it('one with an interrupt listener keeps running', async () => {
    const p = spawn(process.execPath, [child, NVME, 'listen'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = once(p, 'exit');
    await waitFor('the child to arm', () => out.includes('armed') || p.exitCode !== null, 240000);
    await sleep(3000);
    expect(p.exitCode).toBeNull();
    p.kill('SIGTERM');
    const [, signal] = await exited;
    expect(signal).toBe('SIGTERM');
  }, 300000);

  it('a real release request: unbinding the device from vfio-pci asks the owner to let go', async () => {
    const sysfsDev = `/sys/bus/pci/devices/${NVME}`;
    const dev = await openDevice(NVME);
    let requests = 0;
    const released = new Promise<void>((resolve) =>
      dev.on('release-request', () => {
        requests++;
        dev.close();
        resolve();
      }),
    );
    // The write blocks in the kernel until the device is released.
    const unbind = spawn('sh', ['-c', `echo ${NVME} > /sys/bus/pci/drivers/vfio-pci/unbind`], { stdio: 'inherit' });
    const timer = setTimeout(() => dev.close(), 120000);
    try {
      await released;
      const [code] = await once(unbind, 'exit');
      expect(code).toBe(0);
      expect(requests).toBe(1);
      expect(fs.existsSync(`${sysfsDev}/driver`)).toBe(false);
    } finally {
      clearTimeout(timer);
      // driver_override still names vfio-pci: a probe binds it again for the tests after this one.
      if (!fs.existsSync(`${sysfsDev}/driver`)) fs.writeFileSync('/sys/bus/pci/drivers_probe', NVME);
    }
    expect(path.basename(fs.readlinkSync(`${sysfsDev}/driver`))).toBe('vfio-pci');
    (await openDevice(NVME)).close();
  }, 300000);
});
