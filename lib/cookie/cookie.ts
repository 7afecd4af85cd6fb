// An MmapCookie: an immutable handle meaning "this BAR range, with this memory attribute, backed
// by this file and offset". The route that backs it was chosen when it was made; map() makes a
// Mapping through that backing and reads back which attribute the kernel really gave it.
import { closedError, notSupported, revokedError, throwCloseErrors } from '../errors';
import { Mapping } from '../memory/mapping';
import { Backing, CookieMemAttr, CookieRegion, RouteChoice, hex } from './model';
import { EffectiveAttr } from './pat';
import { OpenedBacking } from './routes';
import { attrName, needsHint } from './choose';

/** What a cookie needs from its device's registry. */
export interface CookieOwner {
  /** The device's label, for errors. */
  readonly label: string;
  /** The host's page size in bytes. */
  readonly pageSize: bigint;
  /** The attribute a mapping of the cookie's range gets, per the PAT list read now. */
  verify(c: MmapCookie, pgprot: CookieMemAttr): EffectiveAttr;
  /** A mapping of the cookie went live: aliasing is re-examined. */
  mapped(c: MmapCookie, m: Mapping): void;
  /** The cookie closed: the registry forgets it. */
  released(c: MmapCookie): void;
  /** The cookie's mappings were taken down (a revoke): aliasing is re-examined. */
  unmapped(c: MmapCookie): void;
  /** Marks the span in which mappings the device sees are the cookie's own. */
  mapping<T>(f: () => T): T;
}

/**
 * An immutable handle for "this BAR range, with this memory type, backed by this file and
 * offset" (`region.cookie(options)`), with the route that backs it and why. map() makes a
 * {@link Mapping} through the backing and reads back the type the kernel gave it. Owned by its
 * device; after close() (its own or the device's) map() throws {@link ClosedError}, and after a
 * revoke {@link RevokedError}.
 */
export class MmapCookie implements Disposable {
  /** Small and dense per device, like the kernel's mmap entry ids. */
  readonly id: number;
  /** The device's label (its BDF). */
  readonly device: string;
  /** The BAR the cookie describes (a wc-region backing maps another region that views it). */
  readonly region: CookieRegion;
  /** Offset within the region. */
  readonly offset: bigint;
  /** Bytes, whole pages. */
  readonly length: number;
  /** The memory type asked for. */
  readonly requested: CookieMemAttr;
  /** Whether a mapping that gets another type is refused ({@link CookieOptions.strict}). */
  readonly strict: boolean;
  /** The file and page offset its mappings come from. */
  readonly backing: Backing;
  /** What the backing's page protection asks the kernel for (PAT may substitute the range's type). */
  readonly pgprot: CookieMemAttr;
  /** Which route backs the cookie, why, and every route's answer. */
  readonly route: RouteChoice;
  private opened: OpenedBacking | undefined;
  private readonly owner: CookieOwner;
  private readonly live = new Set<Mapping>();
  private revokedWhy: string | undefined;

  /** @internal Made by Region.cookie() through the device's registry. */
  constructor(
    id: number,
    region: CookieRegion,
    offset: bigint,
    length: number,
    requested: CookieMemAttr,
    strict: boolean,
    route: RouteChoice,
    opened: OpenedBacking,
    owner: CookieOwner,
  ) {
    this.id = id;
    this.device = owner.label;
    this.region = region;
    this.offset = offset;
    this.length = length;
    this.requested = requested;
    this.strict = strict;
    this.route = route;
    this.opened = opened;
    this.backing = Object.freeze({ ...opened.backing });
    this.pgprot = opened.pgprot;
    this.owner = owner;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.opened === undefined;
  }

  /** Why the cookie's backing was revoked (it can no longer be mapped), or undefined. */
  get revoked(): string | undefined {
    return this.revokedWhy;
  }

  /** Whether a device reset revokes the backing (dma-bufs): the device takes the mappings down first. */
  get revokedByReset(): boolean {
    return this.opened?.revokedByReset === true && this.revokedWhy === undefined;
  }

  /** Offset of the first byte in the backing file (pgoff × page size). */
  get fileOffset(): bigint {
    return this.backing.pgoff * this.owner.pageSize;
  }

  /** Live mappings made from this cookie. */
  get mappings(): Mapping[] {
    return [...this.live].filter((m) => !m.closed);
  }

  /** How messages name the cookie. */
  get label(): string {
    return `cookie #${this.id} (${this.route.name}, ${this.requested}, ${this.region.name} ${hex(this.offset)}+${hex(this.length)})`;
  }

