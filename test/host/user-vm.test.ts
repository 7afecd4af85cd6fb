// `vfio-vm run --model`: the QEMU arguments a served model needs (the JSON -device form, VT-d in
// caching mode, guest RAM as a shareable memfd only in the mapped DMA mode), and the loading of
// a model module with its errors.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel, serveModel } from '../../lib/vm/model';
import { modelDevice } from '../../lib/vm/qemu/model-device';
import { QemuPlan, qemuArgs } from '../../lib/vm/qemu/qemu';
import { native } from '../../lib/addon';

const plan = (extra: Partial<QemuPlan>): QemuPlan => ({
  kernel: { source: 'debian', kernelVersion: '7.3.4', kernelImage: '/k', pvh: false } as QemuPlan['kernel'],
  initrd: '/i',
  memory: '2G',
  smp: 2,
  shares: [],
  devices: [],
  consoles: { stdio: true },
  accel: 'tcg',
  firmwareDir: '/nonexistent',
  ...extra,
});

describe('vfio-vm with a device model', () => {
  it('adds the device in JSON form at slot 7, with caching-mode and shared RAM', () => {
    const dev = modelDevice('/tmp/x/model.sock');
    expect(dev.bdf).toBe('0000:00:07.0');
    expect(dev.env).toBe('VFIO_VM_MODEL');
    expect(JSON.parse(dev.qemuArgs[1])).toEqual({
      driver: 'vfio-user-pci',
      socket: { type: 'unix', path: '/tmp/x/model.sock' },
      addr: '0x7',
      id: 'model',
    });
    const args = qemuArgs(plan({ devices: [dev], vfioUser: true, sharedRam: true })).join(' ');
    expect(args).toContain('-device intel-iommu,intremap=on,caching-mode=on');
    expect(args).toContain(
      '-object memory-backend-memfd,id=vfio-vm-ram,size=2G,share=on -machine memory-backend=vfio-vm-ram',
    );
    const messages = qemuArgs(plan({ devices: [dev], vfioUser: true, sharedRam: false })).join(' ');
    expect(messages).not.toContain('memory-backend');
    expect(qemuArgs(plan({})).join(' ')).toContain('-device intel-iommu,intremap=on ');
  });

  it('loads a model module by its default or `model` export, and says what is wrong otherwise', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-model-'));
    const model = `{ description: { vendorId: 1, deviceId: 2, classCode: 0 }, create: () => ({}) }`;
    fs.writeFileSync(path.join(dir, 'a.js'), `module.exports = { default: ${model} };`);
    fs.writeFileSync(path.join(dir, 'b.js'), `exports.model = ${model};`);
    fs.writeFileSync(path.join(dir, 'c.js'), `exports.other = 1;`);
    expect(loadModel('a.js', dir).description.deviceId).toBe(2);
    expect(loadModel('b.js', dir).description.vendorId).toBe(1);
    expect(() => loadModel('c.js', dir)).toThrow('exports no device model');
    expect(() => loadModel('missing.js', dir)).toThrow('cannot load');
    // Served on a socket in the work directory: a client can connect to it.
    const served = serveModel('a.js', dir, dir, () => undefined);
    const fd = native().socket(native().constants.SOCK_STREAM);
    expect(native().connect(fd, path.join(dir, 'model.sock'))).toBe(0);
    native().close(fd);
    served.close();
    expect(fs.existsSync(path.join(dir, 'model.sock'))).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
