// A mapping of part of a device region (a BAR, usually): width-exact access without a native
// call per access (see memory.ts), owned by its device, which closes it before itself.
import { VfioError, check, revokedError } from '../errors';
import { MemoryLabel, WidthExactMemory } from './width-exact';
import { MemHandle, Mapped, native } from '../addon/native';

/**
 * An x86 PAT memory type, as the kernel's memtype list names it: uncached (`'uc'`), uncached
 * minus (`'uc-'`, which an MTRR may make WC), write-combining, write-through, write-back,
 * write-protect.
 */
export type MemAttr = 'uc' | 'uc-' | 'wc' | 'wt' | 'wb' | 'wp';
/** The memory type a mapping really gets: one {@link MemAttr}, `'mixed'` over its pages, or `'unknown'` when it cannot be read. */
export type EffectiveMemAttr = MemAttr | 'mixed' | 'unknown';

/** Another live mapping of the same BAR range that asked for another memory type (see cookie/aliasing.ts). */
export interface MemattrAlias {
  /** The other mapping (it may have closed since the report was made). */
  readonly with: Mapping;
  /** What this mapping gets, per the PAT list. */
  readonly attr: EffectiveMemAttr;
  /** Why the two disagree, in words (for logs). */
  readonly reason: string;
}

/** Who a mapping belongs to: used for error messages and to unregister on close. */
export interface MappingOwner {
  readonly label: string; // device BDF or path
  readonly regionName: string;
  readonly regionIndex?: number;
  release(m: Mapping): void;
  /** Where the pages come from (the device fd and its offset): what resume() maps again. */
  readonly source?: { fd(op: string): number; readonly offset: bigint };
}

/**
 * An mmap of part of a device region ({@link Region.map}, or a cookie's map()): width-exact
 * `readN`/`writeN` (inherited) at byte offsets from the mapping's start, without a native call per
 * access. Owned by its device, which unmaps it before closing; after close every accessor throws
 * {@link ClosedError}, or a {@link RevokedError} when the mapping was taken down because its
 * cookie's backing was revoked (`cookie.revoke()`, or a reset that revokes a dma-buf).
 */
export class Mapping extends WidthExactMemory implements Disposable {
  /** Offset of the first mapped byte within its region. */
  readonly offset: bigint;
  /** The memory attribute the kernel's page tables actually use, when known (cookies set it). */
  effective: EffectiveMemAttr = 'unknown';
  /** Why `effective` is not what the cookie that made this mapping asked for. */
  downgraded: string | undefined = undefined;
  /** PAT aliasing with other live mappings of the same BAR (cookies report it on both sides). */
  aliases: readonly MemattrAlias[] = [];

  private readonly owner: MappingOwner;
  /** Why the mapping was revoked (then accessors throw RevokedError instead of ClosedError). */
  private revokedWhy: string | undefined;
  /** Why the device's memory is off (then accessors throw an EIO VfioError until resume()). */
  private suspendedWhy: string | undefined;

  /**
   * @internal Created by Region.map() and cookies; `mapped.buffer` may be longer than `length`.
   * `writable` must be false when the memory was mapped without PROT_WRITE.
   */
  constructor(mapped: Mapped, offset: bigint, length: number, owner: MappingOwner, opts: { writable?: boolean } = {}) {
    super(mapped, length, opts.writable ?? true);
    this.offset = offset;
    this.owner = owner;
  }

  /** Index of the region this maps (a BAR: 0-5), when the region is known. */
  get regionIndex(): number | undefined {
    return this.owner.regionIndex;
  }

  protected override label(): MemoryLabel {
    return {
      prefix: 'Mapping',
      what: `the ${this.owner.regionName} mapping`,
      noun: 'mapping',
      device: this.owner.label,
    };
  }

  /** Store fence: orders earlier (write-combined) stores before later ones, e.g. a doorbell. */
  flush(): void {
    this.live('flush');
    native().store_fence();
  }

  /** Set when the mapping was taken down because the memory behind it was revoked. */
  get revoked(): string | undefined {
    return this.revokedWhy;
  }

  /** Set while the device decodes no memory (then every accessor throws an `EIO` VfioError). */
  get suspended(): string | undefined {
    return this.closed ? undefined : this.suspendedWhy;
  }

  protected override live(op: string): MemHandle {
    if (this.closed && this.revokedWhy !== undefined) {
      const l = this.label();
      throw revokedError(`${l.prefix}.${op}`, l.what, this.revokedWhy, l.device);
    }
    const h = super.live(op);
    if (this.suspendedWhy !== undefined) {
      const l = this.label();
      throw new VfioError({
        code: 'EIO',
        op: `${l.prefix}.${op}`,
        device: l.device,
        message: `${l.prefix}.${op}: ${l.what} is unavailable: ${this.suspendedWhy}`,
        hint: 'turn memory decoding back on (dev.config.memorySpace = true, or LOW_POWER_EXIT) first',
      });
    }
    return h;
  }

  /**
   * @internal Before the device stops decoding memory (vfio-pci then zaps the pages and a touch
   * is SIGBUS): zero pages replace the device's, and every accessor throws an `EIO` VfioError
   * naming `why` until resume(). Idempotent; nothing to do for a closed mapping.
   */
  suspend(why: string): void {
    if (this.closed || !this.owner.source) return;
    this.suspendedWhy = why;
    this.setLimits(false);
    check(native().mem_suspend(this.handle as MemHandle), 'mmap', { device: this.owner.label });
  }

  /** @internal The device decodes memory again: its pages are mapped back and accessors work. */
  resume(): void {
    const src = this.owner.source;
    if (this.closed || !src || this.suspendedWhy === undefined) return;
    const h = this.handle as MemHandle;
    check(native().mem_resume(h, src.fd('Mapping.resume'), src.offset), 'mmap', { device: this.owner.label });
    this.suspendedWhy = undefined;
    this.setLimits(true);
  }

  /**
   * @internal Unmaps because the memory behind the mapping is about to be revoked: from then on
   * every accessor throws a RevokedError naming `why`. Idempotent; a closed mapping stays closed.
   */
  revoke(why: string): void {
    if (this.closed) return;
    this.revokedWhy = why;
    this.close();
  }

  /**
   * Detaches every view, then unmaps: the device's pages leave the process at once; a view that
   * escaped the detach (ArrayBuffer.prototype.transfer()) sees private zero pages until it is
   * collected (docs/reliability.md). Idempotent.
   */
  close(): void {
    const h = this.release();
    if (h === undefined) return;
    this.owner.release(this);
    check(native().munmap(h), 'munmap', { device: this.owner.label });
  }

  /** `using m = …`: the same as {@link Mapping.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
