// The typed contract of the native addon (native/*.cc): one function per syscall or ioctl,
// named after it, and the opaque handles it deals in. native.ts loads the addon against it.
/** Opaque native handle for a mapping (device mmap or DMA buffer). Never an address. */
export interface MemHandle {
  readonly __brand: 'MemHandle';
}
/**
 * A mapping's id: the number the DMA map functions name their buffer by (a handle's type check
 * cost a sixth of the native side of a map). Never an address: the addon looks it up among its
 * own live mappings, and an id whose mapping is gone names nothing (-EBADF).
 */
export type MemId = number & { readonly __brand: 'MemId' };
/** A u64 the addon takes as a bigint or, when below 2^53, as an integer number. */
export type U64n = bigint | number;
/** Opaque native handle for an eventfd watched by a libuv poll handle. */
export interface PollHandle {
  readonly __brand: 'PollHandle';
}

/** Opaque native handle for a socket watched by a libuv poll handle (native/socket_poll.cc). */
export interface SocketPollHandle {
  readonly __brand: 'SocketPollHandle';
}

export interface Mapped {
  /** External ArrayBuffer over the mapped memory; detached by munmap()/dma_free(). */
  buffer: ArrayBuffer;
  handle: MemHandle;
  /** The mapping's id, valid until munmap()/dma_free(). */
  id: MemId;
}

export interface NativeConstants {
  O_RDONLY: number;
  O_WRONLY: number;
  O_RDWR: number;
  O_CLOEXEC: number;
  O_NONBLOCK: number;
  PROT_READ: number;
  PROT_WRITE: number;
  EFD_CLOEXEC: number;
  EFD_NONBLOCK: number;
  RLIMIT_MEMLOCK: number;
  PAGE_SIZE: number;
  SOCK_STREAM: number;
  SOCK_SEQPACKET: number;
  /**
   * The longest device mapping or DMA buffer the addon makes (4 GiB on every Node line, though
   * buffer.constants.MAX_LENGTH is larger from Node 22 on).
   */
  MAX_MAPPING_LENGTH: number;
  /** Every VFIO/iommufd constant the native ABI header mirrors, by its uAPI name. */
  abi: Record<string, number | bigint>;
  /** sizeof() of each mirrored struct, by uAPI struct name (e.g. 'vfio_region_info'). */
  sizes: Record<string, number>;
}

export interface Native {
  constants: NativeConstants;

  // --- plain syscalls (native/fd.cc) ---
  open(path: string, flags: number): number;
  close(fd: number): number;
  read(fd: number, buf: Uint8Array): number;
  write(fd: number, buf: Uint8Array): number;
  /** Exactly one pread of buf.byteLength bytes at offset (exact-width for 1/2/4/8). */
  pread(fd: number, buf: Uint8Array, offset: bigint): number;
  pwrite(fd: number, buf: Uint8Array, offset: bigint): number;
  /** [cur, max] as bigints (RLIM_INFINITY = 2^64-1), or -errno. */
  getrlimit(resource: number): [bigint, bigint] | number;
  setrlimit(resource: number, cur: bigint, max: bigint): number;
  eventfd(initval: number, flags: number): number;

  // --- VFIO container / group (native/vfio_ioctl.cc) ---
  VFIO_GET_API_VERSION(containerFd: number): number;
  VFIO_CHECK_EXTENSION(containerFd: number, extension: number): number;
  VFIO_SET_IOMMU(containerFd: number, type: number): number;
  /** Returns the group flags (VIABLE, CONTAINER_SET) or -errno. */
  VFIO_GROUP_GET_STATUS(groupFd: number): number;
  VFIO_GROUP_SET_CONTAINER(groupFd: number, containerFd: number): number;
  VFIO_GROUP_UNSET_CONTAINER(groupFd: number): number;
  /** May reset the device (FLR): runs on the thread pool. Resolves to the device fd or -errno. */
  VFIO_GROUP_GET_DEVICE_FD(groupFd: number, name: string): Promise<number>;
  /**
   * Fills buf (struct vfio_iommu_type1_info + caps): asks with the struct's size, then again with
   * the argsz the kernel wants if buf has room. Returns that argsz (more than buf holds: grow and
   * call again) or -errno. VFIO_DEVICE_GET_INFO and _GET_REGION_INFO work the same way.
   */
  VFIO_IOMMU_GET_INFO(containerFd: number, buf: Uint8Array): number;
  /**
   * Maps [offset, offset+size) of a DMA buffer at iova. 0 or -errno. DMA addresses and lengths
   * (`U64n`) are bigints or, below 2^53, plain integer numbers (no bigint made per mapping).
   * -EBADF when `mem` names no live DMA buffer of this addon instance (a device mapping's id included).
   */
  VFIO_IOMMU_MAP_DMA(containerFd: number, mem: MemId, offset: U64n, size: U64n, iova: U64n, flags: number): number;
  /** Returns 0 or -errno. */
  VFIO_IOMMU_UNMAP_DMA(containerFd: number, iova: U64n, size: U64n, flags: number): number;

