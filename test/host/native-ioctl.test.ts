// The ioctl wrappers without a VFIO device: what the addon checks before the kernel sees a call
// (-EINVAL, TypeError), what it writes into caller buffers (argsz, index), and that a well-formed
// call reaches the kernel (ENOTTY from /dev/null, which has no ioctls). The guest suite runs the
// same calls against real devices.
import { MemId, native } from '../../lib/addon/native';
import { E, thrown } from './native-util';

const n = native();
const { abi, sizes, O_RDWR, O_CLOEXEC } = n.constants;
const u32At = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getUint32(off, true);

let fd: number; // /dev/null: every ioctl is ENOTTY, so reaching the kernel is visible
beforeAll(() => {
  fd = n.open('/dev/null', O_RDWR | O_CLOEXEC);
});
afterAll(() => {
  n.close(fd);
});

describe('info ioctls write argsz (and index) before the kernel sees the buffer', () => {
  it.each([
    ['VFIO_DEVICE_GET_INFO', 'vfio_device_info', (b: Uint8Array) => n.VFIO_DEVICE_GET_INFO(fd, b)],
    ['VFIO_IOMMU_GET_INFO', 'vfio_iommu_type1_info', (b: Uint8Array) => n.VFIO_IOMMU_GET_INFO(fd, b)],
  ])(
    '%s: the first ask is argsz = sizeof(%s), whatever room the buffer has; a smaller buffer is -EINVAL',
    (_name, struct, call) => {
      const buf = new Uint8Array(sizes[struct] + 40).fill(0xaa);
      expect(call(buf)).toBe(-E.ENOTTY);
      expect(u32At(buf, 0)).toBe(sizes[struct]);
      expect(buf[sizes[struct] - 1]).toBe(0); // the struct is cleared before the kernel sees it
      expect(call(new Uint8Array(sizes[struct] - 1))).toBe(-E.EINVAL);
    },
  );

  it('GET_PCI_HOT_RESET_INFO asks with the whole buffer (its growth is by device count)', () => {
    const buf = new Uint8Array(sizes.vfio_pci_hot_reset_info + 40);
    expect(n.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(fd, buf)).toBe(-E.ENOTTY);
    expect(u32At(buf, 0)).toBe(buf.length);
    expect(n.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(fd, new Uint8Array(sizes.vfio_pci_hot_reset_info - 1))).toBe(-E.EINVAL);
  });

  it('GET_REGION_INFO and GET_IRQ_INFO also write the index at byte 8', () => {
    const region = new Uint8Array(64);
    expect(n.VFIO_DEVICE_GET_REGION_INFO(fd, 7, region)).toBe(-E.ENOTTY);
    expect([u32At(region, 0), u32At(region, 8)]).toEqual([sizes.vfio_region_info, 7]);
    const irq = new Uint8Array(sizes.vfio_irq_info);
    expect(n.VFIO_DEVICE_GET_IRQ_INFO(fd, 2, irq)).toBe(-E.ENOTTY);
    expect([u32At(irq, 0), u32At(irq, 8)]).toEqual([16, 2]);
    expect(n.VFIO_DEVICE_GET_REGION_INFO(fd, 0, new Uint8Array(31))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_GET_IRQ_INFO(fd, -1, irq)).toBe(-E.EINVAL);
  });
});

