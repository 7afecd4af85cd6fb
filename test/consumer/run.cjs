// Run by scripts/check-consumer.js in a fresh project: the package loads from CommonJS without a
// device (and without loading the addon) and its constants read as published.
'use strict';
const vfio = require('vfio');
const { defaultDevices } = require('vfio/vm');
const { decodeStatus } = require('vfio/nvme');
process.stdout.write(
  JSON.stringify({
    PCI_COMMAND: vfio.PCI_COMMAND,
    VFIO_API_VERSION: vfio.abi.VFIO_API_VERSION,
    VfioError: typeof vfio.VfioError,
    devices: defaultDevices.length,
    dnr: decodeStatus(0x4000).dnr,
  }),
);
