// currentInvocation(): the sudo lookup (an access() per PATH entry) runs when a hint first reads
// `sudo`, once per invocation, so the paths that take an invocation and throw nothing (every
// Device.open) pay nothing for it.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { currentInvocation, rootCommand } from '../../lib/system/hints';

describe('currentInvocation', () => {
  const savedPath = process.env.PATH;
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-inv-'));
  });
  afterEach(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('looks sudo up when it is first read, not when the invocation is taken, and only once', () => {
    process.env.PATH = `${path.join(dir, 'none')}:${dir}`;
    const inv = currentInvocation();
    // Installed after the invocation was taken: a lookup at creation would have missed it.
    fs.writeFileSync(path.join(dir, 'sudo'), '#!/bin/sh\n', { mode: 0o755 });
    expect(inv.sudo).toBe(true);
    expect(rootCommand({ cli: inv.cli, root: false, sudo: inv.sudo }, 'modprobe vfio-pci')).toBe(
      'sudo modprobe vfio-pci',
    );
    // Removed again: the answer stays what the first read found.
    fs.rmSync(path.join(dir, 'sudo'));
    expect(inv.sudo).toBe(true);
    expect(currentInvocation().sudo).toBe(false);
  });

  it('says no sudo when PATH has none', () => {
    process.env.PATH = dir;
    const inv = currentInvocation();
    expect(inv.sudo).toBe(false);
    expect(rootCommand({ cli: inv.cli, root: false, sudo: inv.sudo }, 'modprobe vfio-pci')).toBe(
      'as root: modprobe vfio-pci',
    );
  });
});
