// Width-exact MMIO against a device whose answer depends on the access width. QEMU's edu
// implements only 4- and 8-byte accesses: below 0x80 it answers an 8-byte read with all ones
// and drops 8-byte writes, and a 1- or 2-byte access never reaches its registers (QEMU's memory
// core refuses it: a read returns one fixed value, a write is dropped). So a read8 or read16
// done as a wider load, a read32 or read64 split into narrower loads, or a write of the wrong
// width each give a different answer here; the expected answers are in docs/testing.md.
// The mapped path (one CPU access) and the region path (one pread/pwrite, which vfio-pci turns
// into one ioread/iowrite of that width) are both checked. Kernels before 64-bit region access
// (test/guest/kernel-facts.ts: 6.1) split an 8-byte pread/pwrite into two 4-byte accesses: the
// region path's 8-byte tests check that split instead.
import { Device, InvalidArgumentError } from '../../lib';
import { pciIds } from '../../lib/system/sysfs';
import { describeIf, guestEnv, openDevice } from './env';
import { kernelFacts } from './kernel-facts';

const env = guestEnv();
const ID = 0x00; // 0x010000ed, read-only
const LIVENESS = 0x04; // reads back the bitwise NOT of the last 4-byte write
const DMA_SRC = 0x80; // a plain 64-bit register that takes 4- and 8-byte accesses
const ID_VALUE = 0x010000ed;
const ALL_ONES_64 = 0xffffffffffffffffn;

interface Access {
  read8(off: number): number;
  read16(off: number): number;
  read32(off: number): number;
  read64(off: number): bigint;
  write8(off: number, v: number): void;
  write16(off: number, v: number): void;
  write32(off: number, v: number): void;
  write64(off: number, v: bigint): void;
}

let dev: Device;
/** [name, access, whether the kernel splits 8-byte accesses on this path in two 4-byte ones] */
const paths: [string, () => Access, boolean][] = [
  ['a mapping of BAR0', () => dev.bar(0).map(), false],
  ['the region (pread/pwrite)', () => dev.bar(0), kernelFacts?.regionRw64 === false],
];

beforeAll(async () => {
  dev = await openDevice(env.edu);
});
afterAll(() => dev?.close());

