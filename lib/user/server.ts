// A vfio-user server for one device model: listens on a UNIX socket path (or serves a socket
// already connected), one client at a time; a client that goes away leaves the server
// listening, its resources released and the model reset.
import { EventEmitter } from 'events';
import * as fs from 'fs';
import { native, type SocketPollHandle } from '../addon';
import { errnoError, invalidArgument } from '../errors';
import { Connection } from './connection';
import { validateDescription } from './describe';
import type { DeviceModel } from './model';
import { DEFAULT_MAX_DATA_XFER, encodeReply, HEADER_SIZE } from './protocol';
import { MAX_MSG_FDS, Session } from './session';

/** Options of {@link VfioUserServer.listen} and {@link VfioUserServer.serve}. */
export interface ServerOptions {
  /** How long the model's DMA waits for the client to answer a DMA_READ/WRITE (default 5000 ms). */
  dmaTimeoutMs?: number;
}

/** The events a {@link VfioUserServer} emits, with their arguments. */
export interface ServerEvents {
  /** A client connected (a socket accepted, or the one passed to {@link VfioUserServer.serve}). */
  connect: [];
  /** The client went away (0) or its socket failed (-errno). */
  disconnect: [errno: number];
  /** A message the server answered with an error or could not frame. */
  protocolError: [why: string];
}

const EAGAIN = 11;
const EINVAL = 22;
const MAX_MESSAGE = HEADER_SIZE + 16 + DEFAULT_MAX_DATA_XFER;

/**
 * Serves one device model to a vfio-user client over a UNIX socket, one client at a time; a
 * client that goes away leaves the server listening, its resources released and the model reset.
 */
export class VfioUserServer extends EventEmitter<ServerEvents> {
  private listenFd = -1;
  private listenPoll: SocketPollHandle | undefined;
  private conn: Connection | undefined;
  private current: Session | undefined;
  private closed = false;

  private constructor(
    /** The model this server serves. */
    readonly model: DeviceModel,
    private readonly opts: Required<ServerOptions>,
    /** The socket path it listens on; undefined for a server made by {@link VfioUserServer.serve}. */
    readonly path: string | undefined,
  ) {
    super();
  }

  /**
   * Listens on `path` (a stale socket file there is replaced).
   * @throws `VfioError` when the description is invalid, or socket, bind (path not writable, or
   * 108 bytes or longer) or listen fails.
   */
  static listen(path: string, model: DeviceModel, opts: ServerOptions = {}): VfioUserServer {
    validateDescription(model.description);
    const server = new VfioUserServer(model, { dmaTimeoutMs: opts.dmaTimeoutMs ?? 5000 }, path);
    const n = native();
    const fd = n.socket(n.constants.SOCK_STREAM);
    if (fd < 0) throw errnoError(-fd, 'socket');
    try {
      if (fs.existsSync(path) && fs.statSync(path).isSocket()) fs.unlinkSync(path);
      let r = n.bind(fd, path);
      if (r < 0)
        throw errnoError(-r, 'bind', {
          detail: path,
          hint: 'choose a path in a writable directory, shorter than 108 bytes',
        });
      r = n.listen(fd, 4);
      if (r < 0) throw errnoError(-r, 'listen');
      const poll = n.socket_poll_start(fd, 1, () => server.acceptOne());
      if (typeof poll === 'number') throw errnoError(-poll, 'socket_poll_start');
      server.listenFd = fd;
      server.listenPoll = poll;
    } catch (e) {
      n.close(fd);
      throw e;
    }
    return server;
  }

  /**
   * Serves one already-connected socket (one end of a socketpair, say); the server owns fd.
   * @throws `VfioError` when the description is invalid or fd is not a non-negative integer.
   */
  static serve(fd: number, model: DeviceModel, opts: ServerOptions = {}): VfioUserServer {
    validateDescription(model.description);
    if (!Number.isInteger(fd) || fd < 0) throw invalidArgument('VfioUserServer.serve', 'fd must be an open socket');
    const server = new VfioUserServer(model, { dmaTimeoutMs: opts.dmaTimeoutMs ?? 5000 }, undefined);
    server.attach(fd);
    return server;
  }

  /**
   * The session of the connected client, if any (its config space, DMA windows, interrupts).
   * @internal
   */
  get session(): Session | undefined {
    return this.current;
  }

  private acceptOne(): void {
    for (;;) {
      const fd = native().accept(this.listenFd);
      if (fd === -EAGAIN || fd < 0) return;
      if (this.conn?.isOpen) {
        native().close(fd); // one client at a time: the device has one owner
        this.emit('protocolError', 'a second client was refused');
        continue;
      }
      this.attach(fd);
    }
  }

  private attach(fd: number): void {
    const ref: { session?: Session } = {};
    const conn = new Connection(
      fd,
      {
        message: (m) => ref.session?.onMessage(m),
        malformed: (h, why) => {
          this.emit('protocolError', `message ${h.id}: ${why}`);
          conn.send(encodeReply(h, undefined, EINVAL));
        },
        closed: (errno) => {
          ref.session?.end();
          if (this.current === ref.session) this.current = undefined;
          this.emit('disconnect', errno);
        },
      },
      { maxMessage: MAX_MESSAGE, maxFds: MAX_MSG_FDS },
    );
    this.conn = conn;
    ref.session = new Session(conn, this.model, this.opts);
    this.current = ref.session;
    this.emit('connect');
  }

  /** Lets the process exit while the server waits (it keeps it alive by default). */
  unref(): this {
    if (this.listenPoll) native().socket_poll_ref(this.listenPoll, false);
    this.conn?.ref(false);
    return this;
  }

  /** Drops the client, stops listening and removes the socket file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn?.close(0);
    if (this.listenPoll) native().socket_poll_stop(this.listenPoll);
    if (this.listenFd >= 0) native().close(this.listenFd);
    this.listenFd = -1;
    if (this.path) fs.rmSync(this.path, { force: true });
  }
}
