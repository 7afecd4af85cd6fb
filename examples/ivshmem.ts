// Shared memory with the host through QEMU's ivshmem-plain device (1af4:1110): BAR2 is a window
// onto a file on the host, so whatever this program writes there, the host sees. The window is
// mapped write-combining when the kernel offers a route to it (an mmap cookie), which makes bulk
// copies fast; the example shows which route it got, and why when it did not get WC.
//
//   npx vfio-vm run -- node dist/examples/ivshmem.js           (emulated host: ivshmem at $VFIO_VM_IVSHMEM)
//   sudo node dist/examples/ivshmem.js 0000:00:04.0             (any machine with ivshmem bound to vfio-pci)
//
// In your own project, import from 'vfio' instead of '../lib'.
import * as fs from 'fs';
import { Device, VfioError } from '../lib';

// Our layout of the shared memory (nothing in the device defines one): a header, then text.
const MAGIC = 0x4f494656; // 'VFIO' in little-endian bytes
const MAGIC_AT = 0x0;
const LENGTH_AT = 0x4;
const SEQUENCE_AT = 0x8; // written last: a reader that sees it sees the whole message
const TEXT_AT = 0x40;

/**
 * Opens the device with BAR2 reserved write-combining: on stock kernels the reservation must be
 * made before the open (it makes vfio-pci's own mapping of the BAR WC; see docs/cookies.md).
 * Where it cannot be made (no resource2_wc, not root), open without it and say why.
 */
async function open(bdf: string): Promise<Device> {
  try {
    return await Device.open(bdf, { writeCombine: [2] });
  } catch (e) {
    if (!(e instanceof VfioError)) throw e;
    console.log(`no write-combining reservation for BAR2: ${e.message.split('\n')[0]}`);
    return Device.open(bdf);
  }
}

async function main(bdf: string, hostFile: string | undefined): Promise<void> {
  await using dev = await open(bdf);
  const bar2 = dev.bar(2);
  console.log(`ivshmem ${bdf}: BAR2 is ${Number(bar2.size) >> 20} MiB of shared memory`);

  // Ask for write-combining, but accept the best the kernel offers (strict: false): the cookie
  // says which route backs it, and the mapping says which attribute the kernel really gave.
  const cookie = bar2.cookie({ memattr: 'wc', strict: false });
  console.log(`mmap cookie: route ${cookie.route.name} (${cookie.route.reason})`);
  const shm = cookie.map();
  console.log(`mapping attribute: ${shm.effective}`);
  if (shm.downgraded) console.log(`  not write-combining, because: ${shm.downgraded}`);

  // Bulk data with one copy (write-combined stores may reach the device in any order)…
  const text = new TextEncoder().encode(`hello host, from pid ${process.pid} at ${new Date().toISOString()}`);
  shm.copyIn(TEXT_AT, text);
  shm.write32(LENGTH_AT, text.length);
  shm.write32(MAGIC_AT, MAGIC);
  // …then a store fence, so all of it is out before the sequence number that publishes it.
  shm.flush();
  const sequence = (shm.read32(SEQUENCE_AT) + 1) >>> 0;
  shm.write32(SEQUENCE_AT, sequence);
  shm.flush();
  console.log(`wrote ${text.length} bytes at BAR2+0x${TEXT_AT.toString(16)}, sequence ${sequence}`);

  if (!hostFile) {
    console.log('(no host file to check: on a real host, the peer of the ivshmem region reads it)');
    return;
  }
  // The host's view: the file QEMU backs BAR2 with (shared read-only into the emulated host).
  const fd = fs.openSync(hostFile, 'r');
  try {
    const head = Buffer.alloc(TEXT_AT + text.length);
    fs.readSync(fd, head, 0, head.length, 0);
    const seen = head.subarray(TEXT_AT, TEXT_AT + head.readUInt32LE(LENGTH_AT)).toString();
    const ok =
      head.readUInt32LE(MAGIC_AT) === MAGIC &&
      head.readUInt32LE(SEQUENCE_AT) === sequence &&
      seen === new TextDecoder().decode(text);
    console.log(`host file ${hostFile}: "${seen}" -> ${ok ? 'ok' : 'FAILED'}`);
    if (!ok) process.exitCode = 1;
  } finally {
    fs.closeSync(fd);
  }
}

const bdf = process.argv[2] ?? process.env.VFIO_VM_IVSHMEM;
if (!bdf) {
  console.error('usage: node ivshmem.js BDF [HOST_FILE]   (inside the emulated host, $VFIO_VM_IVSHMEM is the default)');
  process.exit(2);
}
main(bdf, process.argv[3] ?? process.env.VFIO_VM_IVSHMEM_FILE).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
