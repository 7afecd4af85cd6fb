// `vfio nvme identify|read|write BDF …`: the NVMe driver (lib/nvme) on the command line, for lab
// use: what the controller and its namespaces are, a hex dump of blocks, blocks written from a
// file or stdin. The driver loads only when one of these commands runs.
import * as fs from 'fs';
import { Argument, Command, InvalidArgumentError } from 'commander';
import type { DeviceOpenOptions } from '../../device/device';
import type { NvmeController } from '../../nvme';
import { toJson } from '../format';
import { CliError, Runtime } from '../report';

/** hexdump -C style: offset, 16 bytes in two groups of 8, the printable characters; a repeat of the line above is one '*'. */
export function hexDump(bytes: Uint8Array, base = 0): string {
  const lines: string[] = [];
  let previous: string | undefined;
  let starred = false;
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const key = hex.join(' ');
    if (key === previous && row.length === 16) {
      if (!starred) lines.push('*');
      starred = true;
      continue;
    }
    previous = key;
    starred = false;
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(base + off).toString(16).padStart(8, '0')}  ${`${left}  ${right}`.padEnd(48)}  |${ascii}|`);
  }
  lines.push((base + bytes.length).toString(16).padStart(8, '0'));
  return lines.join('\n') + '\n';
}

const count = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer ${what}`);
  return n;
};

interface NvmeFlags {
  nsid: number;
}

async function withController<T>(bdf: string, o: DeviceOpenOptions, f: (c: NvmeController) => Promise<T>): Promise<T> {
  const { NvmeController } = await import('../../nvme');
  // One queue pair, a data pool for the largest transfer: the CLI does one thing at a time.
  const c = await NvmeController.open(bdf, { device: o, ioQueues: 1, queueDepth: 16 });
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

function namespaceOf(c: NvmeController, nsid: number) {
  const ns = c.namespaces.get(nsid);
  if (!ns)
    throw new CliError(
      `namespace ${nsid} is not active on ${c.label}`,
      `active namespaces: ${[...c.namespaces.keys()].join(', ') || 'none'}`,
    );
  return ns;
}

/** Adds `nvme` and its subcommands; `open` adds the device-opening options to a command and reads them back. */
export function addNvmeCommands(
  program: Command,
  rt: Runtime,
  bdfArg: () => Argument,
  open: { options(cmd: Command): Command; flags(o: object): DeviceOpenOptions },
): void {
  const nvme = program
    .command('nvme')
    .description("an NVMe controller bound to vfio-pci, through this package's driver: identify, read, write")
    .addHelpText('after', '\nExamples:\n  $ vfio nvme identify 0000:01:00.0\n  $ vfio nvme read 0000:01:00.0 0 8\n');
  const nsid = (cmd: Command) =>
    cmd
      .option('--nsid <n>', 'namespace ID', count('NSID'), 1)
      .option('--no-color', 'no colour (NO_COLOR in the environment does the same)');

  open
    .options(nsid(nvme.command('identify')))
    .description('Identify Controller and the active namespaces (size, LBA format)')
    .addArgument(bdfArg())
    .option('--json', 'print JSON')
    .action(async (bdf: string, opts: NvmeFlags & { json?: boolean }) => {
      const info = await withController(bdf, open.flags(opts), async (c) => ({
        bdf,
        version: c.version,
        cap: c.cap,
        pageSize: c.pageSize,
        maxTransferBytes: c.maxTransferBytes,
        controller: c.identity,
        namespaces: Object.fromEntries(c.namespaces),
      }));
      if (opts.json) {
        rt.out(toJson(info) + '\n');
        return;
      }
      const id = info.controller;
      const lines = [
        `${bdf}: NVMe ${info.version}, ${id.model} (serial ${id.serial}, firmware ${id.firmware}), vendor 0x${id.vendorId.toString(16).padStart(4, '0')}`,
        `  page size ${info.pageSize} B, largest transfer ${info.maxTransferBytes} B, queues up to ${info.cap.maxQueueEntries} entries, CAP.TO ${info.cap.timeoutMs} ms`,
        `  optional commands: ${
          Object.entries(id.optionalCommands)
            .filter(([, v]) => v)
            .map(([k]) => k)
            .join(', ') || 'none'
        }`,
      ];
      for (const [n, ns] of Object.entries(info.namespaces)) {
        lines.push(
          `  namespace ${n}: ${ns.size} blocks of ${ns.format.blockBytes} B (${((ns.size * ns.format.blockBytes) / 2 ** 20).toFixed(1)} MiB), format ${ns.formatIndex} of ${ns.lbaFormats.length}`,
        );
      }
      rt.out(lines.join('\n') + '\n');
    });

  open
    .options(nsid(nvme.command('read')))
    .description('read logical blocks: a hex dump, or the raw bytes into a file')
    .addArgument(bdfArg())
    .addArgument(new Argument('<lba>', 'first logical block').argParser(count('LBA')))
    .addArgument(new Argument('[blocks]', 'number of blocks').argParser(count('block count')).default(1))
    .option('--out <file>', 'write the raw bytes to FILE instead of a hex dump')
    .action(async (bdf: string, lba: number, blocks: number, opts: NvmeFlags & { out?: string }) => {
      const data = await withController(bdf, open.flags(opts), async (c) => {
        const bs = namespaceOf(c, opts.nsid).format.blockBytes;
        const out = new Uint8Array(blocks * bs);
        const step = Math.max(1, Math.floor(c.maxTransferBytes / bs));
        for (let b = 0; b < blocks; b += step)
          out.set(await c.read(opts.nsid, lba + b, Math.min(step, blocks - b)), b * bs);
        return { out, bs };
      });
      if (opts.out) fs.writeFileSync(opts.out, data.out);
      else rt.out(hexDump(data.out, lba * data.bs));
    });

  open
    .options(nsid(nvme.command('write')))
    .description('write logical blocks from a file, or stdin (the last block is padded with zeroes)')
    .addArgument(bdfArg())
    .addArgument(new Argument('<lba>', 'first logical block').argParser(count('LBA')))
    .addArgument(new Argument('[file]', 'the data; - or none: stdin'))
    .action(async (bdf: string, lba: number, file: string | undefined, opts: NvmeFlags) => {
      const input = fs.readFileSync(file === undefined || file === '-' ? 0 : file);
      if (input.length === 0) throw new CliError('nothing to write (the input is empty)');
      const written = await withController(bdf, open.flags(opts), async (c) => {
        const bs = namespaceOf(c, opts.nsid).format.blockBytes;
        const data = new Uint8Array(Math.ceil(input.length / bs) * bs);
        data.set(input);
        const step = Math.max(bs, Math.floor(c.maxTransferBytes / bs) * bs);
        for (let off = 0; off < data.length; off += step)
          await c.write(opts.nsid, lba + off / bs, data.subarray(off, Math.min(data.length, off + step)));
        await c.flush(opts.nsid);
        return { blocks: data.length / bs, bs, padded: data.length - input.length };
      });
      rt.out(
        `wrote ${written.blocks} block(s) of ${written.bs} B at LBA ${lba}${written.padded ? ` (${written.padded} zero bytes of padding)` : ''}\n`,
      );
    });
}
