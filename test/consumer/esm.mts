// A consumer's strict TypeScript, ES module flavour (see cjs.ts).
import { Device, Irq, PCI_COMMAND, abi } from 'vfio';
import { defaultDevices } from 'vfio/vm';
import { decodeStatus } from 'vfio/nvme';

declare const dev: Device;
declare const irq: Irq;

const command: number = PCI_COMMAND;
const version: number = abi.VFIO_API_VERSION;
const names: string[] = defaultDevices.map((d) => d.name);
const dnr: boolean = decodeStatus(0).dnr;
void [command, version, names, dnr];

irq.once('disable', () => {});
dev.on('release-request', (count) => {
  const c: number = count;
  void c;
});

// @ts-expect-error a misspelled event name
dev.on('closed', () => {});
// @ts-expect-error a listener with the wrong signature
irq.on('error', (e: string) => {
  void e;
});
