// Type tests of `vfio/nvme`, compiled (not run) by `npm run docs:check` against the published
// declarations: the subpath's types are self-consistent with internals stripped, and the
// controller's internals stay out of them.
import { Device } from 'vfio';
import { NvmeController, NvmeError, NvmeQueue, decodeStatus } from 'vfio/nvme';

declare const ctrl: NvmeController;
declare const queue: NvmeQueue;

const dev: Device = ctrl.device;
const depth: number = queue.depth;
const dnr: boolean = decodeStatus(0x4000).dnr;
void [dev, depth, dnr];

async function readFirstBlock(): Promise<Uint8Array | undefined> {
  try {
    return await ctrl.read(1, 0, 1);
  } catch (e) {
    if (e instanceof NvmeError) return undefined;
    throw e;
  }
}
void readFirstBlock;

// @ts-expect-error the timeout hook is internal
ctrl.onTimeout(queue, 1);
