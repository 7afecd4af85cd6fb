// Memory ordering between the CPU and a device that reads and writes DMA memory. The rule (see
// docs/dma.md, "Ordering"): an acquire after reading the word that says "the device is done"
// (a completion's phase bit, a used index) and before reading what it guards; a release after
// filling what the device will read and before the store that tells it to look (a doorbell).
//
// On x86-64 both are free: the CPU keeps loads in order with loads and stores with stores, also
// against uncached MMIO, and V8 keeps typed-array accesses in program order. On arm64 they are
// the barriers Linux uses for the same purpose (dma_rmb / dma_wmb): dmb oshld and dmb oshst.
import { native } from '../addon/native';

/** Whether this CPU needs an instruction for acquire and release on DMA memory. */
export const orderingNeedsFences = process.arch !== 'x64' && process.arch !== 'ia32';

/** Loads after this one see at least what the device wrote before the load just done. */
export function acquireFence(): void {
  if (orderingNeedsFences) native().load_fence();
}

/** The device sees every store before this one before it sees the next store. */
export function releaseFence(): void {
  if (orderingNeedsFences) native().store_fence();
}