describe('plain ioctls reach the kernel', () => {
  it('container, group and iommufd calls on a non-VFIO fd are -ENOTTY', async () => {
    expect(n.VFIO_GET_API_VERSION(fd)).toBe(-E.ENOTTY);
    expect(n.VFIO_CHECK_EXTENSION(fd, abi.VFIO_TYPE1v2_IOMMU as number)).toBe(-E.ENOTTY);
    expect(n.VFIO_SET_IOMMU(fd, 3)).toBe(-E.ENOTTY);
    expect(n.VFIO_GROUP_GET_STATUS(fd)).toBe(-E.ENOTTY);
    expect(n.VFIO_GROUP_SET_CONTAINER(fd, fd)).toBe(-E.ENOTTY);
    expect(n.VFIO_GROUP_UNSET_CONTAINER(fd)).toBe(-E.ENOTTY);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 0n, 4096n, 0)).toBe(-E.ENOTTY);
    await expect(n.VFIO_DEVICE_BIND_IOMMUFD(fd, fd)).resolves.toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_ATTACH_IOMMUFD_PT(fd, 1)).toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_DETACH_IOMMUFD_PT(fd)).toBe(-E.ENOTTY);
    expect(n.IOMMU_IOAS_ALLOC(fd)).toBe(-E.ENOTTY);
    expect(n.IOMMU_DESTROY(fd, 1)).toBe(-E.ENOTTY);
    expect(n.IOMMU_IOAS_UNMAP(fd, 1, 0n, 4096n)).toBe(-E.ENOTTY);
    expect(n.IOMMU_IOAS_MAP_FILE(fd, 1, fd, 0n, 4096n, 0n, 0)).toBe(-E.ENOTTY);
    expect(n.IOMMU_IOAS_IOVA_RANGES(fd, 1, new BigUint64Array(4))).toBe(-E.ENOTTY);
    expect(n.IOMMU_GET_HW_INFO(fd, 1, new Uint8Array(16), new BigUint64Array(3))).toBe(-E.ENOTTY);
    expect(n.IOMMU_IOAS_NOIOMMU_GET_PA?.(fd, 1, 0n, 4096n, new BigUint64Array(2))).toBe(-E.ENOTTY);
  });

  it('a bad fd is -EBADF', () => {
    expect(n.VFIO_GET_API_VERSION(1 << 30)).toBe(-E.EBADF);
  });

  it('slow calls resolve (never reject) with the result on the thread pool', async () => {
    await expect(n.VFIO_GROUP_GET_DEVICE_FD(fd, '0000:00:03.0')).resolves.toBe(-E.ENOTTY);
    await expect(n.VFIO_DEVICE_RESET(fd)).resolves.toBe(-E.ENOTTY);
    await expect(n.VFIO_DEVICE_PCI_HOT_RESET(fd, Int32Array.of(fd))).resolves.toBe(-E.ENOTTY);
    await expect(n.VFIO_DEVICE_PCI_HOT_RESET(fd, new Int32Array(0))).resolves.toBe(-E.ENOTTY);
    await expect(n.VFIO_DEVICE_RESET(1 << 30)).resolves.toBe(-E.EBADF);
    expect(n.VFIO_GROUP_GET_DEVICE_FD(-1, 'x')).toBe(-E.EINVAL); // refused before any work is queued
  });
});

describe('VFIO_DEVICE_SET_IRQS payload checks', () => {
  const {
    VFIO_IRQ_SET_DATA_NONE: NONE,
    VFIO_IRQ_SET_DATA_BOOL: BOOL,
    VFIO_IRQ_SET_DATA_EVENTFD: EVENTFD,
    VFIO_IRQ_SET_ACTION_TRIGGER: TRIGGER,
  } = abi as Record<string, number>;

  it('accepts a payload whose type matches the DATA flag and whose length is count', () => {
    expect(n.VFIO_DEVICE_SET_IRQS(fd, NONE | TRIGGER, 2, 0, 0, null)).toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_SET_IRQS(fd, BOOL | TRIGGER, 2, 0, 3, new Uint8Array(3))).toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_SET_IRQS(fd, EVENTFD | TRIGGER, 2, 0, 2, Int32Array.of(-1, -1))).toBe(-E.ENOTTY);
  });

  it('-EINVAL for counts that differ from the data, data with DATA_NONE, or not exactly one DATA flag', () => {
    expect(n.VFIO_DEVICE_SET_IRQS(fd, EVENTFD | TRIGGER, 2, 0, 3, Int32Array.of(-1, -1))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_SET_IRQS(fd, BOOL | TRIGGER, 2, 0, 1, new Uint8Array(2))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_SET_IRQS(fd, NONE | TRIGGER, 2, 0, 1, new Uint8Array(1))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_SET_IRQS(fd, TRIGGER, 2, 0, 0, null)).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_SET_IRQS(fd, NONE | BOOL | TRIGGER, 2, 0, 0, null)).toBe(-E.EINVAL);
  });

  it('a TypeError when the payload is the wrong kind of array for its flag', () => {
    expect(thrown(() => n.VFIO_DEVICE_SET_IRQS(fd, EVENTFD | TRIGGER, 2, 0, 1, new Uint8Array(1))).message).toMatch(
      /must be an Int32Array/,
    );
    expect(thrown(() => n.VFIO_DEVICE_SET_IRQS(fd, BOOL | TRIGGER, 2, 0, 1, Int32Array.of(1))).message).toMatch(
      /must be a Uint8Array/,
    );
  });
});

