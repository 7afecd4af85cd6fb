// Ioeventfds without a device: the library's checks of offset, width and value (typed errors
// before any syscall), and the addon's wrapper (argument checks, then a call that reaches the
// kernel: ENOTTY from /dev/null). The guest suite registers real ones on edu.
import { InvalidArgumentError } from '../../lib/errors';
import { checkIoeventfd } from '../../lib/device/ioeventfd';
import { native } from '../../lib/addon/native';
import { E, thrown as thrownByAddon } from './native-util';
import { thrown } from '../support/errors';

const n = native();
const SIZE = 0x100000n;

describe('checkIoeventfd', () => {
  it('gives the width flag and the offset and value as bigints', () => {
    expect(checkIoeventfd('op', { offset: 4, width: 4, value: 0x12345678 }, SIZE)).toEqual({
      offset: 4n,
      value: 0x12345678n,
      flags: 4,
    });
    expect(checkIoeventfd('op', { offset: 0xffff8n, width: 8, value: 0xffffffffffffffffn }, SIZE)).toEqual({
      offset: 0xffff8n,
      value: 0xffffffffffffffffn,
      flags: 8,
    });
    expect(checkIoeventfd('op', { offset: 3, width: 1, value: 0xff }, SIZE).flags).toBe(1);
    expect(checkIoeventfd('op', { offset: 2, width: 2, value: 0 }, SIZE).flags).toBe(2);
  });

  it.each([
    ['a width of 3', { offset: 0, width: 3, value: 0 }, /width 3 is not 1, 2, 4 or 8 bytes/, 'EINVAL'],
    ['no width', { offset: 0, value: 0 }, /width undefined/, 'EINVAL'],
    ['a negative offset', { offset: -4, width: 4, value: 0 }, /offset -4 is not a non-negative integer/, 'EINVAL'],
    ['a fractional offset', { offset: 1.5, width: 1, value: 0 }, /not a non-negative integer/, 'EINVAL'],
    [
      'an offset past the region',
      { offset: 0x100000, width: 4, value: 0 },
      /outside the 0x100000-byte region/,
      'ERANGE',
    ],
    ['a write running past the end', { offset: 0xffffe, width: 4, value: 0 }, /outside/, 'ERANGE'],
    ['a misaligned offset', { offset: 2, width: 4, value: 0 }, /not 4-byte aligned/, 'EINVAL'],
    ['a value too wide', { offset: 0, width: 2, value: 0x10000 }, /does not fit in 16 unsigned bits/, 'EINVAL'],
    ['a negative value', { offset: 0, width: 4, value: -1 }, /does not fit/, 'EINVAL'],
    ['an unsafe number', { offset: 0, width: 8, value: 2 ** 60 }, /does not fit/, 'EINVAL'],
    ['a string value', { offset: 0, width: 4, value: '1' }, /does not fit/, 'EINVAL'],
  ])('refuses %s with a typed error', (_what, opts, message, code) => {
    const err = thrown(() => checkIoeventfd('Region(BAR0).ioeventfd', opts as never, SIZE, '0000:00:03.0'));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect([err.code, err.device]).toEqual([code, '0000:00:03.0']);
    expect(err.message).toMatch(message);
  });
});

describe("the addon's VFIO_DEVICE_IOEVENTFD", () => {
  let fd: number;
  beforeAll(() => {
    fd = n.open('/dev/null', n.constants.O_RDWR | n.constants.O_CLOEXEC);
  });
  afterAll(() => {
    n.close(fd);
  });

  it('reaches the kernel with well-formed arguments (ENOTTY from /dev/null), an eventfd or -1', () => {
    const efd = n.eventfd(0, n.constants.EFD_CLOEXEC);
    try {
      expect(n.VFIO_DEVICE_IOEVENTFD(fd, 4, 0x10n, 0xabcdn, efd)).toBe(-E.ENOTTY);
      expect(n.VFIO_DEVICE_IOEVENTFD(fd, 4, 0x10n, 0xabcdn, -1)).toBe(-E.ENOTTY);
    } finally {
      n.close(efd);
    }
  });

  it('refuses what no call could mean: -EINVAL for an eventfd below -1 or a negative device fd, TypeError for wrong types', () => {
    expect(n.VFIO_DEVICE_IOEVENTFD(fd, 4, 0n, 0n, -2)).toBe(-E.EINVAL);
    expect(n.VFIO_DEVICE_IOEVENTFD(-1, 4, 0n, 0n, -1)).toBe(-E.EINVAL);
    expect(thrownByAddon(() => n.VFIO_DEVICE_IOEVENTFD(fd, 4, 'x' as never, 0n, -1)).name).toBe('TypeError');
    expect(thrownByAddon(() => n.VFIO_DEVICE_IOEVENTFD(fd, 4, 0n, 0n, undefined as never)).name).toBe('TypeError');
  });

  it("the struct is the uAPI's 32 bytes and the ioctl number _IO(';', 116)", () => {
    expect(n.constants.sizes.vfio_device_ioeventfd).toBe(32);
    expect(n.constants.abi.VFIO_DEVICE_IOEVENTFD).toBe((0x3b << 8) | 116);
    expect([8, 16, 32, 64].map((b) => n.constants.abi[`VFIO_DEVICE_IOEVENTFD_${b}`])).toEqual([1, 2, 4, 8]);
  });
});