  // --- VFIO device ---
  /** Fills buf (struct vfio_device_info + caps); the argsz protocol of VFIO_IOMMU_GET_INFO. */
  VFIO_DEVICE_GET_INFO(deviceFd: number, buf: Uint8Array): number;
  VFIO_DEVICE_GET_REGION_INFO(deviceFd: number, index: number, buf: Uint8Array): number;
  VFIO_DEVICE_GET_IRQ_INFO(deviceFd: number, index: number, buf: Uint8Array): number;
  /**
   * data: null for DATA_NONE; Uint8Array (one bool per vector) for DATA_BOOL;
   * Int32Array (one fd per vector, -1 to tear down) for DATA_EVENTFD. Length must equal count.
   */
  VFIO_DEVICE_SET_IRQS(
    deviceFd: number,
    flags: number,
    index: number,
    start: number,
    count: number,
    data: Uint8Array | Int32Array | null,
  ): number;
  VFIO_DEVICE_RESET(deviceFd: number): Promise<number>;
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(deviceFd: number, buf: Uint8Array): number;
  VFIO_DEVICE_PCI_HOT_RESET(deviceFd: number, groupFds: Int32Array): Promise<number>;
  /**
   * struct vfio_device_feature { argsz, flags, data[] }: payload is copied in before and back out
   * after the ioctl. Returns the ioctl's result (an fd for DMA_BUF GET) or -errno. A payload is
   * taken only for the features known to carry plain values (FEATURE_PLAIN_PAYLOAD: PCI_VF_TOKEN,
   * MIGRATION, MIG_DEVICE_STATE, the LOW_POWER ones, DMA_LOGGING_STOP, MIG_DATA_SIZE, BUS_MASTER,
   * DMA_BUF, whose range count must match the payload); any other feature with a payload is
   * -EINVAL here: DMA_LOGGING_START/REPORT have dedicated functions, a driver's own features go
   * through VFIO_DEVICE_FEATURE_UNSAFE. Without a payload, any feature.
   */
  VFIO_DEVICE_FEATURE(deviceFd: number, flags: number, payload: Uint8Array | null): number;
  /**
   * UNSAFE: VFIO_DEVICE_FEATURE with any payload for any feature but DMA_LOGGING_START/REPORT. The bytes reach the driver as they are: a driver that reads an
   * address from its payload reads one JavaScript chose. Only for features whose layout the
   * caller knows holds no address (a driver's own, documented feature).
   */
  VFIO_DEVICE_FEATURE_UNSAFE(deviceFd: number, flags: number, payload: Uint8Array | null): number;
  /** The feature numbers VFIO_DEVICE_FEATURE takes a payload for (the addon's allowlist). */
  readonly FEATURE_PLAIN_PAYLOAD: readonly number[];
  /**
   * struct vfio_device_ioeventfd { argsz, flags (width), offset, data, fd }: the kernel writes
   * data at the device-fd offset whenever eventfd is signalled; eventfd -1 removes the matching
   * registration. Returns 0 or -errno.
   */
  VFIO_DEVICE_IOEVENTFD(deviceFd: number, flags: number, offset: bigint, data: bigint, eventfd: number): number;
  /** DMA_BUF feature: builds the variable-length range list natively. Returns a dma-buf fd or -errno. */
  VFIO_DEVICE_FEATURE_DMA_BUF(
    deviceFd: number,
    regionIndex: number,
    openFlags: number,
    ranges: BigUint64Array /* [offset0, length0, offset1, length1, …] */,
  ): number;
  /** DMA_LOGGING_START: ranges = [iova0, length0, …]; the page size the device chose goes to out[0]. */
  VFIO_DEVICE_FEATURE_DMA_LOGGING_START(
    deviceFd: number,
    pageSize: bigint,
    ranges: BigUint64Array,
    out?: BigUint64Array,
  ): number;
  /**
   * DMA_LOGGING_REPORT: the kernel ORs the dirty bitmap (u64 words) into bitmap, which must cover
   * the range and start 8-byte aligned (else -EINVAL).
   */
  VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(
    deviceFd: number,
    iova: bigint,
    length: bigint,
    pageSize: bigint,
    bitmap: Uint8Array,
  ): number;
  /**
   * Opens the device for real (may reset it): runs on the thread pool. Resolves to the devid or
   * -errno. `vfToken`: 16 bytes, copied and passed with VFIO_DEVICE_BIND_FLAG_TOKEN (SR-IOV).
   */
  VFIO_DEVICE_BIND_IOMMUFD(deviceFd: number, iommufd: number, vfToken?: Uint8Array | null): Promise<number>;
  /** Returns the attached pt id (the kernel may return an auto-created hwpt) or -errno. */
  VFIO_DEVICE_ATTACH_IOMMUFD_PT(deviceFd: number, ptId: number): number;
  VFIO_DEVICE_DETACH_IOMMUFD_PT(deviceFd: number): number;

