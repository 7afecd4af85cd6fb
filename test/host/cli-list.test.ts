// lspci's habits in `vfio list`: -s and -d select devices as lspci does, -k adds the
// driver_override column, -n / -nn print numbers instead of or beside names.
import { matchesIds, matchesSelector, parseIdFilter, parseSelector } from '../../lib/cli/commands/list-filter';
import { main } from '../../lib/cli/program';
import { SysfsTree } from './cli-fixture';

let tree: SysfsTree;
beforeAll(() => {
  tree = new SysfsTree([
    {
      bdf: '0000:00:03.0',
      vendor: 0x1234,
      device: 0x11e8,
      class: 0x00ff00,
      driver: 'vfio-pci',
      override: 'vfio-pci',
      group: 1,
    },
    { bdf: '0000:01:00.0', vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
    { bdf: '0000:01:00.1', vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
  ]);
});
afterAll(() => tree.remove());

async function list(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['list', ...args], {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    color: false,
    errColor: false,
    uid: 0,
    sysfs: tree.root,
  });
  return { code, out, err };
}

const bdfs = (out: string) =>
  out
    .split('\n')
    .slice(1)
    .filter((l) => /^[0-9a-f]{4}:/.test(l))
    .map((l) => l.split(/\s+/)[0]);

describe('selectors', () => {
  it('-s [[domain:]bus:]slot[.func], empty or * parts match anything', () => {
    const m = (sel: string, bdf: string) => matchesSelector(bdf, parseSelector(sel));
    expect(m('01:00', '0000:01:00.1')).toBe(true);
    expect(m('01:00.0', '0000:01:00.1')).toBe(false);
    expect(m('3', '0000:00:03.0')).toBe(true);
    expect(m('*:*.1', '0000:01:00.1')).toBe(true);
    expect(m('0001:01:00', '0000:01:00.0')).toBe(false);
    expect(() => parseSelector('1:2:3:4')).toThrow(/expected \[\[DOMAIN:\]BUS:\]SLOT/);
    expect(() => parseSelector('00:20')).toThrow(/slot '20' is not hex up to 0x1f/);
  });

  it('-d [vendor]:[device][:class]', () => {
    const e = { vendor: 0x8086, device: 0x1533, class: 0x020000 };
    expect(matchesIds(e, parseIdFilter('8086:'))).toBe(true);
    expect(matchesIds(e, parseIdFilter(':1533'))).toBe(true);
    expect(matchesIds(e, parseIdFilter('8086:1533:0200'))).toBe(true);
    expect(matchesIds(e, parseIdFilter('8086:1533:0300'))).toBe(false);
    expect(matchesIds(e, parseIdFilter('1af4:'))).toBe(false);
    expect(() => parseIdFilter('8086')).toThrow(/expected \[VENDOR\]:\[DEVICE\]/);
  });
});

describe('vfio list', () => {
  it('-s and -d select, as lspci does', async () => {
    expect(bdfs((await list('-s', '01:00')).out)).toEqual(['0000:01:00.0', '0000:01:00.1']);
    expect(bdfs((await list('-s', '.1')).out)).toEqual(['0000:01:00.1']);
    expect(bdfs((await list('-d', '1234:')).out)).toEqual(['0000:00:03.0']);
    expect(bdfs((await list('-d', '8086:1533', '-s', '01:00.0')).out)).toEqual(['0000:01:00.0']);
    const json = JSON.parse((await list('-d', ':11e8', '--json')).out) as { bdf: string }[];
    expect(json.map((e) => e.bdf)).toEqual(['0000:00:03.0']);
  });

  it('-k adds driver_override; -n numbers only; -nn both', async () => {
    const k = (await list('-k')).out.split('\n');
    expect(k[0]).toMatch(/^BDF +IDS +CLASS +DRIVER +OVERRIDE +GROUP +VFIO$/);
    expect(k[1]).toMatch(
      /^0000:00:03\.0 +1234:11e8 +Unclassified device +vfio-pci +vfio-pci +1 +no: no access to \/dev\/vfio\/1$/,
    );
    expect(k[2]).toMatch(/^0000:01:00\.0 +8086:1533 +Ethernet controller +igb +- +3 +no: bound to igb/);
    const n = (await list('-n')).out.split('\n');
    expect(n[2]).toMatch(/^0000:01:00\.0 +8086:1533 +0200 +igb +3 /);
    const nn = (await list('-nn')).out.split('\n');
    expect(nn[0]).toMatch(/^BDF +CLASS +IDS +DRIVER/);
    expect(nn[2]).toMatch(/^0000:01:00\.0 +Ethernet controller \[0200\] +\[8086:1533\] +igb +3 /);
  });

  it('a bad selector is a usage error', async () => {
    const r = await list('-s', '1:2:3:4');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^vfio: .*is invalid\. expected \[\[DOMAIN:\]BUS:\]SLOT.*; see vfio list --help\n$/);
  });
});
