// The private apt's package lists: refreshed when older than the caller allows, one refresh at a
// time across processes. Every provisioning step (userland, kernels, the custom build's tools
// and source) starts here.
import { APT_SOURCES, PrivateApt } from './apt';
import { withLock } from '../core/cache-lock';

type Log = (line: string) => void;

export async function refreshLists(apt: PrivateApt, maxAge: number, log: Log): Promise<void> {
  apt.prepare();
  if (apt.listsAgeSeconds() <= maxAge) return;
  // apt runs without its own locking (-oDebug::NoLocking): two updates must not overlap.
  await withLock(apt.dir, async () => {
    const age = apt.listsAgeSeconds();
    if (age <= maxAge) return; // refreshed by the process we waited for
    log(`refreshing package lists (${APT_SOURCES.map((l) => l.split(' ')[2]).join(', ')})…`);
    try {
      await apt.update();
    } catch (e) {
      if (age === Infinity) throw e;
      log(`warning: could not refresh package lists, using the old ones: ${(e as Error).message}`);
    }
  }, { onWait: (pid) => log(`waiting for process ${pid} to refresh the package lists…`) });
}
