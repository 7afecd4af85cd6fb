// The fault-injecting wrapper (lib/user/faults.ts) around the edu model, served over a socketpair
// to a test client: every fault as the client sees it (all-ones, error replies, stalls, lost,
// late and spurious interrupts, failed, dropped and corrupted DMA), switched both through the
// control BAR (as a guest driver does) and from the host, and a DMA held by a fault while the
// client goes away.
import { eduModel, EDU_BUFFER } from '../../examples/models/edu';
import { native } from '../../lib/addon';
import { VfioError } from '../../lib/errors';
import { defineModel, FAULT_MAGIC, FAULT_REGS, VfioUserServer, withFaults, type FaultControl } from '../../lib/user';
import * as P from '../../lib/user/protocol';
import { dmaMap, setIrqs, socketPair, TestClient } from './user-client';

const CONFIG = 7;
const CTRL = 2;
const MSI = 1;
const EVENTFD_TRIGGER = (1 << 2) | (1 << 5);
const errorOf = (m: P.Header): number => (m.flags & P.FLAG_ERROR ? m.error : 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function counter(fd: number): bigint {
  const b = new Uint8Array(8);
  return native().read(fd, b) === 8 ? new BigUint64Array(b.buffer)[0] : 0n;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(2);
  }
}

describe('the fault-injecting wrapper around edu', () => {
  let server: VfioUserServer;
  let client: TestClient;
  let control: FaultControl;
  let efd: number;

  beforeEach(async () => {
    const faulty = withFaults(eduModel());
    control = faulty.control;
    const [s, c] = socketPair();
    server = VfioUserServer.serve(s, faulty.model, { dmaTimeoutMs: 2000 });
    client = new TestClient(c);
    await client.version();
    efd = native().eventfd(0, native().constants.EFD_NONBLOCK);
    expect(
      errorOf((await client.call(P.Command.DEVICE_SET_IRQS, setIrqs(EVENTFD_TRIGGER, MSI, 0, 1), [efd])).header),
    ).toBe(0);
    await client.write32(CONFIG, 0x04, 0x6); // memory + bus master
  });
  afterEach(() => {
    client.close();
    server.close();
    native().close(efd);
  });

  it('adds its control BAR and leaves edu as it is', async () => {
    const req = new Uint8Array(32);
    new DataView(req.buffer).setUint32(8, CTRL, true);
    const info = await client.call(P.Command.DEVICE_GET_REGION_INFO, req);
    expect(new DataView(info.payload.buffer, info.payload.byteOffset).getBigUint64(16, true)).toBe(4096n);
    expect(await client.read32(CTRL, FAULT_REGS.MAGIC)).toBe(FAULT_MAGIC);
    expect(await client.read32(0, 0x00)).toBe(0x010000ed);
    await client.write32(0, 0x04, 0x1234);
    expect(await client.read32(0, 0x04)).toBe(~0x1234 >>> 0);
  });

  it('reads all-ones and drops writes while dead, then comes back', async () => {
    await client.write32(CTRL, FAULT_REGS.FAULTS, 0x2);
    expect(control.faults.dead).toBe(true);
    expect(await client.read32(0, 0x00)).toBe(0xffffffff);
    await client.write32(0, 0x04, 0x1);
    expect(await client.read32(0, 0x04)).toBe(0xffffffff);
    // Config space is the server's, not the model's: it still answers.
    expect(await client.read32(CONFIG, 0)).toBe(0x11e81234);
    await client.write32(CTRL, FAULT_REGS.FAULTS, 0);
    expect(await client.read32(0, 0x04)).toBe(0); // the write was dropped
  });

  it('fails accesses with an error reply, and stalls them', async () => {
    control.set({ accessError: true });
    const r = await client.call(P.Command.REGION_READ, P.encodeRegionAccess({ offset: 0n, region: 0, count: 4 }));
    expect(errorOf(r.header)).toBe(5);
    expect(await client.read32(CTRL, FAULT_REGS.MAGIC)).toBe(FAULT_MAGIC); // control stays reachable
    control.set({ accessError: false, stallMs: 300 });
    const t0 = Date.now();
    expect(await client.read32(0, 0x00)).toBe(0x010000ed);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    control.set({ stallMs: 1e9 });
    expect(control.faults.stallMs).toBe(2000);
  });

  it('loses interrupts, delays them, and raises spurious ones', async () => {
    await client.write32(CTRL, FAULT_REGS.FAULTS, 0x1);
    await client.write32(0, 0x60, 0x1); // IRQ_RAISE
    await sleep(50);
    expect(counter(efd)).toBe(0n);
    expect(await client.read32(CTRL, FAULT_REGS.IRQS_DROPPED)).toBe(1);
    expect(await client.read32(0, 0x24)).toBe(0x1); // the device thinks it signalled
    await client.write32(0, 0x64, 0x1);

    await client.write32(CTRL, FAULT_REGS.FAULTS, 0);
    await client.write32(CTRL, FAULT_REGS.DELAY_MS, 300);
    const t0 = Date.now();
    await client.write32(0, 0x60, 0x1);
    await sleep(100);
    expect(counter(efd)).toBe(0n);
    await until(() => counter(efd) === 1n);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    await client.write32(0, 0x64, 0x1);

    await client.write32(CTRL, FAULT_REGS.DELAY_MS, 0);
    await client.write32(CTRL, FAULT_REGS.SPURIOUS, 3);
    let got = 0n;
    await until(() => (got += counter(efd)) === 3n);
    expect(await client.read32(0, 0x24)).toBe(0); // nothing to report
    expect(await client.read32(CTRL, FAULT_REGS.IRQS_RAISED)).toBe(4);
  });

  async function dmaToRam(dst: bigint): Promise<void> {
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    for (const [off, val] of [
      [0x80, BigInt(EDU_BUFFER)],
      [0x88, dst],
      [0x90, 4n],
      [0x98, 0x3n],
    ] as const) {
      v.setBigUint64(0, val, true);
      await client.write(0, off, b);
    }
    await until(async () => ((await client.read32(0, 0x98)) & 1) === 0);
  }

  it('fails, drops and corrupts DMA as told', async () => {
    client.memory = { base: 0x10000n, bytes: new Uint8Array(0x1000) };
    await client.call(P.Command.DMA_MAP, dmaMap(0x10000n, 0x1000n));
    // edu's buffer starts zeroed; fill RAM with a pattern and see what each fault leaves there.
    const outcomes: (string | undefined)[] = [];
    control.on('dmaDone', (r) => outcomes.push(r.outcome));
    for (const [mode, want] of [
      ['error', [0xaa, 0xaa]],
      ['drop', [0xaa, 0xaa]],
      ['corrupt', [0xff, 0x00]],
      ['ok', [0x00, 0x00]],
    ] as const) {
      client.memory.bytes.fill(0xaa);
      await client.write32(CTRL, FAULT_REGS.DMA, ['ok', 'error', 'drop', 'corrupt'].indexOf(mode));
      expect(control.faults.dma).toBe(mode);
      await dmaToRam(0x10000n);
      expect([client.memory.bytes[0], client.memory.bytes[1]]).toEqual(want);
    }
    expect(outcomes).toEqual(['EIO', 'ok', 'ok', 'ok']);
    expect(await client.read32(CTRL, FAULT_REGS.DMA_FAULTED)).toBe(3);
  });

  it('a DMA inside a register access is still refused (EDEADLK), whatever the faults', async () => {
    const faulty = withFaults(
      defineModel({
        description: { vendorId: 1, deviceId: 2, classCode: 0, bars: [{ index: 0, size: 4096, kind: 'mem32' }] },
        create: (ctx) => ({
          read: () => {
            void ctx.dma.read(0x10000, 4).then(
              () => codes.push('ok'),
              (e: VfioError) => codes.push(e.code),
            );
            return 0;
          },
        }),
      }),
    );
    const codes: string[] = [];
    faulty.control.set({ delayMs: 100, dma: 'drop' });
    const [s, c] = socketPair();
    const other = VfioUserServer.serve(s, faulty.model);
    const tc = new TestClient(c);
    await tc.version();
    await tc.call(P.Command.DMA_MAP, dmaMap(0x10000n, 0x1000n));
    await tc.read32(0, 0);
    await until(() => codes.length === 1);
    expect(codes).toEqual(['EDEADLK']);
    tc.close();
    other.close();
  });

  it('a DMA held by a delay when the client goes away ends with ECONNRESET', async () => {
    client.memory = { base: 0x10000n, bytes: new Uint8Array(0x1000) };
    await client.call(P.Command.DMA_MAP, dmaMap(0x10000n, 0x1000n));
    control.set({ delayMs: 300 });
    const started = new Promise((r) => control.once('dma', r));
    const done = new Promise<string | undefined>((r) => control.once('dmaDone', (rec) => r(rec.outcome)));
    await client.write32(0, 0x88, 0x10000);
    await client.write32(0, 0x80, EDU_BUFFER);
    await client.write32(0, 0x90, 4);
    await client.write32(0, 0x98, 0x3);
    await started;
    expect((await client.read32(0, 0x98)) & 1).toBe(1); // the engine runs while the DMA is held
    const gone = new Promise((r) => server.once('disconnect', r));
    client.close();
    await gone;
    expect(await done).toBe('ECONNRESET');
    expect(server.session).toBeUndefined();
  });
});