  /**
   * Whether an mmap of `fd` at `offset` would land in this cookie, as the kernel resolves an mmap
   * offset. `offset` undefined matches any offset of a file the cookie itself holds (a dma-buf
   * or sysfs fd), never of the device fd, which many cookies share.
   */
  covers(fd: number, offset: bigint | undefined): boolean {
    if (this.closed || this.backing.fd !== fd) return false;
    if (offset === undefined) return this.backing.kind === 'dmabuf' || this.backing.kind === 'sysfs';
    return offset >= this.fileOffset && offset < this.fileOffset + BigInt(this.length);
  }

  /**
   * Maps the cookie's range and sets the mapping's `effective` attribute from the PAT list.
   * Strict cookies refuse a mapping the kernel gave another attribute (the mapping is undone);
   * others keep it and say why in `downgraded`. 'unknown' (PAT list unreadable) is reported, never
   * guessed, and does not fail a strict cookie: strictness checks what can be checked.
   */
  map(): Mapping {
    const opened = this.opened;
    if (!opened) throw closedError('MmapCookie.map', this.label, this.device);
    if (this.revokedWhy !== undefined) throw revokedError('MmapCookie.map', this.label, this.revokedWhy, this.device);
    const m = this.owner.mapping(() => opened.map());
    try {
      const eff = this.owner.verify(this, opened.pgprot);
      m.effective = eff.attr;
      const notes: string[] = [];
      if (this.route.downgraded) notes.push(this.route.downgraded);
      if (eff.attr !== 'unknown' && eff.attr !== this.requested) {
        const what = `asked for ${attrName(this.requested)} through ${this.route.name}, the kernel gave ${attrName(eff.attr)} (${eff.basis})`;
        if (this.strict) {
          throw notSupported('MmapCookie.map', `${this.label}: ${what}`, {
            device: this.device,
            hint:
              needsHint(this.route.considered) ??
              'a WC reservation must come before vfio-pci reserves the BAR: Device.open(bdf, { writeCombine: [bar] })',
          });
        }
        // A downgrade the route already announced is not news; a different answer is.
        if (eff.attr !== this.route.gives) notes.push(what);
      }
      m.downgraded = notes.length ? notes.join('; ') : undefined;
    } catch (e) {
      m.close();
      throw e;
    }
    this.live.add(m);
    this.owner.mapped(this, m);
    return m;
  }

  /**
   * Revokes the backing in the kernel (a dma-buf, through the revoke feature the tables or the
   * device's feature table name). The cookie's own mappings are taken down first, so their
   * accessors throw a RevokedError instead of faulting; map() throws one too. The cookie stays
   * open (its fd held) until close(). NotSupportedError, with nothing changed, when the route
   * has no revoke or the kernel offers none. Idempotent once revoked.
   */
  revoke(): void {
    const opened = this.opened;
    if (!opened) throw closedError('MmapCookie.revoke', this.label, this.device);
    if (this.revokedWhy !== undefined) return;
    if (!opened.revoke) {
      throw notSupported('MmapCookie.revoke', `${this.label}: the ${this.backing.kind} route has nothing to revoke`, {
        device: this.device,
        hint: 'close() the cookie to end its mappings; only dma-buf cookies can be revoked',
      });
    }
    opened.revoke(() => this.invalidate('revoked through MmapCookie.revoke()'));
  }

  /** @internal Takes the cookie's mappings down because its backing is (about to be) revoked. */
  invalidate(why: string): void {
    if (this.opened === undefined || this.revokedWhy !== undefined) return;
    this.revokedWhy = why;
    const errors: unknown[] = [];
    for (const m of this.live) {
      try {
        m.revoke(why);
      } catch (e) {
        errors.push(e);
      }
    }
    this.live.clear();
    this.owner.unmapped(this);
    if (errors.length)
      throw new AggregateError(
        errors,
        `MmapCookie.invalidate(${this.label}): ${errors.length} mapping(s) failed to unmap`,
      );
  }

  /** Unmaps the cookie's mappings, then releases its backing (dma-buf or sysfs fd). Idempotent. */
  close(): void {
    const opened = this.opened;
    if (!opened) return;
    this.opened = undefined;
    const errors: unknown[] = [];
    for (const m of this.live) {
      try {
        m.close();
      } catch (e) {
        errors.push(e);
      }
    }
    this.live.clear();
    try {
      opened.close();
    } catch (e) {
      errors.push(e);
    }
    this.owner.released(this);
    throwCloseErrors(`MmapCookie.close(${this.label})`, errors);
  }

  /** `using c = …`: the same as {@link MmapCookie.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
