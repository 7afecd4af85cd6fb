// Read-only mappings (a region without the WRITE flag is mapped PROT_READ): no write reaches
// them. The library's write accessors throw a typed error; an addon function handed a view of
// one as an output buffer refuses it (-EFAULT) instead of writing into it. In a child Node, so
// that a fault is counted.
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../../lib/addon/native';
import { childJson, DIST_LIB, E, runChild, tempFile } from './native-util';

const { PAGE_SIZE } = native().constants;

describe('a read-only mapping', () => {
  let tmp: ReturnType<typeof tempFile>;
  beforeEach(() => {
    tmp = tempFile(new Uint8Array(PAGE_SIZE).fill(0x3c));
  });
  afterEach(() => tmp.remove());

  const setup = (file: string) => `
    const fd = addon.open(${JSON.stringify(file)}, addon.constants.O_RDONLY);
    const m = addon.mmap(fd, 0n, ${PAGE_SIZE}, addon.constants.PROT_READ, 0);
    const u8 = new Uint8Array(m.buffer), u64 = new BigUint64Array(m.buffer);
    const nul = addon.open('/dev/null', addon.constants.O_RDWR);
    const frame = new Float64Array(addon.frame, 0, 9);
  `;

  it('is refused as an output buffer by every addon function that writes into one (-EFAULT)', () => {
    const r = runChild(
      setup(tmp.file) +
        `
      const results = {
        read: addon.read(nul, u8),
        pread: addon.pread(fd, u8, 0n),
        VFIO_IOMMU_GET_INFO: addon.VFIO_IOMMU_GET_INFO(nul, u8),
        VFIO_DEVICE_GET_INFO: addon.VFIO_DEVICE_GET_INFO(nul, u8),
        VFIO_DEVICE_GET_REGION_INFO: (frame.set([nul, 0, 0, 0, 0, 0, 0, 0]), addon.VFIO_DEVICE_GET_REGION_INFO(u8), frame[8]),
        VFIO_DEVICE_GET_IRQ_INFO: addon.VFIO_DEVICE_GET_IRQ_INFO(nul, 0, u8),
        VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: addon.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(nul, u8),
        VFIO_DEVICE_FEATURE: addon.VFIO_DEVICE_FEATURE(nul, addon.constants.abi.VFIO_DEVICE_FEATURE_GET | 1, u8.subarray(0, 8)),
        DMA_LOGGING_START: addon.VFIO_DEVICE_FEATURE_DMA_LOGGING_START(nul, 4096n, new BigUint64Array(2), u64),
        DMA_LOGGING_REPORT: addon.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(nul, 0n, 4096n, 4096n, u8),
        IOMMU_IOAS_IOVA_RANGES: addon.IOMMU_IOAS_IOVA_RANGES(nul, 1, u64.subarray(0, 2), u64.subarray(2, 3)),
        IOMMU_GET_HW_INFO: addon.IOMMU_GET_HW_INFO(nul, 1, u8, u64),
        IOMMU_IOAS_NOIOMMU_GET_PA: addon.IOMMU_IOAS_NOIOMMU_GET_PA(nul, 1, 0n, 4096n, u64),
      };
      console.log(JSON.stringify({ results, unchanged: u8.every((b) => b === 0x3c) }));`,
    );
    const out = childJson(r) as { results: Record<string, number>; unchanged: boolean };
    for (const [name, result] of Object.entries(out.results))
      expect({ name, result }).toEqual({ name, result: -E.EFAULT });
    expect(out.unchanged).toBe(true);
    expect(fs.readFileSync(tmp.file).every((b) => b === 0x3c)).toBe(true);
  });

  it('library: write accessors and copyIn of a read-only Mapping throw a typed error; reads work', () => {
    if (!fs.existsSync(path.join(DIST_LIB, 'index.js')))
      throw new Error(`${DIST_LIB} is missing: build with \`npx tsc -p tsconfig.json\` first`);
    const r = runChild(
      setup(tmp.file) +
        `
      const { Mapping } = require(${JSON.stringify(path.join(DIST_LIB, 'memory', 'mapping'))});
      const map = new Mapping(m, 0n, ${PAGE_SIZE}, { label: 'file', regionName: 'BAR2', release() {} }, { writable: false });
      const tries = [() => map.write8(0, 1), () => map.write16(0, 1), () => map.write32(0, 1), () => map.write64(0, 1n), () => map.copyIn(0, new Uint8Array(4))];
      const errors = tries.map((f) => { try { f(); return 'no error'; } catch (e) { return e.constructor.name + ':' + e.code + ':' + /read-only/.test(e.message); } });
      console.log(JSON.stringify({ errors, read: map.read32(0), writable: map.writable }));`,
    );
    expect(childJson(r)).toEqual({
      errors: Array(5).fill('InvalidArgumentError:EINVAL:true'),
      read: 0x3c3c3c3c,
      writable: false,
    });
  });
});
