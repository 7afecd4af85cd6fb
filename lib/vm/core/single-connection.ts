// A unix socket the host listens on for QEMU to connect to at start-up (a chardev QEMU opens as
// a client): the run's consoles, its QMP monitor and the guest's request port each use one.
import * as net from 'net';

/**
 * A unix socket that takes one connection (QEMU's) and hands it over. Listening starts at
 * construction; `listening` resolves once the socket exists.
 */
export class SingleConnection {
  private readonly server: net.Server;
  /** Resolves once the socket exists (QEMU may then be started), rejects if it cannot listen. */
  readonly listening: Promise<void>;
  /** The one connection, once QEMU has made it. */
  readonly connection: Promise<net.Socket>;

  constructor(readonly path: string) {
    let accept!: (s: net.Socket) => void;
    this.connection = new Promise((resolve) => {
      accept = resolve;
    });
    this.server = net.createServer((sock) => {
      this.server.close(); // no second client
      accept(sock);
    });
    this.listening = new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  /** Stops listening; a connection already made stays open. */
  close(): void {
    this.server.close();
  }
}
