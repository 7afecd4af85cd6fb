// The NVMe driver's pure parts on byte fixtures: CAP and VS, the Identify structures, the
// completion status, PRP lists (over a pool on a scripted IOMMU backend).
import { DmaBackend, DmaSpace } from '../../lib/dma/map';
import { DmaPool, DmaPoolSpace } from '../../lib/dma/pool';
import { checkDirectBlock } from '../../lib/nvme/data';
import { DecodeError } from '../../lib/decode/errors';
import {
  NvmeError,
  VfioErrorLike,
  blockPrps,
  buildPrps,
  decodeCap,
  decodeIdentifyController,
  decodeIdentifyNamespace,
  decodeNamespaceList,
  decodeStatus,
  decodeVersion,
  prpListPages,
} from './nvme-fixtures';

/** A 4 KiB Identify buffer with `fields` written little-endian at their offsets ([offset, bytes, value]). */
function fixture(fields: [number, number, number | string][]): Uint8Array {
  const d = new Uint8Array(4096);
  for (const [off, len, v] of fields) {
    if (typeof v === 'string') d.set(Buffer.from(v.padEnd(len, ' '), 'latin1'), off);
    else for (let i = 0; i < len; i++) d[off + i] = Math.floor(v / 2 ** (8 * i)) & 0xff;
  }
  return d;
}

describe('CAP and VS', () => {
  it("decodes QEMU's CAP (MQES 2047, CQR, TO 15 = 7.5 s, DSTRD 0, CSS NVM+IO, MPSMIN 4 KiB, MPSMAX 64 KiB)", () => {
    // low: MQES 0x7ff, CQR bit 16, TO 0x0f in 31:24; high: CSS bits 37 and 43 (NVM, I/O sets), MPSMAX 4 (bits 55:52).
    const cap = decodeCap(0x0f0107ff, (1 << 5) | (1 << 11) | (4 << 20));
    expect(cap).toEqual({
      maxQueueEntries: 2048,
      contiguousQueuesRequired: true,
      arbitration: 0,
      timeoutMs: 7500,
      doorbellStride: 4,
      subsystemReset: false,
      commandSets: 0x41,
      pageSizeMin: 4096,
      pageSizeMax: 65536,
    });
    expect(decodeCap(0, 2 | (1 << 4) | (1 << 16)).doorbellStride).toBe(16);
    expect(decodeCap(0, 1 << 16).pageSizeMin).toBe(8192);
    expect(decodeVersion(0x00010400)).toBe('1.4.0');
  });
});

describe('Identify Controller', () => {
  const data = fixture([
    [0, 2, 0x1b36],
    [2, 2, 0x1af4],
    [4, 20, 'vfiovm0'],
    [24, 40, 'QEMU NVMe Ctrl'],
    [64, 8, '8.0.0'],
    [73, 3, 0x525400],
    [77, 1, 7],
    [78, 2, 3],
    [80, 4, 0x00010400],
    [256, 2, 0x000a],
    [258, 1, 3],
    [512, 1, 0x66],
    [513, 1, 0x44],
    [514, 2, 0],
    [516, 4, 256],
    [520, 2, 0x015d],
    [525, 1, 1],
    [768, 20, 'nqn.2019-08.org.qemu'],
  ]);

  it('decodes the fields into a typed object', () => {
    const id = decodeIdentifyController(data);
    expect(id).toMatchObject({
      vendorId: 0x1b36,
      subsystemVendorId: 0x1af4,
      serial: 'vfiovm0',
      model: 'QEMU NVMe Ctrl',
      firmware: '8.0.0',
      ieeeOui: 0x525400,
      mdts: 7,
      controllerId: 3,
      version: '1.4.0',
      optionalAdminCommands: 0x0a,
      abortLimit: 4,
      sqEntryBytes: { min: 64, max: 64 },
      cqEntryBytes: { min: 16, max: 16 },
      namespaceCount: 256,
      volatileWriteCache: true,
      subsystemNqn: 'nqn.2019-08.org.qemu',
    });
    expect(id.optionalCommands).toEqual({
      compare: true,
      writeUncorrectable: false,
      datasetManagement: true,
      writeZeroes: true,
      saveSelectFeatures: true,
      reservations: false,
      timestamp: true,
      verify: false,
      copy: true,
    });
  });

  it('refuses short data with a DecodeError', () => {
    expect(() => decodeIdentifyController(data.subarray(0, 1000))).toThrow(DecodeError);
  });
});

