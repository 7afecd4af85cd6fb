// vfio-vm's device back ends: --drive / --netdev / --qemu-arg become QEMU arguments after the
// devices, with the checks that say more than QEMU would.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backendArgs } from '../../lib/vm/qemu/backends';
import { VmError } from '../../lib/vm/core/errors';

describe('vfio-vm back ends', () => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'vm-backends-')));
  const img = path.join(dir, 'disk.img');
  fs.writeFileSync(img, Buffer.alloc(4096));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("makes a drive's image path absolute and adds if=none", () => {
    expect(backendArgs({ drives: ['file=disk.img,id=d1,format=raw'] }, dir)).toEqual([
      '-drive',
      `file=${img},id=d1,format=raw,if=none`,
    ]);
    expect(backendArgs({ drives: [`id=d2,file=${img},if=virtio`] }, '/')).toEqual([
      '-drive',
      `id=d2,file=${img},if=virtio`,
    ]);
  });

  it('refuses a drive without an id or with a missing image, and a netdev without an id', () => {
    expect(() => backendArgs({ drives: ['file=disk.img,format=raw'] }, dir)).toThrow(VmError);
    expect(() => backendArgs({ drives: ['file=disk.img,format=raw'] }, dir)).toThrow(/id=/);
    expect(() => backendArgs({ drives: ['file=nope.img,id=d1'] }, dir)).toThrow(/nope.img does not exist/);
    expect(() => backendArgs({ netdevs: ['user'] })).toThrow(/id=/);
  });

  it('passes netdevs and other arguments through, in order', () => {
    expect(
      backendArgs(
        { netdevs: ['user,id=n1'], qemuArgs: ['-global', 'nvme.msix_qsize=8'], drives: [`file=${img},id=a`] },
        dir,
      ),
    ).toEqual(['-drive', `file=${img},id=a,if=none`, '-netdev', 'user,id=n1', '-global', 'nvme.msix_qsize=8']);
  });
});
