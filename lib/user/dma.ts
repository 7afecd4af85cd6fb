// The client's DMA windows as the server sees them: IOVA ranges the client mapped, each either
// mmap'd from the descriptor that came with DMA_MAP (guest RAM backed by a shareable file) or
// reached through DMA_READ/DMA_WRITE messages. Unmaps remove every window they overlap: with a
// vIOMMU the client unmaps ranges that match no single map.
import { native, type MemHandle } from '../addon';
import { VfioError } from '../errors';
import { DMA_READABLE, DMA_WRITEABLE, type DmaMap } from './protocol';

const EEXIST = 17;
const MAX_MAPPED = 2 ** 32; // the addon's mmap limit: larger windows go through messages

export interface Window {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  flags: number;
  /** The window's memory when the client passed a descriptor for it. */
  mapped?: { handle: MemHandle; view: Uint8Array };
}

/** Sends DMA_READ/DMA_WRITE messages for windows without memory of their own. */
export interface DmaMessenger {
  read(iova: bigint, length: number): Promise<Uint8Array>;
  write(iova: bigint, data: Uint8Array): Promise<void>;
}

function dmaError(op: string, message: string, code: 'EFAULT' | 'EPERM' | 'EDEADLK' = 'EFAULT'): VfioError {
  return new VfioError({
    code,
    op,
    message: `${op}: ${message}`,
    hint:
      code === 'EDEADLK'
        ? 'start the transfer after the register access returns (setImmediate or a timer), as a device engine runs on its own'
        : 'only IOVAs the driver mapped for the device are reachable: check the address the driver programmed',
  });
}

export class DmaWindows {
  private windows: Window[] = [];

  constructor(private readonly messenger: DmaMessenger) {}

  get count(): number {
    return this.windows.length;
  }

  list(): readonly Window[] {
    return this.windows;
  }

  /** Adds a window; with fd, maps it (and closes fd). Returns 0 or an errno for the reply. */
  map(m: DmaMap, fd: number | undefined): number {
    const start = m.address;
    const end = m.address + m.size;
    if (this.windows.some((w) => w.start < end && start < w.end)) {
      if (fd !== undefined) native().close(fd);
      return EEXIST;
    }
    const w: Window = { start, end, flags: m.flags };
    if (fd !== undefined) {
      if (m.size <= BigInt(MAX_MAPPED)) {
        const prot =
          (m.flags & DMA_READABLE ? native().constants.PROT_READ : 0) |
          (m.flags & DMA_WRITEABLE ? native().constants.PROT_WRITE : 0);
        const r = native().mmap(fd, m.offset, Number(m.size), prot || native().constants.PROT_READ, 0);
        if (typeof r !== 'number') w.mapped = { handle: r.handle, view: new Uint8Array(r.buffer) };
      }
      native().close(fd); // the mapping keeps the memory; without one, messages reach it
    }
    this.windows.push(w);
    return 0;
  }

  /** Removes every window overlapping [address, address + size) (all with `all`). */
  unmap(address: bigint, size: bigint, all = false): number {
    const end = address + size;
    const keep: Window[] = [];
    let removed = 0;
    for (const w of this.windows) {
      if (all || (w.start < end && address < w.end)) {
        if (w.mapped) native().munmap(w.mapped.handle);
        removed++;
      } else keep.push(w);
    }
    this.windows = keep;
    return removed;
  }

  clear(): void {
    this.unmap(0n, 0n, true);
  }

  private window(op: string, iova: bigint, length: number, need: number): Window {
    const end = iova + BigInt(length);
    const w = this.windows.find((x) => x.start <= iova && end <= x.end);
    if (!w) throw dmaError(op, `[0x${iova.toString(16)}, +0x${length.toString(16)}) is outside every mapped window`);
    if ((w.flags & need) === 0)
      throw dmaError(op, `the window at 0x${w.start.toString(16)} does not allow it`, 'EPERM');
    return w;
  }

  async read(iova: bigint, length: number): Promise<Uint8Array> {
    const w = this.window('dma.read', iova, length, DMA_READABLE);
    if (w.mapped) {
      const at = Number(iova - w.start);
      return w.mapped.view.slice(at, at + length);
    }
    return this.messenger.read(iova, length);
  }

  async write(iova: bigint, data: Uint8Array): Promise<void> {
    const w = this.window('dma.write', iova, data.length, DMA_WRITEABLE);
    if (w.mapped) {
      w.mapped.view.set(data, Number(iova - w.start));
      return;
    }
    return this.messenger.write(iova, data);
  }
}

export { dmaError };
