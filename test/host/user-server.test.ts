// The vfio-user server against a client over a socketpair, with the edu model behind it:
// negotiation, info queries, config space and its write masks, registers, interrupts through
// eventfds, DMA in both modes (mapped descriptors and messages), overlapping unmaps, error
// replies for malformed messages, and a client that goes away.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { eduModel, EDU_BUFFER, factorial32 } from '../../examples/models/edu';
import { native } from '../../lib/addon';
import { defineModel, VfioUserServer } from '../../lib/user';
import * as P from '../../lib/user/protocol';
import { dmaMap, openFds, setIrqs, socketPair, TestClient } from './user-client';

const CONFIG = 7;
const MSI = 1;
const EVENTFD_TRIGGER = (1 << 2) | (1 << 5);
const NONE_TRIGGER = (1 << 0) | (1 << 5);
const errorOf = (m: P.Header): number => (m.flags & P.FLAG_ERROR ? m.error : 0);

function start(model = eduModel()): { server: VfioUserServer; client: TestClient } {
  const [s, c] = socketPair();
  const server = VfioUserServer.serve(s, model, { dmaTimeoutMs: 2000 });
  return { server, client: new TestClient(c) };
}

function counter(fd: number): bigint {
  const b = new Uint8Array(8);
  return native().read(fd, b) === 8 ? new BigUint64Array(b.buffer)[0] : 0n;
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe('vfio-user server with the edu model', () => {
  let server: VfioUserServer;
  let client: TestClient;
  beforeEach(async () => {
    ({ server, client } = start());
  });
  afterEach(() => {
    client.close();
    server.close();
  });

  it('negotiates the version, and refuses anything before it', async () => {
    const early = await client.call(P.Command.DEVICE_GET_INFO, new Uint8Array(16));
    expect(errorOf(early.header)).toBe(22);
    const r = await client.version();
    expect(errorOf(r.header)).toBe(0);
    const v = P.decodeVersion(r.payload);
    expect([v.major, v.minor]).toEqual([0, 0]);
    expect(v.capabilities).toMatchObject({ max_msg_fds: 16, max_data_xfer_size: 1 << 20 });
    const again = await client.version();
    expect(errorOf(again.header)).toBe(22);
  });

  it('describes a PCI device: info, regions, interrupts', async () => {
    await client.version();
    const info = await client.call(P.Command.DEVICE_GET_INFO, new Uint8Array(16));
    const iv = new DataView(info.payload.buffer, info.payload.byteOffset);
    expect([iv.getUint32(4, true), iv.getUint32(8, true), iv.getUint32(12, true)]).toEqual([3, 9, 5]);
    const region = async (index: number) => {
      const req = new Uint8Array(32);
      new DataView(req.buffer).setUint32(8, index, true);
      const m = await client.call(P.Command.DEVICE_GET_REGION_INFO, req);
      const v = new DataView(m.payload.buffer, m.payload.byteOffset);
      return { flags: v.getUint32(4, true), size: v.getBigUint64(16, true) };
    };
    expect(await region(0)).toEqual({ flags: 3, size: 1n << 20n });
    expect(await region(1)).toEqual({ flags: 0, size: 0n });
    expect(await region(CONFIG)).toEqual({ flags: 3, size: 256n });
    const irq = async (index: number) => {
      const req = new Uint8Array(16);
      new DataView(req.buffer).setUint32(8, index, true);
      const m = await client.call(P.Command.DEVICE_GET_IRQ_INFO, req);
      return new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(12, true);
    };
    expect([await irq(0), await irq(1), await irq(2), await irq(3), await irq(4)]).toEqual([0, 1, 0, 0, 0]);
  });

  it('builds config space from the description, with write masks', async () => {
    await client.version();
    expect(await client.read32(CONFIG, 0)).toBe(0x11e81234);
    expect(await client.read32(CONFIG, 8)).toBe(0x00ff0010); // class 00ff00, revision 0x10
    expect(await client.read32(CONFIG, 0x2c)).toBe(0x11001af4);
    const cap = (await client.read(CONFIG, 0x34, 1))[0];
    expect(cap).toBe(0x40);
    expect((await client.read(CONFIG, cap, 1))[0]).toBe(0x05); // MSI
    await client.write32(CONFIG, 0, 0xffffffff); // ids are read-only
    expect(await client.read32(CONFIG, 0)).toBe(0x11e81234);
    await client.write32(CONFIG, 0x10, 0xffffffff); // BAR sizing: 1 MiB, 32-bit memory
    expect(await client.read32(CONFIG, 0x10)).toBe(0xfff00000);
    await client.write32(CONFIG, 0x04, 0xffff);
    expect((await client.read32(CONFIG, 0x04)) & 0xffff).toBe(0x0547);
    expect(server.session?.config.busMaster).toBe(true);
  });

  it('answers edu registers: id, liveness, factorial', async () => {
    await client.version();
    expect(await client.read32(0, 0)).toBe(0x010000ed);
    await client.write32(0, 4, 0x12345678);
    expect(await client.read32(0, 4)).toBe(~0x12345678 >>> 0);
    await client.write32(0, 8, 10);
    await until(async () => ((await client.read32(0, 0x20)) & 1) === 0);
    expect(await client.read32(0, 8)).toBe(3628800);
    expect(factorial32(13)).toBe(6227020800 % 2 ** 32);
    // A 2-byte read below 0x80 is not an edu access: all-ones.
    expect(Array.from(await client.read(0, 0, 2))).toEqual([0xff, 0xff]);
  });

  it('takes SET_IRQS as QEMU sends it (de-assign, disable-all, eventfd) and signals MSI', async () => {
    await client.version();
    expect(errorOf((await client.call(P.Command.DEVICE_SET_IRQS, setIrqs(EVENTFD_TRIGGER, MSI, 0, 1))).header)).toBe(0);
    expect(errorOf((await client.call(P.Command.DEVICE_SET_IRQS, setIrqs(NONE_TRIGGER, MSI, 0, 0))).header)).toBe(0);
    const efd = native().eventfd(0, native().constants.EFD_NONBLOCK);
    const r = await client.call(P.Command.DEVICE_SET_IRQS, setIrqs(EVENTFD_TRIGGER, MSI, 0, 1), [efd]);
    expect(errorOf(r.header)).toBe(0);
    expect(server.session?.irqs.armed(MSI)).toEqual([0]);
    await client.write32(CONFIG, 0x04, 0x6); // memory + bus master
    await client.write32(0, 0x20, 0x80);
    await client.write32(0, 0x08, 5);
    await until(() => counter(efd) === 1n);
    expect(await client.read32(0, 0x24)).toBe(0x1);
    expect(await client.read32(0, 0x08)).toBe(120);
    // Disable-all releases the server's copy: the edu interrupt then goes nowhere.
    await client.call(P.Command.DEVICE_SET_IRQS, setIrqs(NONE_TRIGGER, MSI, 0, 0));
    expect(server.session?.irqs.armed(MSI)).toEqual([]);
    native().close(efd);
  });

  async function dmaRoundTrip(iova: bigint, mem: { get: () => Uint8Array; set: (b: Uint8Array) => void }) {
    await client.write32(CONFIG, 0x04, 0x6);
    const message = new TextEncoder().encode('through the socket and back');
    const src = new Uint8Array(0x1000);
    src.set(message);
    mem.set(src);
    const dma = async (s: bigint, d: bigint, toRam: boolean) => {
      const b = new Uint8Array(8);
      const v = new DataView(b.buffer);
      for (const [off, val] of [
        [0x80, s],
        [0x88, d],
        [0x90, BigInt(message.length)],
        [0x98, BigInt(1 | (toRam ? 2 : 0))],
      ] as const) {
        v.setBigUint64(0, val, true);
        await client.write(0, off, b);
      }
      await until(async () => ((await client.read32(0, 0x98)) & 1) === 0);
    };
    await dma(iova, BigInt(EDU_BUFFER), false);
    await dma(BigInt(EDU_BUFFER), iova + 0x800n, true);
    expect(new TextDecoder().decode(mem.get().subarray(0x800, 0x800 + message.length))).toBe(
      'through the socket and back',
    );
  }

  it('does DMA by messages when DMA_MAP brings no descriptor', async () => {
    await client.version();
    client.memory = { base: 0x10000n, bytes: new Uint8Array(0x1000) };
    expect(errorOf((await client.call(P.Command.DMA_MAP, dmaMap(0x10000n, 0x1000n))).header)).toBe(0);
    await dmaRoundTrip(0x10000n, { get: () => client.memory.bytes, set: (b) => client.memory.bytes.set(b) });
    expect(client.dmaRequests).toBe(2);
  });

  it('maps the window when DMA_MAP brings a descriptor: the data lands in the file', async () => {
    await client.version();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-user-dma-'));
    const file = path.join(dir, 'ram');
    fs.writeFileSync(file, new Uint8Array(0x3000));
    const fd = fs.openSync(file, 'r+');
    // The window is the file's second page onwards (offset 0x1000), at IOVA 0x200000.
    expect(errorOf((await client.call(P.Command.DMA_MAP, dmaMap(0x200000n, 0x1000n, 0x1000n), [fd])).header)).toBe(0);
    fs.closeSync(fd);
    const get = () => fs.readFileSync(file).subarray(0x1000, 0x2000);
    await dmaRoundTrip(0x200000n, {
      get,
      set: (b) => {
        const h = fs.openSync(file, 'r+');
        fs.writeSync(h, b, 0, b.length, 0x1000);
        fs.closeSync(h);
      },
    });
    expect(client.dmaRequests).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('removes every window an unmap overlaps, and refuses a map over an existing one', async () => {
    await client.version();
    await client.call(P.Command.DMA_MAP, dmaMap(0x1000n, 0x1000n));
    await client.call(P.Command.DMA_MAP, dmaMap(0x2000n, 0x2000n));
    await client.call(P.Command.DMA_MAP, dmaMap(0x8000n, 0x1000n));
    expect(errorOf((await client.call(P.Command.DMA_MAP, dmaMap(0x2800n, 0x100n))).header)).toBe(17);
    const u = await client.call(P.Command.DMA_UNMAP, P.encodeDmaUnmap({ flags: 0, address: 0x1800n, size: 0x1000n }));
    expect(errorOf(u.header)).toBe(0);
    expect(P.decodeDmaUnmap(u.payload).address).toBe(0x1800n);
    expect(server.session?.dma.list().map((w) => w.start)).toEqual([0x8000n]);
  });

  it('answers malformed messages with errors and keeps serving', async () => {
    await client.version();
    const before = openFds();
    // Wrong size for the command.
    expect(errorOf((await client.call(P.Command.DMA_MAP, new Uint8Array(8))).header)).toBe(22);
    // Unknown command, and one the server does not offer.
    expect(errorOf((await client.call(99)).header)).toBe(38);
    expect(errorOf((await client.call(P.Command.DEVICE_FEATURE, new Uint8Array(8))).header)).toBe(95);
    // A descriptor where none belongs: refused, and closed by the server.
    const efd = native().eventfd(0, 0);
    const r = await client.call(P.Command.REGION_READ, P.encodeRegionAccess({ offset: 0n, region: 0, count: 4 }), [
      efd,
    ]);
    expect(errorOf(r.header)).toBe(22);
    native().close(efd);
    // Out of the region, and a region that does not exist.
    await expect(client.read(0, 1 << 20, 4)).rejects.toThrow('error 22');
    await expect(client.read(12, 0, 4)).rejects.toThrow('error 22');
    // No_reply: nothing comes back, and the write took effect.
    void client.write(0, 4, Uint8Array.of(0, 0, 0, 0), P.FLAG_NO_REPLY); // never answered
    expect(await client.read32(0, 4)).toBe(0xffffffff);
    expect(client.unsolicited).toEqual([]);
    expect(openFds()).toBe(before);
    // A header whose size is below the header: an error reply, and the stream is dropped.
    const bad = P.encodeMessage({ id: 7, command: P.Command.REGION_READ, flags: 0, error: 0 });
    new DataView(bad.buffer).setUint32(4, 8, true);
    expect(errorOf((await client.raw(bad, 7)).header)).toBe(22);
    await client.closed;
  });

  it('fails a model DMA outside every window with a typed error, and one inside a register access', async () => {
    client.close();
    server.close();
    const seen: string[] = [];
    const model = defineModel({
      description: { vendorId: 1, deviceId: 2, classCode: 0, bars: [{ index: 0, size: 4096, kind: 'mem32' }] },
      create: (ctx) => ({
        write: (_bar, offset) => {
          if (offset === 0) ctx.dma.read(0x1000, 4).catch((e: { code: string }) => seen.push(`inside ${e.code}`));
          else
            setImmediate(() => ctx.dma.read(0x5000, 4).catch((e: { code: string }) => seen.push(`outside ${e.code}`)));
        },
      }),
    });
    ({ server, client } = start(model));
    await client.version();
    await client.call(P.Command.DMA_MAP, dmaMap(0x1000n, 0x1000n));
    await client.write32(0, 0, 1);
    await client.write32(0, 4, 1);
    await until(() => seen.length === 2);
    expect(seen.sort()).toEqual(['inside EDEADLK', 'outside EFAULT']);
  });

  it('releases what a client gave when it goes away, resets the model, and serves the next', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-user-sock-'));
    const where = path.join(dir, 'edu.sock');
    let resets = 0;
    const edu = eduModel();
    const model = defineModel({
      ...edu,
      create: (ctx) => {
        const b = edu.create(ctx);
        return {
          read: b.read?.bind(b),
          write: b.write?.bind(b),
          reset: () => {
            resets++;
            b.reset?.();
          },
        };
      },
    });
    const listening = VfioUserServer.listen(where, model);
    const connectOne = async () => {
      const fd = native().socket(native().constants.SOCK_STREAM);
      expect(native().connect(fd, where)).toBe(0);
      const c = new TestClient(fd);
      await new Promise<void>((r) => listening.once('connect', () => r()));
      return c;
    };
    const before = openFds();
    const c1 = await connectOne();
    await c1.version();
    const efd = native().eventfd(0, 0);
    await c1.call(P.Command.DEVICE_SET_IRQS, setIrqs(EVENTFD_TRIGGER, MSI, 0, 1), [efd]);
    native().close(efd);
    await c1.call(P.Command.DMA_MAP, dmaMap(0x1000n, 0x1000n));
    await c1.write32(0, 4, 5);
    const gone = new Promise((r) => listening.once('disconnect', r));
    c1.close();
    await gone;
    await until(() => resets === 1);
    expect(openFds()).toBe(before);
    const c2 = await connectOne();
    await c2.version();
    expect(await c2.read32(0, 4)).toBe(0); // a fresh device
    expect(listening.session?.dma.count).toBe(0);
    c2.close();
    listening.close();
    expect(fs.existsSync(where)).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports the real errno when the client dies with a reply unread (ECONNRESET, not libuv EBADF)', async () => {
    const [s, c] = socketPair();
    const alone = VfioUserServer.serve(s, eduModel());
    const gone = new Promise<number>((r) => alone.once('disconnect', r));
    const caps = { max_msg_fds: 8, max_data_xfer_size: 4096 };
    const version = P.encodeMessage(
      { id: 1, command: P.Command.VERSION, flags: P.TYPE_COMMAND, error: 0 },
      P.encodeVersion({ major: 0, minor: 0, capabilities: caps }),
    );
    expect(native().sendmsg(c, version, null)).toBe(version.length);
    await until(() => alone.session !== undefined && (alone.session as unknown as { negotiated: boolean }).negotiated);
    await new Promise((r) => setTimeout(r, 50)); // the reply now waits, unread, in the client's socket
    native().close(c);
    expect(await gone).toBe(-104);
    alone.close();
  });
});
