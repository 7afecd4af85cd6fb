// A scripted VFIO_DEVICE_FEATURE for host tests: the dispatch and vfio_check_feature() rules of
// the kernel, with per-feature handlers. The default script is vfio-pci on 7.3.4 as measured in
// the emulated host (LOW_POWER 3/4/5 SET, DMA_BUF 11 GET, MIG_PRECOPY_INFOv2 12 EINVAL always).
import * as os from 'os';
import * as abi from '../../lib/abi';
import { FeatureHost, FeatureSyscalls } from '../../lib/features/device-features';
import { native } from '../../lib/addon/native';

const E = os.constants.errno;

export interface ScriptedFeature {
  /** VFIO_DEVICE_FEATURE_GET and/or _SET bits the driver offers. */
  ops: number;
  /** Minimum payload size for a real (non-PROBE) call. */
  minsz: number;
  /** Called for a real call; returns the ioctl result or -errno. */
  handler?: (flags: number, payload: Uint8Array | null) => number;
  /** Answers every call with this -errno (how 7.3.4 treats number 12 on vfio-pci). */
  always?: number;
}

export interface Call {
  flags: number;
  payload: Uint8Array | null;
}

export class ScriptedKernel implements FeatureSyscalls {
  readonly calls: Call[] = [];
  readonly closed: number[] = [];
  readonly loggingStarts: { pageSize: bigint; ranges: bigint[] }[] = [];
  nextFd = 100;
  dmaBufOpenFlags = 0o2000002; // O_RDWR | O_CLOEXEC on x86-64
  pageSize = 4096;
  /** The addon's allowlist: the scripted kernel answers what the real one does for them. */
  plainPayload = native().FEATURE_PLAIN_PAYLOAD;
  /** Calls that took the unsafe path. */
  readonly unsafeCalls: number[] = [];
  /** What DMA_LOGGING_REPORT writes into the bitmap. */
  reportBits: number[] = [];

  constructor(readonly script: Record<number, ScriptedFeature>) {}

  feature(_fd: number, flags: number, payload: Uint8Array | null, unsafe = false): number {
    this.calls.push({ flags, payload: payload && new Uint8Array(payload) });
    if (unsafe) this.unsafeCalls.push(flags);
    const f = this.script[flags & abi.VFIO_DEVICE_FEATURE_MASK];
    if (!f) return -E.ENOTTY;
    if (f.always) return -f.always;
    const getSet = flags & (abi.VFIO_DEVICE_FEATURE_GET | abi.VFIO_DEVICE_FEATURE_SET);
    if (getSet & ~f.ops) return -E.EINVAL;
    if (flags & abi.VFIO_DEVICE_FEATURE_PROBE) return 0;
    if (!getSet) return -E.EINVAL;
    if ((payload?.length ?? 0) < f.minsz) return -E.EINVAL;
    return f.handler ? f.handler(flags, payload) : 0;
  }

  dmaLoggingStart(_fd: number, pageSize: bigint, ranges: BigUint64Array): number {
    this.loggingStarts.push({ pageSize, ranges: [...ranges] });
    return this.feature(
      _fd,
      abi.VFIO_DEVICE_FEATURE_SET | abi.VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
      new Uint8Array(16),
    );
  }

  dmaLoggingReport(_fd: number, _iova: bigint, _length: bigint, _pageSize: bigint, bitmap: Uint8Array): number {
    const r = this.feature(
      _fd,
      abi.VFIO_DEVICE_FEATURE_GET | abi.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
      new Uint8Array(32),
    );
    if (r < 0) return r;
    for (const bit of this.reportBits) bitmap[bit >> 3] |= 1 << (bit & 7);
    return r;
  }

  close(fd: number): number {
    this.closed.push(fd);
    return 0;
  }

  /** Real (non-PROBE) calls made so far. */
  get realCalls(): Call[] {
    return this.calls.filter((c) => (c.flags & abi.VFIO_DEVICE_FEATURE_PROBE) === 0);
  }
}

/** 7.3.4 vfio-pci as measured: which numbers exist and what they take. */
export function vfioPci734(
  overrides: Record<number, ScriptedFeature> = {},
  kernel?: { dmaBuf?: ScriptedFeature['handler'] },
): Record<number, ScriptedFeature> {
  const G = abi.VFIO_DEVICE_FEATURE_GET;
  const S = abi.VFIO_DEVICE_FEATURE_SET;
  return {
    3: { ops: S, minsz: 0 },
    4: { ops: S, minsz: 8 },
    5: { ops: S, minsz: 0 },
    11: { ops: G, minsz: 16, handler: kernel?.dmaBuf },
    12: { ops: G, minsz: 0, always: E.EINVAL },
    ...overrides,
  };
}

export interface FakeHost extends FeatureHost {
  owned: Set<{ close(): void }>;
  isOpen: boolean;
}

/** A device with ivshmem's regions: BAR0 256 B registers, BAR1 absent, BAR2 4 MiB, CONFIG. */
export function fakeHost(): FakeHost {
  const owned = new Set<{ close(): void }>();
  const host: FakeHost = {
    label: '0000:00:04.0',
    owned,
    isOpen: true,
    fd: (op: string) => {
      if (!host.isOpen) throw new Error(`${op}: closed`);
      return 7;
    },
    regions: [
      { index: 0, name: 'BAR0', size: 256n },
      { index: 1, name: 'BAR1', size: 0n },
      { index: 2, name: 'BAR2', size: 4n << 20n },
      { index: 7, name: 'CONFIG', size: 4096n },
    ],
    own: (r) => {
      owned.add(r);
    },
    disown: (r) => {
      owned.delete(r);
    },
  };
  return host;
}

export { E };
