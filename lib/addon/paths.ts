// Where the package itself lives, whether running from lib/ (ts-jest) or dist/lib/ (compiled).
import * as fs from 'fs';
import * as path from 'path';

let root: string | undefined;

/** The package root: the nearest ancestor of this file holding binding.gyp and package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'binding.gyp')) && fs.existsSync(path.join(dir, 'package.json'))) {
      return (root = dir);
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`vfio: cannot find the package root above ${__dirname}`);
    dir = up;
  }
}

/** The package's version from its package.json ('unknown' if it cannot be read). */
export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}
