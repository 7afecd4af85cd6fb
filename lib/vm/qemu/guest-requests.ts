// The guest's request channel to the host: a virtio serial port named vfio-vm.requests whose
// host end is a unix socket in the run's work directory (QEMU connects at start-up). A program
// in the guest writes one JSON object per line; the host answers with JSON lines carrying the
// request's tag. One request exists:
//   {"unplug": ID, "tag": T, "timeoutSeconds"?: N}
// answered by {"tag": T, "status": "requested"} once QEMU accepted device_del, then by
// {"tag": T, "status": "deleted"} on DEVICE_DELETED, or {"tag": T, "status": "error", "message": M}.
// ID must be one of the run's VFIO devices (their QEMU ids); nothing else of QEMU is reachable.
import type * as net from 'net';
import { LineSplitter } from '../core/lines';
import { SingleConnection } from '../core/single-connection';
import { DEFAULT_UNPLUG_TIMEOUT_MS, VmMonitor } from './monitor';

/** The port's name in the guest (/sys/class/virtio-ports/vportNpM/name). */
export const REQUEST_PORT_NAME = 'vfio-vm.requests';

/** A request line from the guest. */
export interface GuestRequest {
  /** The QEMU id of the device to remove (one of the run's devices). */
  unplug?: unknown;
  /** A string the host echoes in every reply to this request. */
  tag?: unknown;
  /** How long the host waits for DEVICE_DELETED; default 120 s, at most 3600. */
  timeoutSeconds?: unknown;
}

/** A reply line to the guest. */
export interface GuestReply {
  /** The request's tag ('' when the request could not be read). */
  tag: string;
  /** requested: QEMU accepted device_del; deleted: QEMU deleted the device; error: see message. */
  status: 'requested' | 'deleted' | 'error';
  /** Why the request failed. */
  message?: string;
}

/** Longest a guest may ask an unplug to wait, in seconds. */
const MAX_TIMEOUT_SECONDS = 3600;

/** Answers one request line; `send` writes each reply. Never throws: failures are replies. */
export async function answerRequest(line: string, monitor: Promise<VmMonitor>, send: (r: GuestReply) => void): Promise<void> {
  let req: GuestRequest;
  try {
    req = JSON.parse(line) as GuestRequest;
  } catch {
    send({ tag: '', status: 'error', message: 'not a JSON object' });
    return;
  }
  const tag = typeof req?.tag === 'string' ? req.tag : '';
  const fail = (message: string) => send({ tag, status: 'error', message });
  if (typeof req !== 'object' || req === null || typeof req.unplug !== 'string') {
    fail('unknown request: expected {"unplug": DEVICE_ID, "tag": TAG}');
    return;
  }
  const t = req.timeoutSeconds;
  if (t !== undefined && (typeof t !== 'number' || !(t > 0 && t <= MAX_TIMEOUT_SECONDS))) {
    fail(`timeoutSeconds must be a number in (0, ${MAX_TIMEOUT_SECONDS}]`);
    return;
  }
  try {
    const m = await monitor;
    await m.unplug(req.unplug, {
      timeoutMs: t === undefined ? DEFAULT_UNPLUG_TIMEOUT_MS : (t as number) * 1000,
      onRequested: () => send({ tag, status: 'requested' }),
    });
    send({ tag, status: 'deleted' });
  } catch (e) {
    fail((e as Error).message);
  }
}

/** Serves the request port: the host end of the virtio serial port at `path`. */
export function serveGuestRequests(path: string, monitor: Promise<VmMonitor>): { listening: Promise<void>; close(): void } {
  const socket = new SingleConnection(path);
  let conn: net.Socket | undefined;
  void socket.connection.then((sock) => {
    conn = sock;
    sock.setEncoding('utf8');
    const lines = new LineSplitter();
    const send = (r: GuestReply) => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
    };
    sock.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) if (line.trim() !== '') void answerRequest(line, monitor, send);
    });
    sock.on('error', () => sock.destroy());
  });
  return {
    listening: socket.listening,
    close: () => {
      socket.close();
      conn?.destroy();
    },
  };
}
