// How a read or write's data meets the device: copied through the controller's own pages (any
// Uint8Array), or in place in a block of the caller's DMA pool (no copy: the device reads or
// writes the caller's memory, which is then pinned in its pool until the command is over).
import { ClosedError, DmaBlock, DmaPoolSpace } from '../index';
import { refuse as refuseArg } from './args';

/**
 * Checks that the device may transfer the first `bytes` of `block` in place: the block is mapped
 * in the controller's IOMMU context (`space`) for the direction of the transfer (`deviceWrites`
 * for a read), holds the bytes, starts on a dword (PRP1's alignment), and every page the
 * transfer touches is contiguous for the device.
 */
export function checkDirectBlock(
  op: string,
  block: DmaBlock,
  bytes: number,
  deviceWrites: boolean,
  space: DmaPoolSpace,
  pageSize: number,
  device: string,
): void {
  const refuse = (message: string, hint?: string) => refuseArg(op, device, message, { hint });
  if (block.pool.closed) {
    throw new ClosedError({ code: 'ECLOSED', op, device, message: `${op}: the DmaBlock's pool is closed` });
  }
  if (!block.pool.isAllocated(block)) throw refuse('the DmaBlock is not allocated (freed already?)');
  if (block.pool.space !== space) {
    throw refuse(
      `the DmaBlock's pool is mapped for another IOMMU context than ${device}'s`,
      'create the pool on the controller: DmaPool.create(controller.device, …)',
    );
  }
  // The IOMMU would stop the controller's access, and the command would end in a data transfer error.
  if (deviceWrites ? !block.pool.mapping.write : !block.pool.mapping.read) {
    throw refuse(
      `the DmaBlock's pool is mapped with ${deviceWrites ? 'write' : 'read'}: false; a ${deviceWrites ? 'read' : 'write'} needs the device to ${deviceWrites ? 'write' : 'read'} it`,
      `use a pool created without ${deviceWrites ? 'write' : 'read'}: false`,
    );
  }
  if (block.size < bytes) throw refuse(`the DmaBlock has ${block.size} bytes; the transfer needs ${bytes}`);
  const first = block.deviceAddress(0);
  if (first % 4 !== 0) throw refuse(`the DmaBlock's device address 0x${first.toString(16)} is not dword aligned`);
  if (block.contiguous) return;
  // Without an IOMMU the device sees physical pages: each PRP page must be one of them.
  for (let off = 0; off < bytes;) {
    const end = Math.min(bytes, off + pageSize - ((first + off) % pageSize));
    if (block.deviceAddress(end - 1) !== block.deviceAddress(off) + (end - 1 - off)) {
      throw refuse(
        `bytes ${off}–${end - 1} of the DmaBlock are not contiguous for the device (a ${pageSize}-byte controller page spans two physical pages)`,
        'use blocks of at most one page, page aligned (the default alignment of a page-sized block)',
      );
    }
    off = end;
  }
}

/** Copies `data` into consecutive pages (the last one partly when data ends inside it). */
export function copyToPages(data: Uint8Array, pages: readonly DmaBlock[]): void {
  let off = 0;
  for (const b of pages) {
    const n = Math.min(b.size, data.length - off);
    b.u8.set(n === data.length && off === 0 ? data : data.subarray(off, off + n));
    off += n;
  }
}

/** Fills `out` from consecutive pages; returns it. */
export function copyFromPages(pages: readonly DmaBlock[], out: Uint8Array, bytes: number, device: string): Uint8Array {
  // A caller's buffer may have been transferred (detached) while the read was in flight.
  if (out.length !== bytes) {
    throw refuseArg(
      'NvmeController.read',
      device,
      `the into buffer was detached or shrunk while the read was in flight; its ${bytes} bytes are lost`,
    );
  }
  let off = 0;
  for (const b of pages) {
    const n = Math.min(b.size, out.length - off);
    out.set(n === b.size ? b.u8 : b.u8.subarray(0, n), off);
    off += n;
  }
  return out;
}