  // --- iommufd (native/iommufd_ioctl.cc) ---
  IOMMU_IOAS_ALLOC(iommufd: number): number;
  IOMMU_DESTROY(iommufd: number, id: number): number;
  /**
   * Fills out with [start0, last0, start1, last1, …]; returns the kernel's total range count (also
   * when out was too small: a count above out.length / 2 means "call again with more room"), or -errno.
   * alignment[0], when given, receives out_iova_alignment.
   */
  IOMMU_IOAS_IOVA_RANGES(iommufd: number, ioasId: number, out: BigUint64Array, alignment?: BigUint64Array): number;
  /**
   * flags include IOMMU_IOAS_MAP_FIXED_IOVA to use iova; returns the IOVA used (a number below
   * 2^53, else a bigint) or -errno; -EBADF when `mem` names no live DMA buffer (as VFIO_IOMMU_MAP_DMA).
   */
  IOMMU_IOAS_MAP(
    iommufd: number,
    ioasId: number,
    mem: MemId,
    offset: U64n,
    length: U64n,
    iova: U64n,
    flags: number,
  ): number | bigint;
  IOMMU_IOAS_MAP_FILE(
    iommufd: number,
    ioasId: number,
    fd: number,
    start: bigint,
    length: bigint,
    iova: bigint,
    flags: number,
  ): bigint | number;
  IOMMU_IOAS_UNMAP(iommufd: number, ioasId: number, iova: U64n, length: U64n): number;
  /**
   * Fills buf with the driver-specific info; returns out_data_type or -errno. out[0] = capabilities,
   * and when out is long enough out[1] = the info length the kernel has, out[2] = max PASID log2.
   */
  IOMMU_GET_HW_INFO(iommufd: number, devId: number, buf: Uint8Array, out: BigUint64Array): number;
  /**
   * No-IOMMU mode only: out[0] = the physical address of iova, out[1] = how many of the `length`
   * bytes from there are physically contiguous. Returns 0 or -errno.
   */
  IOMMU_IOAS_NOIOMMU_GET_PA?(
    iommufd: number,
    ioasId: number,
    iova: bigint,
    length: bigint,
    out: BigUint64Array,
  ): number;

  // --- memory (native/mman.cc) ---
  /**
   * MAP_SHARED mapping of fd at offset. align (a power of two <= 1 GiB, 0 = page) places the mapping
   * at an address aligned to it so huge PFN mappings can fault in. Length must be <= 4 GiB; prot
   * is PROT_READ and/or PROT_WRITE.
   */
  mmap(fd: number, offset: bigint, length: number, prot: number, align: number): Mapped | number;
  /**
   * Detaches the ArrayBuffer, then puts private zero pages over the range (the device's or file's
   * pages leave at once); the range itself is released when no ArrayBuffer can reach it any more
   * (one made by transfer() included). Idempotent: a second call returns 0.
   */
  munmap(mem: MemHandle): number;
  /** Page-aligned, MAP_SHARED (fork-safe) memory for DMA; hugepages=true uses MAP_HUGETLB. */
  dma_alloc(length: number, hugepages: boolean): Mapped | number;
  dma_free(mem: MemHandle): number;
  /**
   * Puts private zero pages (same protection) over a device mapping's range, the ArrayBuffer
   * staying attached: before the device stops decoding memory, so views read zeros instead of
   * faulting. Idempotent; -EINVAL for a DMA buffer, -EBADF after munmap.
   */
  mem_suspend(mem: MemHandle): number;
  /**
   * Maps fd at offset over a suspended range again (MAP_SHARED | MAP_FIXED); a failed mmap
   * leaves zero pages. 0 when the mapping is not suspended.
   */
  mem_resume(mem: MemHandle, fd: number, offset: bigint): number;
  /** A store fence (sfence on x86-64, dmb/dsb on arm64): orders WC stores before a doorbell. */
  store_fence(): void;
  /** A load fence for DMA memory (nothing on x86-64, dmb oshld on arm64): see lib/memory/ordering.ts. */
  load_fence(): void;

