import * as os from 'os';
import {
  BusyError,
  ClosedError,
  InvalidArgumentError,
  NotSupportedError,
  PermissionError,
  VfioError,
  check,
  checkValue,
  closedError,
  errnoError,
  errnoName,
  invalidArgument,
} from '../../lib/errors';
import { bindHint, groupOpenHint, memlockHint } from '../../lib/system/hints';
import { must } from '../support/must';

const E = os.constants.errno;

describe('errnoError', () => {
  it.each([
    [E.ENOTTY, NotSupportedError, 'ENOTTY'],
    [E.EOPNOTSUPP, NotSupportedError, 'EOPNOTSUPP'],
    [E.EPERM, PermissionError, 'EPERM'],
    [E.EACCES, PermissionError, 'EACCES'],
    [E.EBUSY, BusyError, 'EBUSY'],
    [E.EINVAL, InvalidArgumentError, 'EINVAL'],
    [E.EIO, VfioError, 'EIO'],
  ])('errno %d becomes %p with code %s', (errno, cls, code) => {
    const err = errnoError(errno, 'VFIO_DEVICE_GET_REGION_INFO', { device: '0000:00:03.0' });
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(VfioError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(err.errno).toBe(errno);
    expect(err.op).toBe('VFIO_DEVICE_GET_REGION_INFO');
    expect(err.device).toBe('0000:00:03.0');
    expect(err.name).toBe(cls.name);
    expect(err.message).toContain('VFIO_DEVICE_GET_REGION_INFO failed on 0000:00:03.0: ' + code);
  });

  it('puts the hint on the error and in the message', () => {
    const hint = must(groupOpenHint('EBUSY', 7, '0000:00:03.0'), "groupOpenHint('EBUSY', 7, '0000:00:03.0')");
    const err = errnoError(E.EBUSY, 'open', { device: '0000:00:03.0', hint, detail: '/dev/vfio/7' });
    expect(err.hint).toBe(hint);
    expect(err.message).toMatch(/\(\/dev\/vfio\/7\)\n {2}hint: \/dev\/vfio\/7 is already open/);
  });

  it('names errnos the platform does not know', () => {
    expect(errnoName(E.ENOENT)).toBe('ENOENT');
    expect(errnoName(99999)).toBe('E99999');
    expect(errnoError(99999, 'ioctl').code).toBe('E99999');
  });
});

describe('check', () => {
  it('passes non-negative results through', () => {
    expect(check(0, 'op')).toBe(0);
    expect(check(17, 'op')).toBe(17);
    expect(checkValue({ a: 1 }, 'op')).toEqual({ a: 1 });
  });

  it('throws the typed error for -errno, with a lazily built context', () => {
    let built = 0;
    const ctx = () => {
      built++;
      return { device: 'x' };
    };
    expect(check(3, 'op', ctx)).toBe(3);
    expect(built).toBe(0);
    try {
      check(-E.ENOTTY, 'VFIO_DEVICE_FEATURE', ctx);
      throw new Error('unreachable');
    } catch (e) {
      expect(e).toBeInstanceOf(NotSupportedError);
      expect((e as VfioError).op).toBe('VFIO_DEVICE_FEATURE');
      expect((e as VfioError).device).toBe('x');
    }
    expect(built).toBe(1);
    expect(() => checkValue(-E.ENOMEM, 'mmap')).toThrow(expect.objectContaining({ code: 'ENOMEM', op: 'mmap' }));
  });
});

describe('our own errors', () => {
  it('closed errors have their own code and class', () => {
    const err = closedError('Mapping.read32', 'the mapping', '0000:00:03.0');
    expect(err).toBeInstanceOf(ClosedError);
    expect(err.code).toBe('ECLOSED');
    expect(err.errno).toBeUndefined();
    expect(err.message).toMatch(/^Mapping\.read32: the mapping is closed/);
  });

  it('invalid arguments carry EINVAL or ERANGE without an errno', () => {
    const a = invalidArgument('Mapping.write32', 'offset 0x3 is not 4-byte aligned');
    expect(a).toBeInstanceOf(InvalidArgumentError);
    expect([a.code, a.errno]).toEqual(['EINVAL', undefined]);
    const b = invalidArgument('Region.map', 'beyond the region', { code: 'ERANGE', device: 'd' });
    expect([b.code, b.device]).toEqual(['ERANGE', 'd']);
  });
});

describe('hints', () => {
  it('bind hint names the current driver and the fix', () => {
    expect(bindHint('0000:00:03.0', 'edu')).toMatch(/bound to edu.*vfio bind 0000:00:03.0/);
    expect(bindHint('0000:00:03.0', undefined)).toMatch(/no driver is bound/);
  });

  it('memlock hint gives both amounts', () => {
    expect(memlockHint(64n * 1024n, 2n * 1024n * 1024n)).toMatch(
      /now 64 KiB, this mapping needs at least 2048 KiB.*`ulimit -l 2048`/,
    );
    // Above the hard limit, ulimit cannot help an unprivileged user: the hint says what can.
    expect(memlockHint(64n * 1024n, 2n * 1024n * 1024n, 64n * 1024n)).toMatch(
      /above the hard limit \(64 KiB\), which `ulimit -l` cannot pass without root: as root, prlimit --memlock=2097152:2097152/,
    );
  });
});
