// Defaults every layer of the emulated host shares: where the cache lives and how old the
// package lists may get before a refresh.
import * as os from 'os';
import * as path from 'path';

export const DEFAULT_LISTS_MAX_AGE_SECONDS = 24 * 3600;

/** The XDG cache location of the emulated host. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)
    ? env.XDG_CACHE_HOME
    : path.join(os.homedir(), '.cache');
  return path.join(base, 'vfio-vm');
}