describe('device features', () => {
  const {
    VFIO_DEVICE_FEATURE_GET: GET,
    VFIO_DEVICE_FEATURE_SET: SET,
    VFIO_DEVICE_FEATURE_PROBE: PROBE,
    VFIO_DEVICE_FEATURE_DMA_LOGGING_START: START,
    VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT: REPORT,
    VFIO_DEVICE_FEATURE_MIGRATION: MIGRATION,
  } = abi as Record<string, number>;

  it('the generic call passes any payload, or none', () => {
    expect(n.VFIO_DEVICE_FEATURE(fd, GET | MIGRATION, new Uint8Array(8))).toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_FEATURE(fd, PROBE | GET | MIGRATION, null)).toBe(-E.ENOTTY);
  });

  it('refuses GET/SET of the features whose payload holds user pointers; probing them is fine', () => {
    expect(n.VFIO_DEVICE_FEATURE(fd, SET | START, new Uint8Array(24))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_FEATURE(fd, GET | REPORT, new Uint8Array(32))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_FEATURE(fd, PROBE | SET | START, null)).toBe(-E.ENOTTY);
  });

  it('DMA_BUF takes [offset, length] pairs', () => {
    expect(n.VFIO_DEVICE_FEATURE_DMA_BUF(fd, 2, O_RDWR, BigUint64Array.of(0n, 4096n))).toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_FEATURE_DMA_BUF(fd, 2, O_RDWR, BigUint64Array.of(0n))).toBe(-E.EINVAL);
  });

  it('DMA logging: ranges in pairs; the report bitmap must cover the range and be 8-byte aligned', () => {
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_START(fd, 4096n, BigUint64Array.of(0n, 1n << 20n))).toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_START(fd, 4096n, BigUint64Array.of(0n))).toBe(-E.EINVAL);
    // 1 MiB at 4 KiB pages = 256 bits = 32 bytes of u64 words.
    const words = new BigUint64Array(4);
    const bytes = new Uint8Array(words.buffer);
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(fd, 0n, 1n << 20n, 4096n, bytes)).toBe(-E.ENOTTY);
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(fd, 0n, 1n << 20n, 4096n, bytes.subarray(0, 31))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(fd, 0n, (1n << 20n) + 1n, 4096n, bytes)).toBe(-E.EINVAL);
    const unaligned = new Uint8Array(40).subarray(4, 36);
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(fd, 0n, 1n << 20n, 4096n, unaligned)).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(fd, 0n, 1n << 20n, 3000n, bytes)).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(fd, 0n, 0n, 4096n, bytes)).toBe(-E.EINVAL);
  });
});

describe('iommufd argument checks', () => {
  it('IOVA range output comes in [start, last] pairs; hw info needs room for the capabilities', () => {
    expect(n.IOMMU_IOAS_IOVA_RANGES(fd, 1, new BigUint64Array(3))).toBe(-E.EINVAL);
    expect(n.IOMMU_GET_HW_INFO(fd, 1, new Uint8Array(8), new BigUint64Array(0))).toBe(-E.EINVAL);
    expect(n.IOMMU_IOAS_NOIOMMU_GET_PA?.(fd, 1, 0n, 4096n, new BigUint64Array(1))).toBe(-E.EINVAL);
  });

  it('IOAS_MAP takes a mapping id and checks the range against its mapping', () => {
    const m = n.dma_alloc(8192, false);
    if (typeof m === 'number') throw new Error(`dma_alloc: ${m}`);
    expect(n.IOMMU_IOAS_MAP(fd, 1, m.id, 0n, 8192n, 0n, 0)).toBe(-E.ENOTTY);
    expect(n.IOMMU_IOAS_MAP(fd, 1, m.id, 4096n, 8192n, 0n, 0)).toBe(-E.EINVAL);
    expect(thrown(() => n.IOMMU_IOAS_MAP(fd, 1, m.handle as never, 0n, 1n, 0n, 0)).message).toMatch(
      /argument 2 must be a number/,
    );
    n.dma_free(m.handle);
    expect(n.IOMMU_IOAS_MAP(fd, 1, m.id, 0n, 8192n, 0n, 0)).toBe(-E.EBADF);
  });

  it('bigints must be lossless u64s; numbers must fit their C type', () => {
    expect(n.IOMMU_IOAS_UNMAP(fd, 1, -1n, 4096n)).toBe(-E.EINVAL);
    expect(n.IOMMU_IOAS_UNMAP(fd, 1, 1n << 64n, 4096n)).toBe(-E.EINVAL);
    expect(n.IOMMU_IOAS_UNMAP(fd, 2 ** 32, 0n, 4096n)).toBe(-E.EINVAL);
    expect(n.IOMMU_IOAS_UNMAP(fd, 1, 0n, (1n << 64n) - 1n)).toBe(-E.ENOTTY);
  });

  it('DMA addresses and lengths may also be integer numbers up to 2^53', () => {
    expect(n.IOMMU_IOAS_UNMAP(fd, 1, 0, 4096)).toBe(-E.ENOTTY);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 2 ** 53, 4096, 0)).toBe(-E.ENOTTY);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 2 ** 53 + 2, 4096, 0)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 0.5, 4096, 0)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, -4096, 4096, 0)).toBe(-E.EINVAL);
    expect(thrown(() => n.IOMMU_IOAS_UNMAP(fd, 1, '0' as unknown as bigint, 1n)).message).toMatch(
      /argument 2 must be a bigint or a number/,
    );
  });
});

