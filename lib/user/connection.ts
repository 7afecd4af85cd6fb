// One vfio-user connection over a UNIX stream socket: bytes and passed descriptors in, whole
// messages out, and a send queue that never blocks the event loop (the socket is polled for
// writability while output waits). Descriptors are given to the message whose bytes the
// receive that brought them ended in: the kernel attaches them to the first byte of the sender's
// sendmsg, and a receive stops right after the part that carried them.
import { native, type SocketPollHandle } from '../addon';
import { errnoError } from '../errors';
import { decodeHeader, HEADER_SIZE, type Header } from './protocol';

const READABLE = 1;
const WRITABLE = 2;
const EAGAIN = 11;
const EINTR = 4;

export interface Message {
  header: Header;
  payload: Uint8Array;
  /** Descriptors that came with the message (the receiver owns them: close or keep). */
  fds: number[];
}

export interface ConnectionEvents {
  message(m: Message): void;
  /** The header's size field is below the header or above the limit: the stream is out of step. */
  malformed(header: Header, why: string): void;
  /** The peer went away (0 = orderly close) or the socket failed (-errno). */
  closed(errno: number): void;
}

export class Connection {
  private poll: SocketPollHandle | undefined;
  private buf = new Uint8Array(64 * 1024);
  private held = 0; // bytes in buf not yet parsed
  private readonly pendingFds: { fds: number[]; end: number }[] = []; // end: stream offset after the receive
  private consumed = 0; // stream offset of buf[0]
  private readonly out: { data: Uint8Array; fds: Int32Array | null }[] = [];
  private open = true;
  private readonly scratchFds: Int32Array;

  constructor(
    readonly fd: number,
    private readonly events: ConnectionEvents,
    private readonly limits: { maxMessage: number; maxFds: number },
  ) {
    this.scratchFds = new Int32Array(limits.maxFds);
    const h = native().socket_poll_start(fd, READABLE, (ev) => this.ready(ev));
    if (typeof h === 'number') throw errnoError(-h, 'socket_poll_start');
    this.poll = h;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Keeps (true) or stops keeping (false) the process alive while the connection is open. */
  ref(on: boolean): void {
    if (this.poll) native().socket_poll_ref(this.poll, on);
  }

  send(data: Uint8Array, fds: number[] = []): void {
    if (!this.open) return;
    this.out.push({ data, fds: fds.length ? Int32Array.from(fds) : null });
    this.flush();
  }

  /** Stops polling, closes the socket and every descriptor not yet handed out. Idempotent. */
  close(errno = 0): void {
    if (!this.open) return;
    this.open = false;
    if (this.poll) native().socket_poll_stop(this.poll);
    this.poll = undefined;
    for (const p of this.pendingFds) for (const fd of p.fds) native().close(fd);
    this.pendingFds.length = 0;
    this.out.length = 0;
    native().close(this.fd);
    this.events.closed(errno);
  }

  private ready(ev: number): void {
    if (!this.open) return;
    if (ev < 0) {
      // libuv reports a socket error (POLLERR: the peer died with data in flight) as EBADF and
      // stops polling: what is left is read, and the receive that fails tells the real errno.
      this.receive();
      return this.close(ev);
    }
    if (ev & WRITABLE) this.flush();
    if (ev & READABLE || ev & 4) this.receive();
  }

  private flush(): void {
    while (this.open && this.out.length) {
      const head = this.out[0];
      const n = native().sendmsg(this.fd, head.data, head.fds);
      if (n === -EAGAIN || n === -EINTR) break;
      if (n < 0) return this.close(n);
      if (n < head.data.length) {
        head.data = head.data.subarray(n);
        head.fds = null; // they went with the first byte
        continue;
      }
      this.out.shift();
    }
    if (this.open && this.poll) native().socket_poll_events(this.poll, READABLE | (this.out.length ? WRITABLE : 0));
  }

  private receive(): void {
    for (;;) {
      if (!this.open) return;
      if (this.held === this.buf.length) this.grow();
      const n = native().recvmsg(this.fd, this.buf.subarray(this.held), this.scratchFds);
      if (n === -EAGAIN || n === -EINTR) return;
      if (n <= 0) return this.close(n);
      this.held += n;
      const fds = Array.from(this.scratchFds).filter((fd) => fd >= 0);
      if (fds.length) this.pendingFds.push({ fds, end: this.consumed + this.held });
      this.parse();
    }
  }

  private grow(): void {
    const bigger = new Uint8Array(Math.min(this.buf.length * 2, this.limits.maxMessage + HEADER_SIZE));
    if (bigger.length <= this.buf.length) return;
    bigger.set(this.buf.subarray(0, this.held));
    this.buf = bigger;
  }

  private parse(): void {
    let at = 0;
    while (this.open && this.held - at >= HEADER_SIZE) {
      const header = decodeHeader(this.buf.subarray(at));
      if (header.size < HEADER_SIZE || header.size > this.limits.maxMessage) {
        // No boundary to trust: report it, and drop what was received.
        this.events.malformed(header, header.size < HEADER_SIZE ? 'shorter than its header' : 'larger than the limit');
        this.flush();
        this.close(0);
        return;
      }
      if (this.held - at < header.size) break;
      const start = this.consumed + at;
      const end = start + header.size;
      const fds: number[] = [];
      while (this.pendingFds.length && this.pendingFds[0].end - 1 < end) {
        const p = this.pendingFds.shift() as { fds: number[]; end: number };
        if (p.end - 1 >= start) fds.push(...p.fds);
        else for (const fd of p.fds) native().close(fd); // cannot be: no message of its own
      }
      const payload = this.buf.slice(at + HEADER_SIZE, at + header.size);
      at += header.size;
      this.events.message({ header, payload, fds });
    }
    if (!this.open) return;
    this.buf.copyWithin(0, at, this.held);
    this.held -= at;
    this.consumed += at;
    if (this.held === this.buf.length) this.grow();
  }
}
