// The host ends of the guest's consoles in run mode: unix sockets QEMU connects to at start-up.
// The kernel console (ttyS0) goes to a log file and is watched for the init's markers; the
// command's stdout and stderr (two virtio serial ports) are streamed to the caller as they come.
import * as fs from 'fs';
import { LineSplitter } from '../core/lines';
import { SingleConnection } from '../core/single-connection';

/** A console's socket: QEMU's connection's bytes go to `onData` as they come. */
class ConsoleSocket {
  private readonly socket: SingleConnection;
  private readonly closed: Promise<void>;

  constructor(path: string, onData: (chunk: Buffer) => void) {
    this.socket = new SingleConnection(path);
    this.closed = this.socket.connection.then(
      (sock) =>
        new Promise<void>((resolve) => {
          sock.on('data', onData);
          sock.on('close', () => resolve());
          sock.on('error', () => resolve());
        }),
    );
  }

  listen(): Promise<void> {
    return this.socket.listening;
  }

  /** Resolves when QEMU's connection has closed (all its bytes delivered), or after graceMs. */
  drained(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    return Promise.race([this.closed, grace]).finally(() => {
      clearTimeout(timer);
      this.socket.close();
    });
  }
}

export interface ConsoleEvents {
  /** A complete console line (without the newline). */
  onLine?: (line: string) => void;
}

/** The three sockets of a run plus the console log. */
export class RunConsoles {
  private readonly log: fs.WriteStream;
  private readonly sockets: ConsoleSocket[];
  private readonly splitter = new LineSplitter();
  private readonly lines: string[] = [];

  constructor(
    readonly paths: { console: string; stdout: string; stderr: string },
    logFile: string,
    stdout: NodeJS.WritableStream,
    stderr: NodeJS.WritableStream,
    private readonly events: ConsoleEvents = {},
  ) {
    this.log = fs.createWriteStream(logFile);
    this.sockets = [
      new ConsoleSocket(paths.console, (b) => this.consoleData(b)),
      new ConsoleSocket(paths.stdout, (b) => stdout.write(b)),
      new ConsoleSocket(paths.stderr, (b) => stderr.write(b)),
    ];
  }

  listen(): Promise<void> {
    return Promise.all(this.sockets.map((s) => s.listen())).then(() => undefined);
  }

  private consoleData(b: Buffer): void {
    this.log.write(b);
    for (const line of this.splitter.push(b.toString('utf8').replace(/\r/g, ''))) {
      this.lines.push(line);
      if (this.lines.length > 200) this.lines.shift();
      this.events.onLine?.(line);
    }
  }

  /** Waits for every stream to end (QEMU has exited), then closes the log. */
  async close(graceMs = 2000): Promise<void> {
    await Promise.all(this.sockets.map((s) => s.drained(graceMs)));
    if (this.splitter.pending) this.consoleData(Buffer.from('\n'));
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  /** The last n console lines (for error messages). */
  tail(n = 25): string {
    return this.lines.slice(-n).join('\n');
  }

  recentLines(): readonly string[] {
    return this.lines;
  }
}