  // --- eventfd into the event loop (native/eventfd.cc) ---
  /**
   * uv_poll on fd, which must be an eventfd (-EINVAL for any other file, whose flags stay
   * untouched; told apart through /proc/self/fd), made O_NONBLOCK; on readable the addon reads the 8-byte counter and calls
   * cb(count). Starts unref'd. A failed read is passed once as cb(-errno) and stops the poll.
   * Returns -errno if the fd cannot be polled (-EEXIST: this loop already polls it).
   */
  poll_start(fd: number, cb: (count: number) => void): PollHandle | number;
  /** ref=true keeps the event loop alive while the handle is armed. */
  poll_ref(handle: PollHandle, ref: boolean): void;
  /** Stops and closes the uv handle (not the fd). Idempotent. */
  poll_stop(handle: PollHandle): void;

  // --- UNIX sockets with descriptor passing (native/socket.cc) ---
  // Every socket made here is AF_UNIX, non-blocking and close-on-exec; sends and receives never wait.
  /** type: SOCK_STREAM or SOCK_SEQPACKET. The fd or -errno. */
  socket(type: number): number;
  /** out[0], out[1] = two connected ends. 0 or -errno. */
  socketpair(type: number, out: Int32Array): number;
  /** A filesystem path (-ENAMETOOLONG past sun_path). 0 or -errno. */
  bind(fd: number, path: string): number;
  connect(fd: number, path: string): number;
  listen(fd: number, backlog: number): number;
  /** accept4 (non-blocking, close-on-exec): the connection's fd, or -errno (-EAGAIN: none waiting). */
  accept(fd: number): number;
  /** how: 0 (RD), 1 (WR), 2 (RDWR). */
  shutdown(fd: number, how: number): number;
  /**
   * Sends data with fds (at most 253, each >= 0) as SCM_RIGHTS on its first byte. The bytes sent
   * (a stream may take fewer: the fds went with the first of them) or -errno (-EAGAIN: peer full).
   */
  sendmsg(fd: number, data: Uint8Array, fds: Int32Array | null): number;
  /**
   * Receives into buf; passed descriptors (close-on-exec) fill fds in order, the rest is -1. The
   * bytes received (0: the peer closed) or -errno. More descriptors than fds holds: all are
   * closed and the result is -EMSGSIZE (the bytes were consumed: drop the connection).
   */
  recvmsg(fd: number, buf: Uint8Array, fds: Int32Array): number;

  // --- sockets into the event loop (native/socket_poll.cc) ---
  /**
   * uv_poll on a socket (-ENOTSOCK for any other file) for mask (1 readable, 2 writable, 4 hang-up);
   * cb(readiness mask) on the loop thread, or cb(-errno) once on a poll error (the poll stops).
   * Starts ref'd. A handle, or -errno (-EEXIST: this loop already polls the fd).
   */
  socket_poll_start(fd: number, mask: number, cb: (events: number) => void): SocketPollHandle | number;
  /** Changes the events watched (0: none). 0 or -errno (-EBADF once stopped). */
  socket_poll_events(handle: SocketPollHandle, mask: number): number;
  socket_poll_ref(handle: SocketPollHandle, ref: boolean): void;
  /** Stops and closes the uv handle (not the socket). Idempotent. */
  socket_poll_stop(handle: SocketPollHandle): void;

  // --- test support (native/faults.cc, native/mman.cc); the library never calls these ---
  /**
   * Fault injection: from now on count the addon's syscalls and fail the nth (1-based) with
   * errno, once, without reaching the kernel; (0, 0) disarms. Returns how many syscalls the
   * previous arming counted (arm with 2 ** 53 to count a flow without failing anything).
   */
  __faults(nth: number, errno: number): number;
  /** This instance's mapping table: live mappings, live ids, retired ranges and their bytes. */
  __mem_stats(): { mappings: number; ids: number; retired: number; retiredBytes: number };
}
