// Which host directory a run shares read-write: the project the working directory belongs to,
// so that a command started in a subdirectory still finds the project's node_modules (node
// resolves modules upwards) and files beside it.
import * as fs from 'fs';
import * as path from 'path';
import { VmError } from './errors';

/** The nearest directory at or above `cwd` holding a package.json; `cwd` itself if none does. */
export function findProjectDir(cwd: string): string {
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    if (dir !== '/' && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (dir === path.dirname(dir)) return cwd;
  }
}

/** The shared directory of a run: given, or found from cwd; it must contain cwd and not be /. */
export function projectDirFor(cwd: string, given?: string): string {
  const dir = path.resolve(given ?? findProjectDir(cwd));
  if (dir === '/') throw new VmError('options', 'the shared project directory cannot be /');
  if (cwd !== dir && !cwd.startsWith(dir + path.sep)) {
    throw new VmError('options', `the working directory ${cwd} is outside the shared project directory ${dir}`);
  }
  return dir;
}
