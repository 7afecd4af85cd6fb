// Inside the guest: ask the host to remove one of the run's devices, through the request port
// (qemu/guest-requests.ts describes the protocol). The port is opened non-blocking and polled,
// so no thread of the process's pool sits in a read that nothing could interrupt, and the
// caller's event loop keeps running meanwhile: the device's holder must get its
// 'release-request' and close the device for the unplug to complete.
import * as fs from 'fs';
import * as path from 'path';
import { setTimeout as sleep } from 'timers/promises';
import { VmError } from '../core/errors';
import { LineSplitter } from '../core/lines';
import { GuestReply, REQUEST_PORT_NAME } from '../qemu/guest-requests';

/** How often the port is polled for the host's replies. */
const POLL_MS = 25;
/** A little more than the host's own deadline: the host's answer, when it comes, wins. */
const CLIENT_GRACE_MS = 10_000;

/** The device node of the request port (/dev/vportNpM), or undefined outside a `vfio-vm run` guest. */
export function requestPortPath(sysRoot = '/sys'): string | undefined {
  const dir = path.join(sysRoot, 'class', 'virtio-ports');
  let ports: string[];
  try {
    ports = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const p of ports) {
    try {
      if (fs.readFileSync(path.join(dir, p, 'name'), 'utf8').trim() === REQUEST_PORT_NAME) return `/dev/${p}`;
    } catch {
      // a port without a name
    }
  }
  return undefined;
}

/** Options of {@link requestUnplug}. */
export interface RequestUnplugOptions {
  /** How long the host waits for the device to go. Default 120 s. */
  timeoutSeconds?: number;
  /** Called once QEMU accepted the unplug (the guest kernel is being asked). */
  onRequested?: () => void;
}

let tags = 0;

/**
 * Asks the host to remove device `id` (its QEMU id: edu, ivshmem, nvme, …; see `vfio-vm
 * list-devices`) and resolves once QEMU has deleted it. Rejects with a VmError ('monitor') when
 * the host refuses or the device is not gone in time.
 */
export async function requestUnplug(id: string, o: RequestUnplugOptions = {}): Promise<void> {
  const port = requestPortPath();
  if (!port) throw new VmError('monitor', `no ${REQUEST_PORT_NAME} port: this is not a guest of \`vfio-vm run\``);
  const tag = `${process.pid}-${++tags}`;
  const deadline = Date.now() + (o.timeoutSeconds ?? 120) * 1000 + CLIENT_GRACE_MS;
  const fh = await fs.promises.open(port, fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  try {
    const req = { unplug: id, tag, ...(o.timeoutSeconds === undefined ? {} : { timeoutSeconds: o.timeoutSeconds }) };
    await writeAll(fh, Buffer.from(JSON.stringify(req) + '\n'), deadline);
    const buf = Buffer.alloc(4096);
    const lines = new LineSplitter();
    while (Date.now() < deadline) {
      const n = await readSome(fh, buf);
      if (n === 0) {
        await sleep(POLL_MS);
        continue;
      }
      for (const line of lines.push(buf.toString('utf8', 0, n))) {
        let reply: GuestReply;
        try {
          reply = JSON.parse(line) as GuestReply;
        } catch {
          continue;
        }
        if (reply.tag !== tag) continue; // an answer to an earlier, abandoned request
        if (reply.status === 'requested') o.onRequested?.();
        else if (reply.status === 'deleted') return;
        else {
          const why = (reply.message ?? 'no reason given').replace(`unplug ${JSON.stringify(id)}: `, '').replace(`unplug ${id}: `, '');
          throw new VmError('monitor', `the host could not unplug ${id}: ${why}`);
        }
      }
    }
    throw new VmError('monitor', `unplug ${id}: no answer from the host in time`);
  } finally {
    await fh.close();
  }
}

/** One non-blocking read: the bytes read, 0 when nothing is there yet. */
async function readSome(fh: fs.promises.FileHandle, buf: Buffer): Promise<number> {
  try {
    return (await fh.read(buf, 0, buf.length, null)).bytesRead;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
    throw e;
  }
}

async function writeAll(fh: fs.promises.FileHandle, data: Buffer, deadline: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    try {
      off += (await fh.write(data, off, data.length - off, null)).bytesWritten;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) throw e;
      await sleep(POLL_MS);
    }
  }
}
