// A device whose behaviour lives in a model served over vfio-user (lib/user): QEMU's
// vfio-user-pci client connects to the model's socket. QEMU takes the socket only in the JSON
// form of -device, needs the emulated VT-d in caching mode for it (it aborts otherwise), and
// passes descriptors of guest RAM with DMA_MAP only when RAM is a shareable file.
import { GuestDevice, slotBdf } from './devices';

/** The root-bus slot of the modelled device (free among the default and extra devices' slots). */
export const MODEL_SLOT = 7;
export const MODEL_ENV = 'VFIO_VM_MODEL';
/** The id of the memfd RAM backend that lets the model map guest RAM. */
export const SHARED_RAM_ID = 'vfio-vm-ram';

export function modelDevice(socketPath: string): GuestDevice {
  const spec = { driver: 'vfio-user-pci', id: 'model', socket: { type: 'unix', path: socketPath }, addr: `0x${MODEL_SLOT.toString(16)}` };
  return { name: 'model', id: 'model', env: MODEL_ENV, bdf: slotBdf(MODEL_SLOT), driver: 'vfio-pci', qemuArgs: ['-device', JSON.stringify(spec)] };
}

/** Guest RAM as a shareable memfd: DMA_MAP then brings a descriptor the model maps. */
export function sharedRamArgs(memory: string): string[] {
  return ['-object', `memory-backend-memfd,id=${SHARED_RAM_ID},size=${memory},share=on`, '-machine', `memory-backend=${SHARED_RAM_ID}`];
}
