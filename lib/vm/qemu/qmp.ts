// A small client of the QEMU Machine Protocol (QMP): JSON objects, one per line, over a stream
// socket. QEMU speaks first (a greeting), accepts commands only after `qmp_capabilities`, answers
// each command with a `return` or an `error` object, in order, and sends events (`event`) at any
// time in between. Commands carry an `id` that QEMU echoes, so a reply is matched to its command
// by id rather than by order.
import { EventEmitter } from 'events';
import type { Duplex } from 'stream';
import { LineSplitter } from '../core/lines';

/** The greeting QEMU sends on connection: its version and the capabilities it offers. */
export interface QmpGreeting {
  /** QEMU's version, and the distribution's package string. */
  version: {
    /** QEMU's own version numbers. */
    qemu: {
      /** Major version. */
      major: number;
      /** Minor version. */
      minor: number;
      /** Micro (patch) version. */
      micro: number;
    };
    /** The distribution's package version string (may be empty). */
    package: string;
  };
  /** Optional protocol capabilities QEMU offers (e.g. "oob"); none is enabled by this client. */
  capabilities: string[];
}

/** An asynchronous event from QEMU (e.g. DEVICE_DELETED with `data.device`, the device's id). */
export interface QmpEvent {
  /** The event's name (DEVICE_DELETED, SHUTDOWN, …). */
  event: string;
  /** Its arguments (an empty object when it has none). */
  data: Record<string, unknown>;
  /** When QEMU sent it. */
  timestamp: {
    /** Seconds since the epoch. */
    seconds: number;
    /** Microseconds within that second. */
    microseconds: number;
  };
}

/** A command QEMU refused or failed: its error class (e.g. "GenericError", "DeviceNotFound") and text. */
export class QmpError extends Error {
  constructor(
    /** The command that failed. */
    readonly command: string,
    /** QEMU's error class ("GenericError", "DeviceNotFound", …). */
    readonly errorClass: string,
    /** QEMU's description of the error. */
    readonly desc: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
  }
}

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** What a {@link QmpClient} emits. */
export interface QmpClientEvents {
  /** Every QEMU event, as it arrives. */
  event: [event: QmpEvent];
  /** The connection ended; commands still waiting were rejected. */
  close: [];
}

/**
 * One QMP connection. {@link QmpClient.negotiate} waits for the greeting and leaves capability
 * negotiation; {@link QmpClient.execute} sends a command and resolves to its `return` value.
 */
export class QmpClient extends EventEmitter<QmpClientEvents> {
  private readonly lines = new LineSplitter();
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private greetingWaiters: Array<{ resolve(g: QmpGreeting): void; reject(e: Error): void }> = [];
  private greetingSeen?: QmpGreeting;
  private closedWith?: Error;

  constructor(private readonly stream: Duplex) {
    super();
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.onData(chunk));
    stream.on('error', (e: Error) => this.end(new Error(`QMP connection closed: ${e.message}`)));
    stream.on('close', () => this.end(new Error('QMP connection closed')));
  }

  /** Waits for QEMU's greeting, then enters command mode (`qmp_capabilities`). */
  async negotiate(): Promise<QmpGreeting> {
    const greeting = await this.greeting();
    await this.execute('qmp_capabilities');
    return greeting;
  }

  /** Sends a command; resolves to its `return` value, rejects with a {@link QmpError} or when the connection ends. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = `c${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.stream.write(JSON.stringify(msg) + '\n');
    });
  }

  /**
   * The next event named `name` whose data passes `match`, within `timeoutMs`. Start waiting
   * before the command that causes it: an event that arrived earlier is not seen.
   */
  waitEvent(name: string, match: (data: Record<string, unknown>) => boolean, timeoutMs: number): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      const onEvent = (e: QmpEvent) => {
        if (e.event === name && match(e.data)) {
          done();
          resolve(e);
        }
      };
      const onClose = () => {
        done();
        reject(this.closedWith ?? new Error('QMP connection closed'));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  /** Ends the connection. */
  close(): void {
    this.stream.end();
    this.stream.destroy();
  }

  private greeting(): Promise<QmpGreeting> {
    if (this.greetingSeen) return Promise.resolve(this.greetingSeen);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => this.greetingWaiters.push({ resolve, reject }));
  }

  private onData(chunk: string): void {
    for (const line of this.lines.push(chunk)) {
      if (line.trim() === '') continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        msg = undefined;
      }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
        this.end(new Error(`QMP: not a JSON object: ${line.slice(0, 200)}`));
        return;
      }
      this.dispatch(msg as Record<string, unknown>);
    }
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (msg.QMP !== undefined) {
      this.greetingSeen = msg.QMP as QmpGreeting;
      const waiters = this.greetingWaiters;
      this.greetingWaiters = [];
      for (const w of waiters) w.resolve(this.greetingSeen);
    } else if (typeof msg.event === 'string') {
      this.emit('event', {
        event: msg.event,
        data: (msg.data ?? {}) as Record<string, unknown>,
        timestamp: msg.timestamp as QmpEvent['timestamp'],
      });
    } else if ('return' in msg || 'error' in msg) {
      const id = typeof msg.id === 'string' ? msg.id : undefined;
      const p = id === undefined ? undefined : this.pending.get(id);
      if (id === undefined || !p) return; // a reply to nobody (QEMU answers an unparsable command without an id)
      this.pending.delete(id);
      if ('error' in msg) {
        const err = (typeof msg.error === 'object' && msg.error !== null ? msg.error : {}) as {
          class?: string;
          desc?: string;
        };
        p.reject(new QmpError(p.command, err.class ?? 'GenericError', err.desc ?? '(no description)'));
      } else {
        p.resolve(msg.return);
      }
    }
  }

  private end(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    for (const w of this.greetingWaiters) w.reject(error);
    this.greetingWaiters = [];
    this.stream.destroy();
    this.emit('close');
  }
}
