// What the NVMe host tests import: the driver's pure parts through its public face.
export * from '../../lib/nvme';
export interface VfioErrorLike {
  code: string;
  message: string;
  hint?: string;
}
