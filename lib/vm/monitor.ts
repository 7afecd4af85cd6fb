// The monitor side of a run: QEMU's QMP connection (handed to the caller's onMonitor) and the
// guest's request port served over it. Set up afresh for each boot of the guest.
import { WorkDir } from './core/workdir';
import { listenMonitor, VmMonitor } from './qemu/monitor';
import { serveGuestRequests } from './qemu/guest-requests';
import { GuestDevice } from './qemu/devices';

/** Listens on the run's QMP and request sockets (before QEMU starts: QEMU connects to both). */
export async function startMonitor(
  work: WorkDir,
  devices: readonly GuestDevice[],
  onMonitor?: (monitor: VmMonitor) => void,
): Promise<{ close(): void }> {
  const mon = listenMonitor(work.sockets.qmp, devices.map(({ id, bdf }) => ({ id, bdf })));
  const requests = serveGuestRequests(work.sockets.requests, mon.monitor);
  await Promise.all([mon.listening, requests.listening]);
  if (onMonitor) void mon.monitor.then(onMonitor, () => undefined);
  return {
    close: () => {
      requests.close();
      mon.close();
    },
  };
}
