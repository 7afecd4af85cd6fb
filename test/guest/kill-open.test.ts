// A process killed while it holds a device (open, BAR0 mapped, a buffer DMA-mapped, MSI on):
// the kernel releases it all, and the next open of the same device, in a new process, works and
// drives the device. While the holder lives, an open from elsewhere is refused (busy): that is
// what makes the open after the kill mean something.
import { spawn, spawnSync } from 'child_process';
import { once } from 'events';
import * as path from 'path';
import { VfioError } from '../../lib';
import { rejection } from '../support/errors';
import { waitFor } from '../support/time';
import { describeIf, dmaEdu, openDevice } from './env';
import { must } from '../support/must';

// The edu whose DMA reaches the buffers: without an IOMMU the device is given physical
// addresses, which only the configuration's 32-bit edu can drive.
const EDU = dmaEdu();
const child = path.join(__dirname, 'kill-open-child.js');

describeIf(EDU, 'no edu here can reach physical addresses (no-IOMMU mode needs the 32-bit edu)')(
  'a process SIGKILLed while it holds edu open, mapped, DMA-mapped, with MSI on',
  () => {
    it('leaves the device to the next process, which opens it and drives it', async () => {
      const holder = spawn(process.execPath, [child, must(EDU, 'EDU'), 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
      holder.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = once(holder, 'exit');
      try {
        await waitFor('the holder to open and map edu', () => out.includes('\n') || holder.exitCode !== null, 240000);
        expect({ out, err }).toEqual({ out: expect.stringMatching(/^held 10000ed [0-9a-f]+\n$/), err: '' });
        // The holder really holds it: another process is refused.
        const busy = await rejection(openDevice(must(EDU, 'EDU')));
        expect(busy).toBeInstanceOf(VfioError);
        expect(busy.code).toBe('EBUSY');
      } finally {
        holder.kill('SIGKILL');
      }
      const [code, signal] = await exited;
      expect([code, signal]).toEqual([null, 'SIGKILL']);

      const r = spawnSync(process.execPath, [child, must(EDU, 'EDU'), 'drive'], { encoding: 'utf8', timeout: 240000 });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      expect(JSON.parse(must(r.stdout.trim().split('\n').pop(), "r.stdout.trim().split('\\n').pop()"))).toEqual({
        id: 0x010000ed,
        liveness: ~0x12345678 >>> 0,
        fact: 3628800,
        interrupts: 1,
        dma: true,
      });
    }, 600000);
  },
);
