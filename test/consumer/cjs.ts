// A consumer's strict TypeScript, CommonJS flavour: compiled by scripts/check-consumer.js inside a
// fresh project that installed the packed tarball. Every `@ts-expect-error` line must fail to
// compile (tsc reports an unused directive otherwise).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS form a consumer writes
import vfio = require('vfio');
import { Device, Irq, ResetKind, VfioError, VfioErrorCode } from 'vfio';
import type { RunOptions } from 'vfio/vm';
import type { NvmeControllerOptions } from 'vfio/nvme';

declare const dev: Device;
declare const irq: Irq;

const command: number = vfio.PCI_COMMAND;
const version: number = vfio.abi.VFIO_API_VERSION;
const run: Partial<RunOptions> = { memory: '2G' };
const nvme: NvmeControllerOptions = { ioQueues: 2 };
void [command, version, run, nvme];

irq.on('interrupt', (count, vector) => {
  const sum: number = count + vector;
  void sum;
});
irq.on('error', (e) => {
  const code: VfioErrorCode = e.code;
  const err: VfioError = e;
  void [code, err];
});
dev.on('reset', (kind) => {
  const k: ResetKind = kind;
  void k;
});

// @ts-expect-error a misspelled event name
irq.on('interupt', () => {});
// @ts-expect-error a listener with the wrong signature
irq.on('interrupt', (count: string) => {
  void count;
});
// @ts-expect-error a misspelled event name
dev.once('release_request', () => {});
// @ts-expect-error a listener with the wrong signature
dev.on('reset', (kind: number) => {
  void kind;
});
// @ts-expect-error an internal member is not in the published types
dev.fd('Device.fd');
