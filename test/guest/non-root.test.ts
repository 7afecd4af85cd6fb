// A user that is not root: with only its group's /dev/vfio/N node it opens and drives the
// device; without it, the error names the node and the fix. The user runs in a child process
// started with another uid and gid (no passwd entry needed), through the type1 group path, where
// /dev/vfio/N is the one node that decides (the container /dev/vfio/vfio is open to everyone).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { describeIf, guestEnv } from './env';
import { must } from '../support/must';

const env = guestEnv();
const USER = 4242;
const group = path.basename(fs.readlinkSync(`/sys/bus/pci/devices/${env.edu}/iommu_group`));
const node = `/dev/vfio/${group}`;
const lib = path.join(__dirname, '..', '..', 'lib');

interface Outcome {
  id?: number;
  error?: { name: string; code: string; message: string; hint?: string };
}

/** Opens edu as USER and reads its ID register; what happened, as the child saw it. */
function asUser(): Outcome {
  const script = `
    const { Device } = require(${JSON.stringify(lib)});
    (async () => {
      try {
        const dev = await Device.open(${JSON.stringify(env.edu)}, { backend: 'type1' });
        const id = dev.bar(0).map().read32(0);
        dev.close();
        console.log(JSON.stringify({ id }));
      } catch (e) {
        console.log(JSON.stringify({ error: { name: e.constructor.name, code: e.code, message: e.message, hint: e.hint } }));
      }
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { uid: USER, gid: USER, encoding: 'utf8', timeout: 60000 });
  expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status: 0 });
  return JSON.parse(r.stdout) as Outcome;
}

describeIf(fs.existsSync(node) && fs.existsSync('/dev/vfio/vfio'), 'no type1 group node for edu in this configuration')(
  'a user that is not root',
  () => {
    let owner: fs.Stats;
    beforeAll(() => {
      owner = fs.statSync(node);
    });
    afterAll(() => fs.chownSync(node, owner.uid, owner.gid));

    it('without /dev/vfio/N: a PermissionError naming the node and how to give it', () => {
      expect(owner.mode & 0o006).toBe(0); // the kernel creates it for root only
      const { error } = asUser();
      expect(error).toMatchObject({ name: 'PermissionError', code: 'EACCES' });
      expect(must(error, 'error').message).toContain(node);
      // The fix names the node and how to hand it over.
      expect(must(error, 'error').hint).toContain(node);
      expect(must(error, 'error').hint).toMatch(/chown/);
    });

    it('owning only /dev/vfio/N: opens the device and reads its ID register', () => {
      fs.chownSync(node, USER, USER);
      expect(asUser()).toEqual({ id: 0x010000ed });
    });
  },
);
