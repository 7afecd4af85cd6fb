// Physical Region Page entries (NVM Express Base Specification, "Physical Region Page Entry and
// List"): how a command names the memory pages of its data. PRP1 is the first page; PRP2 is the
// second page, or, for more than two, the address of a list of the others, whose last entry
// points to the next list page when one is not enough.
import { DmaBlock, DmaPool } from '../index';

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

/**
 * Fills PRP1/PRP2 for data in `pages` (whole pages of the controller's page size, in order);
 * list pages come from `pool`, whose blocks are pages of the same size.
 */
export function buildPrps(pages: readonly DmaBlock[], pool: DmaPool): Prps {
  const n = pages.length;
  const lists: DmaBlock[] = [];
  if (n === 1) return { prp1: pages[0].iova, prp2: 0, lists };
  if (n === 2) return { prp1: pages[0].iova, prp2: pages[1].iova, lists };
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
      buf.write64n(list.offset + slot * 8, pages[i].iova);
      slot++;
    }
  } catch (e) {
    for (const l of lists) l.free();
    throw e;
  }
  return { prp1: pages[0].iova, prp2, lists };
}