describe('Identify Namespace', () => {
  it('decodes size, capacity, the LBA formats and the one in use', () => {
    const data = fixture([
      [0, 8, 32768],
      [8, 8, 32768],
      [16, 8, 100],
      [24, 1, 0x14],
      [25, 1, 7],
      [26, 1, 4],
      [33, 1, 0x09],
      [104, 16, 0],
      [120, 4, 0x04030201],
      [124, 4, 0x08070605],
      // LBAF i: MS (2 bytes), LBADS, RP. 0: 512 B; 1: 512+8; 2: 512+16; 3: 512+64; 4: 4 KiB; 5: 4K+8; 6: 4K+16; 7: 4K+64.
      ...[
        [0, 9],
        [8, 9],
        [16, 9],
        [64, 9],
        [0, 12],
        [8, 12],
        [16, 12],
        [64, 12],
      ].flatMap(([ms, lbads], i): [number, number, number][] => [
        [128 + 4 * i, 2, ms],
        [130 + 4 * i, 1, lbads],
      ]),
    ]);
    const ns = decodeIdentifyNamespace(data);
    expect(ns).toMatchObject({
      size: 32768,
      capacity: 32768,
      utilization: 100,
      features: 0x14,
      formatIndex: 4,
      extendedMetadata: false,
      deallocatedRead: 1,
    });
    expect(ns.lbaFormats).toHaveLength(8);
    expect(ns.format).toEqual({ metadataBytes: 0, blockBytes: 4096, relativePerformance: 0 });
    expect(ns.lbaFormats[3]).toEqual({ metadataBytes: 64, blockBytes: 512, relativePerformance: 0 });
    expect(ns.eui64).toBe('0102030405060708');
    expect(ns.nguid).toBe('0'.repeat(32));
  });

  it('refuses a format index beyond NLBAF and an impossible block size', () => {
    expect(() =>
      decodeIdentifyNamespace(
        fixture([
          [25, 1, 0],
          [26, 1, 2],
          [130, 1, 9],
        ]),
      ),
    ).toThrow(/FLBAS selects format 2 of 1/);
    expect(() =>
      decodeIdentifyNamespace(
        fixture([
          [25, 1, 0],
          [130, 1, 3],
        ]),
      ),
    ).toThrow(/LBADS 3/);
  });
});

describe('active namespace list', () => {
  it('stops at the first zero and refuses a list that does not ascend', () => {
    expect(
      decodeNamespaceList(
        fixture([
          [0, 4, 1],
          [4, 4, 2],
          [8, 4, 7],
        ]),
      ),
    ).toEqual([1, 2, 7]);
    expect(decodeNamespaceList(new Uint8Array(4096))).toEqual([]);
    expect(() =>
      decodeNamespaceList(
        fixture([
          [0, 4, 2],
          [4, 4, 1],
        ]),
      ),
    ).toThrow(DecodeError);
  });
});

describe('completion status', () => {
  it('splits SCT, SC, CRD, More and DNR', () => {
    // DW3 bits 31:17 shifted down: SC 0x80, SCT 0, DNR.
    expect(decodeStatus(0x4080)).toEqual({ sc: 0x80, sct: 0, crd: 0, more: false, dnr: true });
    expect(decodeStatus(0x0281 | 0x2000)).toEqual({ sc: 0x81, sct: 2, crd: 0, more: true, dnr: false });
  });

  it('NvmeError is a VfioError naming the command, the status and the retry bit', () => {
    const e: VfioErrorLike = new NvmeError(
      0x4080,
      { queue: 1, opcode: 2, name: 'Read', commandId: 5, nsid: 1, lba: 99999, blocks: 1 },
      '0000:01:00.0',
    );
    expect(e.code).toBe('ENVME');
    expect(e.message.split('\n')[0]).toBe(
      'nvme: Read (I/O queue 1, command 5, NSID 1, LBA 99999 +1) failed on 0000:01:00.0: LBA Out of Range (generic status 0x80, do not retry)',
    );
    expect(e.hint).toMatch(/NSZE/);
    const inv = new NvmeError(0x400b, { queue: 1, opcode: 2, name: 'Read', commandId: 0, nsid: 9 });
    expect([inv.sct, inv.sc, inv.dnr, inv.statusName]).toEqual([0, 0x0b, true, 'Invalid Namespace or Format']);
  });
});

