// A package whose addon cannot be loaded (install scripts skipped, no fitting prebuild) fails
// on first use with a VfioError that says how to build or approve the addon.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { addonHint, loadAddon } from '../../lib/addon/native';
import { VfioError } from '../../lib/errors';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild: (dir: string) => unknown = require('node-gyp-build');

describe('loading the addon', () => {
  it('turns node-gyp-build\'s "No native build was found" into a VfioError with the way out', () => {
    // A package directory with neither build/ nor prebuilds/: what --ignore-scripts leaves where no prebuild fits.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-noaddon-'));
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"vfio","version":"0.0.0"}');
    let err: unknown;
    try {
      loadAddon(dir, nodeGypBuild);
    } catch (e) {
      err = e;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    expect(err).toBeInstanceOf(VfioError);
    const v = err as VfioError;
    expect(v.code).toBe('ENOADDON');
    expect(v.message).toMatch(/No native build was found/);
    expect(v.hint).toMatch(/npm rebuild vfio/);
    expect(v.hint).toMatch(/npm install-scripts approve vfio/);
    expect(v.hint).toMatch(/pnpm approve-builds/);
  });

  it('names the shipped prebuild on linux-x64 and says there is none elsewhere', () => {
    expect(addonHint('linux-x64')).toMatch(/ships a prebuilt addon for linux-x64 \(glibc\)/);
    expect(addonHint('linux-arm64')).toMatch(/^there is no prebuilt addon for linux-arm64/);
  });

  it("loads this checkout's addon", () => {
    const addon = loadAddon(path.resolve(__dirname, '..', '..')) as { constants: { PAGE_SIZE: number } };
    expect(addon.constants.PAGE_SIZE).toBe(4096);
  });
});
