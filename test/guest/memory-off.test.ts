// Memory decoding turned off through the library (item: no SIGBUS after memory decoding is off):
// vfio-pci zaps BAR mappings then, and a touch would be SIGBUS. The library suspends the
// device's mappings first, so accesses throw a typed error, and maps them back when memory
// decodes again. Runs in a child process so that a SIGBUS is an exit signal, not a dead runner.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { must } from '../support/must';

const EDU = must(process.env.VFIO_VM_EDU, 'process.env.VFIO_VM_EDU');
const EDU_ID = 0x010000ed;

describe('memory decoding off and on again (edu)', () => {
  it('accessors throw a typed EIO error while off, the process lives, and reads work again after', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'memory-off-child.js'), EDU], {
      encoding: 'utf8',
      timeout: 240000,
    });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const out = JSON.parse(must(r.stdout.trim().split('\n').pop(), "r.stdout.trim().split('\\n').pop()"));
    const eio = expect.objectContaining({ error: 'VfioError', code: 'EIO' });
    expect(out.before).toEqual({ value: EDU_ID });
    expect(out.memorySpaceOff).toBe(false);
    expect(out.suspended).toBe(true);
    expect(out.whileOff).toEqual(expect.objectContaining({ error: 'VfioError', code: 'EIO', op: 'Mapping.read32' }));
    expect(out.whileOff.hint).toMatch(/memorySpace = true/);
    expect(out.writeWhileOff).toEqual(eio);
    expect(out.viewWhileOff).toBe(0);
    // vfio-pci refuses pread of a BAR that does not decode: its own EIO, typed.
    expect(out.preadWhileOff).toEqual(eio);
    expect(out.newMappingWhileOff).toEqual(eio);
    expect(out.after).toEqual({ value: EDU_ID });
    expect(out.lateAfter).toEqual({ value: EDU_ID });
    expect(out.liveness).toEqual({ value: ~0x0f0f0f0f >>> 0 });
    expect(out.commandOff).toEqual(eio);
    expect(out.commandOn).toEqual({ value: EDU_ID });
    if (!('unavailable' in out.lowPower)) expect(out.lowPower).toEqual(eio);
    expect(out.lowPowerExit).toEqual({ value: EDU_ID });
  }, 300000);
});
