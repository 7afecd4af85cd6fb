// A Device dropped unclosed (open, BAR0 mapped, a buffer DMA-mapped): once collected, its fds
// (device, group or iommufd, container) are released with one warning naming it, and the
// device opens again. In a child Node with --expose-gc.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { must } from '../support/must';

const EDU = must(process.env.VFIO_VM_EDU, 'process.env.VFIO_VM_EDU');

describe('an unclosed Device that is collected', () => {
  it('releases its fds with a warning naming it, and the device opens again', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'leak-child.js'), EDU], {
      encoding: 'utf8',
      timeout: 240000,
    });
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    const out = JSON.parse(must(r.stdout.trim().split('\n').pop(), "r.stdout.trim().split('\\n').pop()"));
    expect(out.open).toBeGreaterThan(out.baseline);
    expect(out.firstId).toBe(0x010000ed);
    expect(out.after).toBe(out.baseline);
    expect(out.warnings).toEqual([
      expect.stringMatching(new RegExp(`^VfioLeakWarning: Device ${EDU} was garbage-collected without close\\(\\)`)),
    ]);
    expect(out.id).toBe(0x010000ed);
    expect(out.end).toBe(out.baseline);
  }, 300000);
});
