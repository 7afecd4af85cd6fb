// `vfio nvme`: the hex dump of `read`, and the command line as commander parses it (usage errors
// before any device is touched).
import { hexDump } from '../../lib/cli/commands/nvme';
import { main } from '../../lib/cli/program';

function runtime() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    rt: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), color: false, errColor: false, uid: 0 },
    out,
    err,
  };
}

describe('vfio nvme', () => {
  it("hex dump: offset from the LBA's byte address, two groups of 8, printable ASCII, repeats folded", () => {
    const b = new Uint8Array(64);
    b.set(Buffer.from('Hello, NVMe!'), 0);
    b[17] = 0xff;
    expect(hexDump(b, 0x1000)).toBe(
      [
        '00001000  48 65 6c 6c 6f 2c 20 4e  56 4d 65 21 00 00 00 00  |Hello, NVMe!....|',
        '00001010  00 ff 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|',
        '00001020  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|',
        '*',
        '00001040',
      ].join('\n') + '\n',
    );
    expect(hexDump(Uint8Array.of(0x41, 0x42, 0x43))).toBe(
      '00000000  41 42 43                                          |ABC|\n00000003\n',
    );
  });

  it('lists its subcommands and refuses bad arguments as usage errors (status 2)', async () => {
    const help = runtime();
    expect(await main(['nvme', '--help'], help.rt)).toBe(0);
    expect(help.out.join('')).toMatch(/identify[\s\S]*read[\s\S]*write/);
    const bad = runtime();
    expect(await main(['nvme', 'read', '01:00.0', '-3'], bad.rt)).toBe(2);
    const badBdf = runtime();
    expect(await main(['nvme', 'identify', 'nonsense'], badBdf.rt)).toBe(2);
  });
});
