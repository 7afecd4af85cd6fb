// Physical Region Page entries (NVM Express Base Specification, "Physical Region Page Entry and
// List"): how a command names the memory pages of its data. PRP1 is the first page; PRP2 is the
// second page, or, for more than two, the address of a list of the others, whose last entry
// points to the next list page when one is not enough.
import { DmaBlock, DmaPool, InvalidArgumentError } from '../index';

/** What {@link buildPrps} made for a transfer: the two PRP entries and the list pages behind them. */
export interface Prps {
  /** PRP entry 1: the device address of the first data byte. */
  prp1: number;
  /** PRP entry 2: the second page, a PRP list's address, or 0. */
  prp2: number;
  /** The PRP list pages used (to free with the data pages). */
  lists: DmaBlock[];
}

/** List pages needed for `pages` data pages with `pageSize`-byte list pages. */
export function prpListPages(pages: number, pageSize: number): number {
  if (pages <= 2) return 0;
  const perList = pageSize / 8;
  // Every list page but the last gives its last entry to the pointer to the next one.
  return Math.ceil((pages - 1 - 1) / (perList - 1));
}

/** No list pages: shared by every transfer of one or two pages, frozen so that nobody can fill it. */
const NO_LISTS = Object.freeze([]) as unknown as DmaBlock[];

/**
 * Fills PRP1/PRP2 for data in `pages` (whole pages of the controller's page size, in order);
 * list pages come from `pool`, whose blocks are pages of the same size.
 */
export function buildPrps(pages: readonly DmaBlock[], pool: DmaPool): Prps {
  return prpsFor(pages.length, (i) => pages[i].iova, pool);
}

/**
 * PRP1/PRP2 for the first `bytes` of one block, whose memory the device reads or writes in
 * place: PRP1 is the block's address (dword aligned, perhaps inside a page), every later entry
 * the start of the next `pageSize` page, as the block's pool sees it (page by page without an
 * IOMMU). List pages come from `pool`.
 */
export function blockPrps(block: DmaBlock, bytes: number, pageSize: number, pool: DmaPool): Prps {
  if (!(bytes <= block.size))
    throw new InvalidArgumentError({
      code: 'EINVAL',
      op: 'blockPrps',
      message: `blockPrps: ${String(bytes)} bytes from a ${block.size}-byte block`,
    });
  const first = block.deviceAddress(0);
  const lead = pageSize - (first % pageSize);
  if (bytes <= lead) return { prp1: first, prp2: 0, lists: NO_LISTS };
  const n = 1 + Math.ceil((bytes - lead) / pageSize);
  return prpsFor(n, (i) => (i === 0 ? first : block.deviceAddress(lead + (i - 1) * pageSize)), pool);
}

/** PRP entries for `n` pages at `address(0)`, `address(1)`, …; lists from `pool` when n > 2. */
function prpsFor(n: number, address: (i: number) => number, pool: DmaPool): Prps {
  if (!(n >= 1))
    throw new InvalidArgumentError({ code: 'EINVAL', op: 'buildPrps', message: `buildPrps: a transfer of ${n} pages` });
  if (n === 1) return { prp1: address(0), prp2: 0, lists: NO_LISTS };
  if (n === 2) return { prp1: address(0), prp2: address(1), lists: NO_LISTS };
  const lists: DmaBlock[] = [];
  const perList = pool.blockSize / 8;
  const buf = pool.buffer;
  let list = pool.alloc();
  lists.push(list);
  const prp2 = list.iova;
  let slot = 0;
  try {
    for (let i = 1; i < n; i++) {
      if (slot === perList - 1 && i < n - 1) {
        const next = pool.alloc();
        lists.push(next);
        buf.write64n(list.offset + slot * 8, next.iova);
        list = next;
        slot = 0;
      }
      buf.write64n(list.offset + slot * 8, address(i));
      slot++;
    }
  } catch (e) {
    for (const l of lists) l.free();
    throw e;
  }
  return { prp1: address(0), prp2, lists };
}