describe.each(paths)('edu through %s', (_name, access, split64) => {
  let m: Access;
  beforeAll(() => {
    m = access();
  });

  it('32-bit reads return the ID; 1- and 2-byte reads never return its bytes', () => {
    expect(m.read32(ID)).toBe(ID_VALUE);
    const bytes = [0, 1, 2, 3].map((o) => m.read8(ID + o));
    const halves = [0, 2].map((o) => m.read16(ID + o));
    // What QEMU answers a refused narrow read: the same value at every offset, zero or all ones.
    const narrow8 = bytes[0];
    expect([0, 0xff]).toContain(narrow8);
    expect(bytes).toEqual([narrow8, narrow8, narrow8, narrow8]);
    const narrow16 = halves[0];
    expect([0, 0xffff]).toContain(narrow16);
    expect(halves).toEqual([narrow16, narrow16]);
    // A load of the wrong width would have returned the ID's bytes (0xed at 0, 0x01 at 3).
    expect(bytes[0]).not.toBe(0xed);
    expect(bytes[3]).not.toBe(0x01);
    expect(halves).not.toEqual([0x00ed, 0x0100]);
    // Liveness too: its narrow reads are refused whatever it holds.
    m.write32(LIVENESS, 0x5a5a5a5a);
    expect([0, 1, 2, 3].map((o) => m.read8(LIVENESS + o))).toEqual([narrow8, narrow8, narrow8, narrow8]);
    expect([0, 2].map((o) => m.read16(LIVENESS + o))).toEqual([narrow16, narrow16]);
  });

  it('a 64-bit read below 0x80 is one access (all ones), not two 32-bit ones (ID and liveness)', () => {
    m.write32(LIVENESS, 0x12345678);
    const split = BigInt(ID_VALUE) | (BigInt(~0x12345678 >>> 0) << 32n);
    expect(m.read64(ID)).toBe(split64 ? split : ALL_ONES_64);
  });

  it('1-, 2- and 8-byte writes to liveness are dropped; a 4-byte write lands', () => {
    const cases: [string, () => void][] = [
      ...[0, 1, 2, 3].map((o): [string, () => void] => [`write8 @+${o}`, () => m.write8(LIVENESS + o, 0xaa)]),
      ...[0, 2].map((o): [string, () => void] => [`write16 @+${o}`, () => m.write16(LIVENESS + o, 0xbbbb)]),
      // An 8-byte write over ID and liveness: two 4-byte writes would have set liveness.
      ...(split64 ? [] : [['write64 @ID', () => m.write64(ID, 0x1111111122222222n)] as [string, () => void]]),
    ];
    for (const [what, write] of cases) {
      m.write32(LIVENESS, 0x0f0f0f0f);
      write();
      expect([what, m.read32(LIVENESS)]).toEqual([what, ~0x0f0f0f0f >>> 0]);
    }
    expect(m.read32(ID)).toBe(ID_VALUE);
    m.write32(LIVENESS, 0xcafef00d);
    expect(m.read32(LIVENESS)).toBe(~0xcafef00d >>> 0);
  });

  it('a 64-bit register takes one 8-byte write and gives one 8-byte read', () => {
    // Two 4-byte writes would set only the low half (edu has no register at 0x84).
    // Where the kernel splits 8-byte accesses, the read's high half comes from 0x84: all ones.
    const high = split64 ? 0xffffffff00000000n : 0n;
    m.write64(DMA_SRC, 0x1122334455667788n);
    expect(m.read64(DMA_SRC)).toBe(split64 ? high | 0x55667788n : 0x1122334455667788n);
    // And its 4-byte halves: the low one reads the register, the high one is no register.
    expect(m.read32(DMA_SRC)).toBe(0x55667788);
    expect(m.read32(DMA_SRC + 4)).toBe(0xffffffff);
    m.write32(DMA_SRC, 0xaabbccdd);
    expect(m.read64(DMA_SRC)).toBe(high | 0xaabbccddn);
    m.write64(DMA_SRC, 0n);
    expect(m.read64(DMA_SRC)).toBe(high);
  });

  it('misaligned accesses of every width are refused before the device sees them', () => {
    m.write32(LIVENESS, 0x01020304);
    const refused: [string, () => unknown][] = [
      ['read16 @5', () => m.read16(LIVENESS + 1)],
      ['read32 @6', () => m.read32(LIVENESS + 2)],
      ['read64 @4', () => m.read64(LIVENESS)],
      ['write16 @5', () => m.write16(LIVENESS + 1, 1)],
      ['write32 @6', () => m.write32(LIVENESS + 2, 1)],
      ['write64 @4', () => m.write64(LIVENESS, 1n)],
    ];
    for (const [what, call] of refused) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect([what, err]).toEqual([what, expect.any(InvalidArgumentError)]);
      expect([what, (err as InvalidArgumentError).code]).toEqual([what, 'EINVAL']);
    }
    expect(m.read32(LIVENESS)).toBe(~0x01020304 >>> 0);
  });
});

// The 16-bit width, which edu cannot tell apart (both a read16 and two read8 answer 0 there):
// QEMU's rtl8139 implements its interrupt mask register (0x3c) only for 2-byte accesses. A
// 1-byte read of it answers 0 and a 1-byte write to it is dropped, so a read16 done as two read8
// returns 0 and a write16 done as two write8 leaves the register as it was. Its bits 9–12 are
// reserved (writes keep them), so the values written below leave them clear.
const RTL8139 = env.devices.find((bdf) => {
  const ids = pciIds(bdf);
  return ids?.vendor === 0x10ec && ids.device === 0x8139;
});
const INTR_MASK = 0x3c;

describeIf(RTL8139, 'no rtl8139 in this configuration (the default one has it)')(
  'rtl8139: a 2-byte-only register (interrupt mask)',
  () => {
    let nic: Device;
    beforeAll(async () => {
      nic = await openDevice(RTL8139 ?? '');
    });
    afterAll(() => nic?.close());

    const check = (m: Access) => {
      for (const v of [0x8005, 0x0041]) {
        m.write16(INTR_MASK, v);
        // One 2-byte read gives the register; its 1-byte halves answer 0.
        expect(m.read16(INTR_MASK)).toBe(v);
        expect([m.read8(INTR_MASK), m.read8(INTR_MASK + 1)]).toEqual([0, 0]);
      }
      // 1-byte writes are dropped: a write16 done as two of them would leave 0x0041.
      m.write8(INTR_MASK, 0x07);
      m.write8(INTR_MASK + 1, 0x80);
      expect(m.read16(INTR_MASK)).toBe(0x0041);
      m.write16(INTR_MASK, 0);
      expect(m.read16(INTR_MASK)).toBe(0);
    };

    it('through the region (pread/pwrite of BAR1, memory space)', () => {
      check(nic.bar(1));
    });

    it('through a mapping of BAR1 where the kernel lets it be mapped, else a typed refusal', () => {
      const bar1 = nic.bar(1);
      if (bar1.flags.mmap) check(bar1.map());
      else expect(() => bar1.map()).toThrow(/cannot be mmapped/);
    });
  },
);
