// The run's QMP monitor: QEMU connects to a socket the host listens on (in the run's work
// directory) at start-up, the host negotiates, and the run's devices can then be removed by
// their QEMU ids. An unplug is a request to the guest (ACPI or PCIe native hotplug): the guest
// kernel removes the device when its driver lets go (vfio-pci first asks the device's user to
// close it), and only then does QEMU delete it and send DEVICE_DELETED.
import { VmError } from '../core/errors';
import { SingleConnection } from '../core/single-connection';
import { QmpClient, QmpError, QmpGreeting } from './qmp';

/** How long an unplug waits for DEVICE_DELETED unless told otherwise. */
export const DEFAULT_UNPLUG_TIMEOUT_MS = 120_000;

/** A device of the run as the monitor names it. */
export interface MonitorDevice {
  /** Its QEMU id (device_del takes it). */
  id: string;
  /** Its PCI address in the guest. */
  bdf: string;
}

/** Options of {@link VmMonitor.unplug}. */
export interface UnplugOptions {
  /** How long to wait for DEVICE_DELETED after device_del is accepted. Default 120 s. */
  timeoutMs?: number;
  /** Called once QEMU has accepted device_del (the guest has been asked). */
  onRequested?: () => void;
}

/** The monitor of a running guest: its QMP connection and the run's removable devices. */
export class VmMonitor {
  private readonly ids: Map<string, MonitorDevice>;

  constructor(
    /** The QMP connection, for any other command (`qmp.execute('query-pci')`). */
    readonly qmp: QmpClient,
    /** QEMU's greeting: its version. */
    readonly greeting: QmpGreeting,
    devices: readonly MonitorDevice[],
  ) {
    this.ids = new Map(devices.map((d) => [d.id, d]));
  }

  /** The run's VFIO devices, by QEMU id. */
  get devices(): MonitorDevice[] {
    return [...this.ids.values()];
  }

  /**
   * Removes a device of the run (`device_del`) and resolves once QEMU reports it deleted
   * (DEVICE_DELETED). Only the run's own devices can be named. A device on the root bus cannot
   * be removed (QEMU's q35 root bus has no hotplug): those behind a PCIe root port can.
   */
  async unplug(id: string, o: UnplugOptions = {}): Promise<void> {
    if (!this.ids.has(id)) {
      throw new VmError('monitor', `unplug ${JSON.stringify(id)}: not a device of this run (its devices: ${[...this.ids.keys()].join(', ') || 'none'})`);
    }
    const timeoutMs = o.timeoutMs ?? DEFAULT_UNPLUG_TIMEOUT_MS;
    // Listen first: the event may follow the command's reply immediately.
    const deleted = this.qmp.waitEvent('DEVICE_DELETED', (d) => d.device === id, timeoutMs);
    deleted.catch(() => undefined); // observed below, or abandoned if device_del fails
    try {
      await this.qmp.execute('device_del', { id });
    } catch (e) {
      const why = e instanceof QmpError ? e.desc : (e as Error).message;
      throw new VmError('monitor', `unplug ${id}: QEMU refused device_del: ${why}`);
    }
    o.onRequested?.();
    try {
      await deleted;
    } catch (e) {
      throw new VmError('monitor', `unplug ${id}: QEMU did not delete the device (${(e as Error).message}); the guest's driver may still hold it`);
    }
  }
}

/** Listens for QEMU's QMP connection at `path`; `monitor` resolves once negotiated. */
export function listenMonitor(path: string, devices: readonly MonitorDevice[]): {
  listening: Promise<void>;
  monitor: Promise<VmMonitor>;
  close(): void;
} {
  const socket = new SingleConnection(path);
  let client: QmpClient | undefined;
  const monitor = socket.connection.then(async (sock) => {
    client = new QmpClient(sock);
    const greeting = await client.negotiate();
    return new VmMonitor(client, greeting, devices);
  });
  monitor.catch(() => undefined); // a run that ends before QEMU connects never asks
  return {
    listening: socket.listening,
    monitor,
    close: () => {
      socket.close();
      client?.close();
    },
  };
}
