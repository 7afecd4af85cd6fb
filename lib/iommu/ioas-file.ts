// A dma-buf mapped into an IOAS with IOMMU_IOAS_MAP_FILE: a BAR of one device (exported with
// Region.exportDmaBuf) becomes reachable by the DMA of every device attached to the IOAS, at an
// IOVA like any other mapping — peer-to-peer DMA. The mapping belongs to the dma-buf (it is
// unmapped before the dma-buf's fd closes) and to the context (unmapped when it closes).
import type { DmaBuf } from '../dma/dmabuf';
import { invalidArgument } from '../errors';

/**
 * Options of {@link IommufdContext.mapDmaBuf}: where and what part of a dma-buf to map.
 * Sizes in bytes; invalid values throw {@link InvalidArgumentError}.
 */
export interface DmaBufMapOptions {
  /** Where the devices see the first byte; default: the lowest free IOVA that fits (and the DMA mask). */
  iova?: bigint;
  /** Address bits the devices drive, as for DMA buffers. */
  dmaMaskBits?: number;
  /** Byte offset into the dma-buf (page-aligned) and length; default all of it. */
  offset?: number | bigint;
  /** Bytes to map from `offset`, page-aligned; default: to the end of the dma-buf. */
  length?: number | bigint;
  /** The devices may read (default true) and write (default true) the peer's memory. */
  read?: boolean;
  /** The devices may write the peer's memory; default true. */
  write?: boolean;
}

/** What the context does for a file mapping. */
export interface FileMappingHost {
  unmap(m: IoasFileMapping): void;
}

/**
 * A dma-buf (a peer's BAR) mapped into an IOAS for peer-to-peer DMA. Unmapped before its
 * dma-buf closes and when its context closes; after that `closed` is true and unmap() does
 * nothing.
 */
export class IoasFileMapping implements Disposable {
  /** The address the devices use for the first mapped byte. */
  readonly iova: bigint;
  /** Mapped bytes, and where they start in the dma-buf. */
  readonly size: bigint;
  /** Byte offset in the dma-buf of the first mapped byte. */
  readonly offset: bigint;
  /** The dma-buf mapped. */
  readonly source: DmaBuf;
  /** Whether the devices may read the peer's memory. */
  readonly read: boolean;
  /** Whether the devices may write the peer's memory. */
  readonly write: boolean;
  private host: FileMappingHost | undefined;

  /** @internal Created by IommufdContext.mapDmaBuf(). */
  constructor(
    host: FileMappingHost,
    source: DmaBuf,
    iova: bigint,
    offset: bigint,
    size: bigint,
    read: boolean,
    write: boolean,
  ) {
    this.host = host;
    this.source = source;
    this.iova = iova;
    this.offset = offset;
    this.size = size;
    this.read = read;
    this.write = write;
  }

  /** True once unmapped. */
  get closed(): boolean {
    return this.host === undefined;
  }

  /** The IOVA of byte `off` of the dma-buf (inside the mapped part). */
  iovaOf(off: number | bigint): bigint {
    const o = BigInt(off);
    if (o < this.offset || o >= this.offset + this.size) {
      throw invalidArgument(
        'IoasFileMapping.iovaOf',
        `dma-buf offset ${o} is outside the mapped bytes [${this.offset}, ${this.offset + this.size})`,
        { code: 'ERANGE' },
      );
    }
    return this.iova + (o - this.offset);
  }

  /** Removes the mapping from the IOAS. Idempotent. */
  unmap(): void {
    const h = this.host;
    if (h === undefined) return;
    h.unmap(this);
    this.host = undefined;
  }

  /** @internal The context dropped the mapping along with its IOAS. */
  forget(): void {
    this.host = undefined;
  }

  /** The same as {@link IoasFileMapping.unmap}. */
  close(): void {
    this.unmap();
  }

  /** `using m = …`: the same as {@link IoasFileMapping.unmap}. */
  [Symbol.dispose](): void {
    this.unmap();
  }
}
