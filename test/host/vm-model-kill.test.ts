// The guest dies while a device model serves its DMA: QEMU is killed (SIGKILL) at the model's
// first transfer, in both DMA modes. The server, this test's own (run's modelSocket), must notice,
// end the transfer (by messages: the DMA_READ in flight rejects with ECONNRESET; mapped: the read
// of the dead guest's RAM completes, the memory being the server's mapping), release every
// descriptor and mapping the client gave, report the disconnect, and serve the next client
// afresh. One boot of the stock 7.3 kernel per mode, with the faulty edu of
// examples/models/faulty-edu.ts (faults off) and examples/edu-driver.js looping in the guest.
// The name holds "vm-": CI's quick host pass (which skips booting tests) leaves it out.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { eduModel } from '../../examples/models/edu';
import { native } from '../../lib/addon';
import { VfioUserServer, withFaults, type DmaRecord } from '../../lib/user';
import { run } from '../../lib/vm';
import { TestClient } from './user-client';

const root = path.resolve(__dirname, '..', '..');
const DRIVER = path.join(root, 'dist', 'examples', 'edu-driver.js');
const CONFIG = 7;

/** The process whose command line names this socket: the run's QEMU. */
function qemuPid(socket: string): number {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let args: string[];
    try {
      args = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args.some((a) => a.includes('vfio-user-pci') && a.includes(socket))) return Number(name);
  }
  throw new Error(`no QEMU serving ${socket}`);
}

/**
 * What a client can leave in this process: eventfds, guest RAM descriptors and mappings (sockets
 * are not counted: the run's consoles live in this process too).
 */
function held(): { eventfds: number; memfds: number; ramMaps: number } {
  const links = fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return '';
    }
  });
  const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n');
  return {
    eventfds: links.filter((l) => l === 'anon_inode:[eventfd]').length,
    memfds: links.filter((l) => l.startsWith('/memfd:')).length,
    ramMaps: maps.filter((l) => l.includes('/memfd:')).length,
  };
}

const sink = () => {
  let text = '';
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
};

describe.each(['messages', 'mapped'] as const)('the guest killed while the model serves its DMA (%s)', (dma) => {
  it(
    'the server ends the transfer, releases what the client gave, reports it and serves the next client',
    async () => {
      if (!fs.existsSync(DRIVER)) throw new Error(`${DRIVER} is missing: compile first (npx tsc -p tsconfig.json)`);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-kill-'));
      const socket = path.join(dir, 'model.sock');
      const { model, control } = withFaults(eduModel());
      const server = VfioUserServer.listen(socket, model);
      const before = held();
      const reports: string[] = [];
      server.on('connect', () => reports.push('connect'));
      server.on('disconnect', (errno) => reports.push(`disconnect ${errno}`));
      const disconnected = new Promise<void>((r) => server.once('disconnect', () => r()));
      let during: ReturnType<typeof held> | undefined;
      let irqsBefore = 0;
      const transfer = new Promise<DmaRecord>((resolve) => {
        control.once('dma', () => {
          during = held();
          irqsBefore = control.counters.irqsRaised;
          process.kill(qemuPid(socket), 'SIGKILL');
          control.once('dmaDone', resolve);
        });
      });
      const out = sink();
      const err = sink();
      const ran = run({
        kernel: '7.3',
        command: ['sh', '-c', `while :; do node ${DRIVER} $VFIO_VM_MODEL || exit 9; done`],
        cwd: root,
        modelSocket: socket,
        modelDma: dma,
        timeoutSeconds: 600,
        stdout: out.stream,
        stderr: err.stream,
      }).then(
        (r) => `exit ${r.exitCode}`,
        (e: Error) => e.message,
      );
      try {
        const record = await transfer;
        await disconnected;
        // The guest's driver got as far as the DMA: its factorial's MSI had been delivered (the
        // guest's output may still be on its way through the console when QEMU dies).
        expect(irqsBefore).toBeGreaterThanOrEqual(1);
        expect(record.op).toBe('read');
        expect(record.outcome).toBe(dma === 'messages' ? 'ECONNRESET' : 'ok');
        // While it ran, the client had given an MSI eventfd (and, mapped, guest RAM).
        expect(during?.eventfds).toBeGreaterThan(before.eventfds);
        if (dma === 'mapped') expect(during?.ramMaps).toBeGreaterThan(0);
        // Reported: an orderly end, or the send of the DMA request failing on the dead socket (EPIPE).
        expect(reports).toEqual(['connect', expect.stringMatching(/^disconnect (0|-32|-104)$/)]);
        expect(server.session).toBeUndefined();
        expect(held()).toEqual(before);
        // The next client gets a fresh device.
        const fd = native().socket(native().constants.SOCK_STREAM);
        expect(native().connect(fd, socket)).toBe(0);
        const next = new TestClient(fd);
        await next.version();
        expect(await next.read32(CONFIG, 0)).toBe(0x11e81234);
        expect(await next.read32(0, 0x98)).toBe(0); // no DMA running: edu was reset
        next.close();
        await next.closed;
      } finally {
        // The run ends with its QEMU gone: a VmError (or, killed before the command, a status).
        const ended = await ran;
        expect(ended).not.toBe('exit 0');
        server.close();
      }
      expect(fs.existsSync(socket)).toBe(false);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    15 * 60_000,
  );
});
