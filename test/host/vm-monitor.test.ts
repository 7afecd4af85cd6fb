// The run's monitor from the host, end to end (one boot): onMonitor's VmMonitor removes nvme
// (bound to vfio-pci, held by nobody) while the guest command watches it leave sysfs; the
// --qmp socket (qmpSocket) is a second QMP monitor another client drives; the guest's request
// port refuses a device that is not the run's. test/guest/hot-unplug.test.ts covers a removal
// while a guest process holds the device.
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { QmpClient, VmMonitor, run } from '../../lib/vm';
import { must } from '../support/must';

function collector() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (b: Buffer) => (text += b.toString()));
  return { stream, text: () => text };
}

describe('vfio-vm run: the monitor', () => {
  it('unplugs a device from the host, serves --qmp to another client, and limits guest requests to the run', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-monitor-'));
    const qmpSocket = path.join(dir, 'qmp.sock');
    const out = collector();
    const err = collector();
    const nvme = '/sys/bus/pci/devices/0000:01:00.0';
    // The guest: nvme is there, then (unplugged from the host) gone; then it asks for a device
    // that is not the run's through the request port and prints the answer.
    const script = [
      `test -e ${nvme}/driver && echo present`,
      `i=0; while [ -e ${nvme} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`,
      `test -e ${nvme} || echo gone`,
      `node -e "require(process.argv[1]).requestUnplug('rp5').catch((e) => console.log(e.kind, e.message))" ${path.resolve(__dirname, '../../dist/lib/vm/guest/unplug-request.js')}`,
    ].join('\n');
    const seen: string[] = [];
    let monitorStatus: unknown;
    let userClient: { status: unknown; rootBusIds: string[] } | undefined;
    let monitor: VmMonitor | undefined;
    const onMonitor = (m: VmMonitor) => {
      monitor = m;
      void (async () => {
        monitorStatus = await m.qmp.execute('query-status');
        // A second QMP client on the --qmp socket, while the run's own monitor is connected.
        const c = new QmpClient(net.connect(qmpSocket));
        await c.negotiate();
        const buses = await c.execute<Array<{ devices: Array<{ qdev_id: string }> }>>('query-pci');
        userClient = { status: await c.execute('query-status'), rootBusIds: buses[0].devices.map((d) => d.qdev_id) };
        c.close();
      })().catch((e) => seen.push(`error ${(e as Error).message}`));
    };
    // The unplug once the guest's command runs: a device_del while the guest still boots is not
    // acted on (the guest's hotplug handling is not up yet).
    out.stream.on('data', () => {
      if (!out.text().includes('present\n') || seen.length > 0) return;
      seen.push('asked');
      must(monitor, 'monitor')
        .unplug('nvme', { onRequested: () => seen.push('requested') })
        .then(() => seen.push('deleted'))
        .catch((e) => seen.push(`error ${(e as Error).message}`));
    });
    try {
      const r = await run({
        command: ['sh', '-c', script],
        stdout: out.stream,
        stderr: err.stream,
        onMonitor,
        qmpSocket,
        timeoutSeconds: 240,
      });
      expect([r.exitCode, err.text()]).toEqual([0, '']);
      expect(out.text().split('\n')).toEqual([
        'present',
        'gone',
        'monitor the host could not unplug rp5: not a device of this run (its devices: edu, ivshmem, nvme, pci-testdev)',
        '',
      ]);
      expect(seen).toEqual(['asked', 'requested', 'deleted']);
      expect(monitorStatus).toMatchObject({ status: 'running' });
      expect(userClient).toMatchObject({ status: { status: 'running' } });
      // The root bus as QEMU lists it: the run's devices under their stable ids.
      expect(must(userClient, 'userClient').rootBusIds).toEqual(
        expect.arrayContaining(['edu', 'ivshmem', 'pci-testdev']),
      );
      expect(r.devices.map((d) => d.id)).toEqual(['edu', 'ivshmem', 'nvme', 'pci-testdev']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 400000);
});
