// The NVMe driver of this package (vfio/nvme) on a controller bound to vfio-pci: what it is,
// a block written and read back through an interrupt-driven queue, a transfer of many pages
// (described to the controller by a PRP list), a block written and read in place in DMA memory
// (no copy), and an orderly shutdown.
//
//   npx vfio-vm run -- node dist/examples/nvme.js           (emulated host: nvme at $VFIO_VM_NVME)
//   sudo node dist/examples/nvme.js 0000:01:00.0            (a machine with a spare NVMe bound to vfio-pci: its data is overwritten!)
//
// In your own project, import from 'vfio' and 'vfio/nvme' instead of '../lib' and '../lib/nvme'.
import { randomBytes } from 'crypto';
import { DmaPool } from '../lib';
import { NvmeController } from '../lib/nvme';

async function main(bdf: string): Promise<void> {
  // open() opens the device, resets the controller, sets up the admin queues and identifies it;
  // `await using` shuts it down (CC.SHN) and closes the device however main() ends.
  await using nvme = await NvmeController.open(bdf);
  const id = nvme.identity;
  console.log(`${bdf}: ${id.model}, serial ${id.serial}, firmware ${id.firmware}, NVMe ${nvme.version}`);
  const [nsid, ns] = [...nvme.namespaces][0];
  const bs = ns.format.blockBytes;
  console.log(
    `namespace ${nsid}: ${ns.size} blocks of ${bs} bytes; largest transfer ${nvme.maxTransferBytes / 1024} KiB`,
  );

  const message = new TextEncoder().encode('hello from TypeScript, through an NVMe queue pair');
  const block = new Uint8Array(bs);
  block.set(message);
  await nvme.write(nsid, 8, block);
  const back = new TextDecoder().decode((await nvme.read(nsid, 8, 1)).subarray(0, message.length));
  console.log(`block 8: "${back}" -> ${back === new TextDecoder().decode(message) ? 'ok' : 'FAILED'}`);

  const big = randomBytes(Math.min(256 * 1024, nvme.maxTransferBytes));
  await nvme.write(nsid, 64, big);
  const same = Buffer.from(await nvme.read(nsid, 64, big.length / bs)).equals(big);
  const q = nvme.queues[0];
  console.log(
    `${big.length / 1024} KiB at block 64 (a PRP list of ${big.length / nvme.pageSize - 1} entries): ${same ? 'ok' : 'FAILED'}; ` +
      `queue ${q.qid} on MSI-X vector ${q.vector}: ${q.completions} completions, ${q.interrupts} interrupts`,
  );

  // In place: the controller reads and writes a block of a DMA pool on its device, with no copy;
  // the block is pinned in its pool while a command uses it.
  using pool = DmaPool.create(nvme.device, { blockSize: bs, blocks: 1 });
  const dma = pool.alloc();
  const pattern = randomBytes(bs);
  dma.u8.set(pattern);
  await nvme.write(nsid, 16, dma);
  dma.u8.fill(0);
  await nvme.read(nsid, 16, 1, { into: dma });
  const inPlace = Buffer.from(dma.u8).equals(pattern);
  console.log(`block 16 in place, at IOVA 0x${dma.iova.toString(16)}: ${inPlace ? 'ok' : 'FAILED'}`);
  if (back !== new TextDecoder().decode(message) || !same || !inPlace) process.exitCode = 1;
}

const bdf = process.argv[2] ?? process.env.VFIO_VM_NVME;
if (!bdf) {
  console.error('usage: node nvme.js BDF   (inside the emulated host, $VFIO_VM_NVME is the default)');
  process.exit(2);
}
main(bdf).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
