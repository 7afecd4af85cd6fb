/**
 * `vfio/nvme`: an NVMe driver on the vfio package's public API (docs/nvme.md): bring up a
 * controller behind vfio-pci, identify it, create I/O queue pairs and read and write blocks.
 * Every error is a `VfioError`; a command the controller fails is an {@link NvmeError}.
 *
 * @module vfio/nvme
 */
export { NvmeController, NvmeControllerOptions, IoOptions, LbaRange, ReadOptions, WriteOptions } from './controller';
export { NvmeOpenOptions, CreateQueueOptions } from './core';
export { NvmeQueue } from './queue';
export { NvmeCommand } from './command';
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
export { blockPrps, buildPrps, prpListPages, Prps } from './prp';