// The DMA map/unmap functions take their numbers through the addon's call frame
// (native/frame.h); the wrappers keep the argument contract of every other function.
describe('framed DMA functions', () => {
  it('a number slot refuses bigints and non-numbers with a TypeError naming the argument', () => {
    expect(thrown(() => n.VFIO_IOMMU_UNMAP_DMA('3' as unknown as number, 0, 4096, 0)).message).toMatch(
      /argument 0 must be a number/,
    );
    expect(thrown(() => n.IOMMU_IOAS_UNMAP(fd, 1n as unknown as number, 0, 4096)).message).toMatch(
      /argument 1 must be a number/,
    );
    expect(thrown(() => n.VFIO_IOMMU_UNMAP_DMA(fd, 0, 4096, undefined as unknown as number)).name).toBe('TypeError');
  });

  it('fds, ids and flags are checked by the addon as integers in their C range', () => {
    expect(n.VFIO_IOMMU_UNMAP_DMA(-1, 0, 4096, 0)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd + 0.5, 0, 4096, 0)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 0, 4096, 2 ** 32)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 0, 4096, NaN)).toBe(-E.EINVAL);
    expect(n.IOMMU_IOAS_UNMAP(fd, -1, 0, 4096)).toBe(-E.EINVAL);
  });

  it('a bigint above 2^53 reaches the kernel whole; a number there is refused (it would be rounded)', () => {
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, (1n << 60n) + 1n, 4096n, 0)).toBe(-E.ENOTTY);
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 2 ** 60, 4096, 0)).toBe(-E.EINVAL);
    expect(n.IOMMU_IOAS_UNMAP(fd, 1, 0, (1n << 64n) - 1n)).toBe(-E.ENOTTY);
  });

  it('a failed check in one call leaves nothing behind for the next', () => {
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 1n << 64n, 4096, 0)).toBe(-E.EINVAL); // refused before the addon
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 1n << 62n, 4096, 0)).toBe(-E.ENOTTY); // bigint slot 1
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 4096, 4096, 0)).toBe(-E.ENOTTY); // slot 1 a number again
    expect(n.VFIO_IOMMU_UNMAP_DMA(fd, 4096.5, 4096, 0)).toBe(-E.EINVAL);
  });

  it('GET_REGION_INFO: the buffer must be a Uint8Array, the index a u32', () => {
    expect(thrown(() => n.VFIO_DEVICE_GET_REGION_INFO(fd, 0, new Uint16Array(32) as unknown as Uint8Array)).name).toBe(
      'TypeError',
    );
    expect(n.VFIO_DEVICE_GET_REGION_INFO(fd, -1, new Uint8Array(64))).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_GET_REGION_INFO(fd, 2 ** 32 - 1, new Uint8Array(64))).toBe(-E.ENOTTY);
  });

  it('MAP_DMA checks the mapping id, then the range against the mapping', () => {
    const m = n.dma_alloc(8192, false);
    if (typeof m === 'number') throw new Error(`dma_alloc: ${m}`);
    expect(Number.isSafeInteger(m.id) && m.id > 0).toBe(true);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 4096, 4096, 2 ** 40, 3)).toBe(-E.ENOTTY);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 4096, 4097, 0, 3)).toBe(-E.EINVAL);
    expect(thrown(() => n.VFIO_IOMMU_MAP_DMA(fd, { handle: 1 } as never, 0, 4096, 0, 3)).message).toMatch(
      /argument 1 must be a number/,
    );
    // Not an id at all (-EINVAL), or an integer that names no mapping (-EBADF).
    expect(n.VFIO_IOMMU_MAP_DMA(fd, 0 as MemId, 0, 4096, 0, 3)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, 1.5 as MemId, 0, 4096, 0, 3)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, (m.id + 1) as MemId, 0, 4096, 0, 3)).toBe(-E.EBADF);
    n.dma_free(m.handle);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 0, 4096, 0, 3)).toBe(-E.EBADF); // freed: the id names nothing
  });

  it("a freed mapping's id stays dead when its slot is reused", () => {
    const a = n.dma_alloc(4096, false);
    if (typeof a === 'number') throw new Error(`dma_alloc: ${a}`);
    n.dma_free(a.handle);
    const b = n.dma_alloc(4096, false);
    if (typeof b === 'number') throw new Error(`dma_alloc: ${b}`);
    expect(b.id).not.toBe(a.id);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, a.id, 0, 4096, 0, 3)).toBe(-E.EBADF);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, b.id, 0, 4096, 0, 3)).toBe(-E.ENOTTY);
    n.dma_free(b.handle);
  });
});
