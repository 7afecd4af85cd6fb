// `vfio-vm run --model FILE`: loads a device model and serves it over vfio-user for the run's
// guest, from this process (the server answers on the event loop while QEMU runs).
import * as path from 'path';
import { VfioUserServer, type DeviceModel } from '../user';
import { VmError } from './core/errors';
import { GuestDevice } from './qemu/devices';
import { modelDevice } from './qemu/model-device';

export interface ServedModel {
  device: GuestDevice;
  /** The server, when this run serves the model itself. */
  server?: VfioUserServer;
  close(): void;
}

function isModel(v: unknown): v is DeviceModel {
  const m = v as DeviceModel | undefined;
  return typeof m === 'object' && m !== null && typeof m.create === 'function' && typeof m.description === 'object';
}

/** The model a module exports: its default export, or an export named `model`. */
export function loadModel(file: string, cwd: string): DeviceModel {
  const abs = path.resolve(cwd, file);
  let mod: { default?: unknown; model?: unknown };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(abs);
  } catch (e) {
    throw new VmError('options', `--model ${file}: cannot load ${abs} (${(e as Error).message.split('\n')[0]})`);
  }
  const m = isModel(mod.default) ? mod.default : isModel(mod.model) ? mod.model : undefined;
  if (!m) {
    throw new VmError('options', `--model ${file}: the module exports no device model (a default or \`model\` export with description and create; see docs/device-models.md)`);
  }
  return m;
}

/** Starts serving the model on a socket in the run's work directory. */
export function serveModel(file: string, cwd: string, workDir: string, log: (line: string) => void): ServedModel {
  const model = loadModel(file, cwd);
  const socket = path.join(workDir, 'model.sock');
  let server: VfioUserServer;
  try {
    server = VfioUserServer.listen(socket, model);
  } catch (e) {
    throw new VmError('options', `--model ${file}: ${(e as Error).message}`);
  }
  server.on('protocolError', (why) => log(`model: ${why}`));
  server.on('disconnect', (errno) => log(`model: the client went away${errno ? ` (errno ${-errno})` : ''}`));
  return { device: modelDevice(socket), server, close: () => server.close() };
}

/**
 * A model the caller serves (`RunOptions.modelSocket`): the guest's device connects to that
 * socket, and the server's lifetime stays the caller's.
 */
export function externalModel(socket: string, cwd: string): ServedModel {
  return { device: modelDevice(path.resolve(cwd, socket)), close: () => undefined };
}
