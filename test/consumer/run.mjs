// The ES module twin of run.cjs: named imports from the CommonJS build, through `exports`.
import process from 'node:process';
import { PCI_COMMAND, abi, VfioError } from 'vfio';
import { defaultDevices } from 'vfio/vm';
import { decodeStatus } from 'vfio/nvme';

process.stdout.write(
  JSON.stringify({
    PCI_COMMAND,
    VFIO_API_VERSION: abi.VFIO_API_VERSION,
    VfioError: typeof VfioError,
    devices: defaultDevices.length,
    dnr: decodeStatus(0x4000).dnr,
  }),
);
