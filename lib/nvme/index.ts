// vfio/nvme: an NVMe driver on the vfio package's public API (docs/nvme.md).
export { NvmeController, NvmeControllerOptions, IoOptions, LbaRange } from './controller';
export { NvmeOpenOptions, CreateQueueOptions } from './core';
export { NvmeQueue, NvmeCommand } from './queue';
export {
  NvmeError,
  NvmeAbortedError,
  NvmeAbortReason,
  NvmeQueueFullError,
  NvmeCommandInfo,
  NvmeStatus,
  decodeStatus,
  statusName,
  opcodeName,
  SCT_GENERIC,
  SCT_COMMAND_SPECIFIC,
  SCT_MEDIA,
  SCT_PATH,
} from './errors';
export {
  IdentifyController,
  IdentifyNamespace,
  LbaFormat,
  NvmeOptionalCommands,
  decodeIdentifyController,
  decodeIdentifyNamespace,
  decodeNamespaceList,
  IDENTIFY_BYTES,
} from './identify';
export { NvmeCap, decodeCap, decodeVersion } from './registers';
export { buildPrps, prpListPages } from './prp';