describe('PRP lists', () => {
  const backend: DmaBackend = {
    name: 'Fake',
    mapOp: 'MAP',
    unmapOp: 'UNMAP',
    geometry: () => ({ ranges: [{ start: 0n, end: 0xffffffffn }], pageSizes: 0x1000n }),
    map: () => 0,
    unmap: () => 0,
    dmaAvailable: () => undefined,
  };

  it('counts the list pages a transfer needs', () => {
    expect([1, 2, 3, 513, 514, 1026].map((n) => prpListPages(n, 4096))).toEqual([0, 0, 1, 1, 2, 3]);
  });

  it('uses PRP2 directly for two pages, a list for more, and chains list pages', () => {
    using pool = DmaPool.create(new DmaSpace(backend), { blockSize: 4096, blocks: 600 });
    const pages = Array.from({ length: 514 }, () => pool.alloc());
    const one = buildPrps(pages.slice(0, 1), pool);
    expect([one.prp1, one.prp2, one.lists.length]).toEqual([pages[0].iova, 0, 0]);
    const two = buildPrps(pages.slice(0, 2), pool);
    expect([two.prp1, two.prp2, two.lists.length]).toEqual([pages[0].iova, pages[1].iova, 0]);
    const three = buildPrps(pages.slice(0, 3), pool);
    expect(three.prp2).toBe(three.lists[0].iova);
    expect(pool.buffer.read64(three.lists[0].offset)).toBe(BigInt(pages[1].iova));
    expect(pool.buffer.read64(three.lists[0].offset + 8)).toBe(BigInt(pages[2].iova));
    three.lists.forEach((l) => l.free());
    // 514 pages: 513 entries; the first list holds 511 and a pointer, the second the last two.
    const many = buildPrps(pages, pool);
    expect(many.lists).toHaveLength(2);
    const [l0, l1] = many.lists;
    expect(pool.buffer.read64(l0.offset + 510 * 8)).toBe(BigInt(pages[511].iova));
    expect(pool.buffer.read64(l0.offset + 511 * 8)).toBe(BigInt(l1.iova));
    expect(pool.buffer.read64(l1.offset)).toBe(BigInt(pages[512].iova));
    expect(pool.buffer.read64(l1.offset + 8)).toBe(BigInt(pages[513].iova));
  });

  it('gives back its list pages when the pool runs dry', () => {
    using pool = DmaPool.create(new DmaSpace(backend), { blockSize: 4096, blocks: 4 });
    const pages = [pool.alloc(), pool.alloc(), pool.alloc(), pool.alloc()];
    pages[3].free();
    const before = pool.available;
    expect(() => buildPrps([...pages.slice(0, 3), pages[0], pages[1]], pool)).not.toThrow();
    expect(pool.available).toBe(before - 1);
    // No pages at all is an argument error, with no list page taken.
    expect(() => buildPrps([], pool)).toThrow(/a transfer of 0 pages/);
    expect(pool.available).toBe(before - 1);
  });

  it('points the PRPs of an in-place transfer at the block itself, from any dword inside a page', () => {
    using pool = DmaPool.create(new DmaSpace(backend), { blockSize: 256 * 1024, blocks: 2 });
    using lists = DmaPool.create(new DmaSpace(backend), { blockSize: 4096, blocks: 4 });
    const blk = pool.alloc();
    const one = blockPrps(blk, 4096, 4096, lists);
    expect([one.prp1, one.prp2, one.lists.length]).toEqual([blk.iova, 0, 0]);
    const two = blockPrps(blk, 8192, 4096, lists);
    expect([two.prp1, two.prp2, two.lists.length]).toEqual([blk.iova, blk.iova + 4096, 0]);
    // 256 KiB: PRP1 and a list of the 63 pages after it.
    const all = blockPrps(blk, 256 * 1024, 4096, lists);
    expect([all.prp1, all.prp2, all.lists.length]).toEqual([blk.iova, all.lists[0].iova, 1]);
    const entries = Array.from({ length: 63 }, (_, i) => Number(lists.buffer.read64(all.lists[0].offset + 8 * i)));
    expect(entries).toEqual(Array.from({ length: 63 }, (_, i) => blk.iova + 4096 * (i + 1)));
    all.lists.forEach((l) => l.free());
    // A block that starts inside a page: PRP1 carries the offset, PRP2 is the next page's start.
    using small = DmaPool.create(new DmaSpace(backend), { blockSize: 1024, blocks: 8 });
    const inner = small.blocks[3];
    expect(inner.iova % 4096).toBe(3072);
    const split = blockPrps(inner, 1024, 4096, lists);
    expect([split.prp1, split.prp2]).toEqual([inner.iova, 0]);
    // One that starts 1 KiB before a page ends and goes on into the next page.
    using wide = DmaPool.create(new DmaSpace(backend), { blockSize: 3072, blocks: 2, align: 1024 });
    const late = wide.blocks[1];
    expect(late.iova % 4096).toBe(3072);
    const across = blockPrps(late, 2048, 4096, lists);
    expect([across.prp1, across.prp2]).toEqual([late.iova, late.iova + 1024]);
    // Never more than the block holds, even when it would fit in the first page.
    for (const bytes of [1025, NaN])
      expect(() => blockPrps(inner, bytes, 4096, lists)).toThrow(/bytes from a 1024-byte block/);
  });

  it('follows the pages of a pool without an IOMMU, and refuses blocks the device cannot use in place', () => {
    const fake = new DmaSpace(backend);
    const unsafe: DmaPoolSpace = {
      unsafe: true,
      map: (buf, o) => fake.map(buf, o),
      deviceAddress: (_m, off = 0) => BigInt(off < 4096 ? 0x100000 + off : 0x900000 + off - 4096),
    };
    using pool = DmaPool.create(unsafe, { blockSize: 8192, blocks: 1 });
    using lists = DmaPool.create(fake, { blockSize: 4096, blocks: 1 });
    const blk = pool.alloc();
    const prps = blockPrps(blk, 8192, 4096, lists);
    expect([prps.prp1, prps.prp2]).toEqual([0x100000, 0x900000]);
    const check = (b = blk, bytes = 8192, space: DmaPoolSpace = unsafe, page = 4096, deviceWrites = true) => {
      try {
        checkDirectBlock('NvmeController.read', b, bytes, deviceWrites, space, page, '0000:01:00.0');
        return 'ok';
      } catch (e) {
        return `${(e as VfioErrorLike).code}: ${(e as VfioErrorLike).message}`;
      }
    };
    expect(check()).toBe('ok');
    expect(check(blk, 8192, fake)).toMatch(/^EINVAL: .*another IOMMU context/);
    expect(check(blk, 12288)).toMatch(/^EINVAL: .*has 8192 bytes; the transfer needs 12288/);
    // A controller page of 8 KiB would span the two physical pages.
    expect(check(blk, 8192, unsafe, 8192)).toMatch(
      /^EINVAL: .*not contiguous for the device.*hint: use blocks of at most one page/s,
    );
    // The direction the device needs: written by a read, read by a write.
    using readOnly = DmaPool.create(fake, { blockSize: 4096, blocks: 1, write: false });
    using writeOnly = DmaPool.create(fake, { blockSize: 4096, blocks: 1, read: false });
    const [ro, wo] = [readOnly.alloc(), writeOnly.alloc()];
    expect(check(ro, 4096, fake)).toMatch(
      /^EINVAL: .*mapped with write: false; a read needs the device to write it\s+hint: use a pool created without write: false/,
    );
    expect(check(ro, 4096, fake, 4096, false)).toBe('ok');
    expect(check(wo, 4096, fake, 4096, false)).toMatch(
      /^EINVAL: .*mapped with read: false; a write needs the device to read it/,
    );
    expect(check(wo, 4096, fake)).toBe('ok');
    using odd = DmaPool.create(fake, { blockSize: 2, blocks: 4, align: 2 });
    odd.alloc();
    expect(check(odd.alloc(), 2, fake)).toMatch(/^EINVAL: .*not dword aligned/);
    expect(check(odd.blocks[2], 2, fake)).toMatch(/^EINVAL: .*not allocated/);
  });
});
