// The addon's plain syscalls on ordinary files: exact-width pread/pwrite, read/write, rlimits,
// eventfd, and how it answers arguments it cannot use (-EINVAL) or of the wrong type (TypeError).
import { native } from '../../lib/addon/native';
import { E, le64, tempFile, thrown } from './native-util';

const n = native();
const { O_RDONLY, O_RDWR, O_CLOEXEC, O_NONBLOCK, EFD_NONBLOCK, RLIMIT_MEMLOCK } = n.constants;

describe('pread/pwrite on a temp file', () => {
  const bytes = Uint8Array.from({ length: 64 }, (_, i) => i);
  let tmp: ReturnType<typeof tempFile>;
  let fd: number;
  beforeEach(() => {
    tmp = tempFile(bytes);
    fd = n.open(tmp.file, O_RDWR | O_CLOEXEC);
    expect(fd).toBeGreaterThanOrEqual(0);
  });
  afterEach(() => {
    expect(n.close(fd)).toBe(0);
    tmp.remove();
  });

  it.each([1, 2, 4, 8])('reads exactly %i bytes at an offset', (width) => {
    const buf = new Uint8Array(width);
    expect(n.pread(fd, buf, 8n)).toBe(width);
    expect(Array.from(buf)).toEqual(Array.from(bytes.subarray(8, 8 + width)));
  });

  it.each([1, 2, 4, 8])('writes exactly %i bytes and nothing around them', (width) => {
    const value = Uint8Array.from({ length: width }, () => 0xee);
    expect(n.pwrite(fd, value, 16n)).toBe(width);
    const back = new Uint8Array(width + 2);
    expect(n.pread(fd, back, 15n)).toBe(width + 2);
    expect(Array.from(back)).toEqual([15, ...Array(width).fill(0xee), 16 + width]);
  });

  it('reads a subarray view at its own offset, and stops at end of file', () => {
    const big = new Uint8Array(16);
    expect(n.pread(fd, big.subarray(4, 8), 60n)).toBe(4);
    expect(Array.from(big.subarray(4, 8))).toEqual([60, 61, 62, 63]);
    expect(Array.from(big.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(n.pread(fd, new Uint8Array(8), 64n)).toBe(0);
  });

  it('read and write move the file position', () => {
    const head = new Uint8Array(3);
    expect(n.read(fd, head)).toBe(3);
    expect(n.read(fd, head)).toBe(3);
    expect(Array.from(head)).toEqual([3, 4, 5]);
    expect(n.write(fd, Uint8Array.of(0xaa))).toBe(1);
    const check = new Uint8Array(1);
    expect(n.pread(fd, check, 6n)).toBe(1);
    expect(check[0]).toBe(0xaa);
  });

  it('refuses offsets that are not non-negative 63-bit bigints', () => {
    expect(n.pread(fd, new Uint8Array(1), -1n)).toBe(-E.EINVAL);
    expect(n.pwrite(fd, new Uint8Array(1), 1n << 63n)).toBe(-E.EINVAL);
    expect(n.pread(fd, new Uint8Array(1), 1n << 64n)).toBe(-E.EINVAL);
  });
});

describe('errors come back as -errno', () => {
  it('open of a missing file is -ENOENT; close of a bad fd -EBADF', () => {
    expect(n.open('/nonexistent/vfio-native-test', O_RDONLY)).toBe(-E.ENOENT);
    expect(n.close(1 << 30)).toBe(-E.EBADF);
  });

  it('a path with a NUL byte is -EINVAL, not a shorter path', () => {
    expect(n.open('/dev/null\0/etc/passwd', O_RDONLY)).toBe(-E.EINVAL);
  });

  it('fds that are negative, fractional or not finite are -EINVAL', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 31]) {
      expect(n.close(bad)).toBe(-E.EINVAL);
      expect(n.read(bad, new Uint8Array(1))).toBe(-E.EINVAL);
    }
  });

  it('wrong argument types throw a TypeError naming the argument', () => {
    expect(thrown(() => n.close('3' as unknown as number))).toEqual({
      name: 'TypeError',
      message: expect.stringMatching(/argument 0 must be a number/),
    });
    expect(thrown(() => n.pread(0, new Uint8Array(1), '0' as unknown as bigint)).message).toMatch(
      /argument 2 must be a bigint or a number/,
    );
    expect(thrown(() => n.read(0, new Uint16Array(1) as unknown as Uint8Array)).message).toMatch(
      /argument 1 must be a Uint8Array/,
    );
    expect(thrown(() => n.open(7 as unknown as string, 0)).message).toMatch(/argument 0 must be a string/);
  });
});

describe('rlimits', () => {
  it('getrlimit gives [cur, max] bigints; setrlimit to the same values succeeds', () => {
    const limits = n.getrlimit(RLIMIT_MEMLOCK);
    if (typeof limits === 'number') throw new Error(`getrlimit: ${limits}`);
    const [cur, max] = limits;
    expect(typeof cur).toBe('bigint');
    expect(cur <= max).toBe(true);
    expect(n.setrlimit(RLIMIT_MEMLOCK, cur, max)).toBe(0);
    expect(n.getrlimit(RLIMIT_MEMLOCK)).toEqual([cur, max]);
  });

  it('an unknown resource is -EINVAL; cur above max is -EINVAL', () => {
    expect(n.getrlimit(9999)).toBe(-E.EINVAL);
    expect(n.setrlimit(RLIMIT_MEMLOCK, 2n, 1n)).toBe(-E.EINVAL);
    expect(n.setrlimit(RLIMIT_MEMLOCK, -1n, 1n)).toBe(-E.EINVAL);
  });
});

describe('eventfd', () => {
  it('counts what is written and resets on read', () => {
    const fd = n.eventfd(2, EFD_NONBLOCK);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(n.write(fd, le64(5n))).toBe(8);
    const counter = new BigUint64Array(1);
    expect(n.read(fd, new Uint8Array(counter.buffer))).toBe(8);
    expect(counter[0]).toBe(7n);
    expect(n.read(fd, new Uint8Array(counter.buffer))).toBe(-E.EAGAIN);
    expect(n.read(fd, new Uint8Array(4))).toBe(-E.EINVAL); // the kernel wants 8 bytes
    expect(n.close(fd)).toBe(0);
  });

  it('unknown flags are -EINVAL', () => {
    expect(n.eventfd(0, O_NONBLOCK | 0x40000000)).toBe(-E.EINVAL);
  });
});
