// `vfio features BDF`: what each VFIO_DEVICE_FEATURE number answers on this device — PROBE alone,
// PROBE|GET and PROBE|SET — so a user sees which features the driver offers and, from the errno
// of the others, whether the kernel knows the number at all.
import type { Device } from '../../device/device';
import type { FeatureInfo } from '../../features/table';
import { Colors, table } from '../format';

/** Numbers probed by --all beyond the table: everything a 7.x kernel could plausibly know. */
export const ALL_FEATURE_INDICES = Array.from({ length: 32 }, (_, i) => i);

export function gatherFeatures(dev: Device, all: boolean): FeatureInfo[] {
  return dev.features(all ? { extraIndices: ALL_FEATURE_INDICES } : {});
}

/** A supported feature, as `info` lists it. */
export interface FeatureData {
  readonly name: string;
  readonly index: number;
  readonly get: boolean;
  readonly set: boolean;
}

/** The supported features, as `info` lists them. */
export function supportedFeatures(dev: Device): FeatureData[] {
  return dev
    .features()
    .filter((f) => f.supported)
    .map((f) => ({ name: f.name, index: f.index, get: f.get, set: f.set }));
}

function offers(f: FeatureInfo): string {
  if (!f.supported) return '-';
  return [f.get && 'get', f.set && 'set'].filter(Boolean).join('/') || 'probe only';
}

export function formatFeatureList(bdf: string, list: readonly FeatureInfo[], c: Colors): string {
  const rows = list.map((f) => [
    f.index,
    f.name,
    f.supported ? c.green(offers(f)) : c.dim('-'),
    f.answers.probe,
    f.answers.get,
    f.answers.set,
  ]);
  const supported = list.filter((f) => f.supported).map((f) => f.name);
  return (
    `${c.bold(bdf)} VFIO_DEVICE_FEATURE probes\n` +
    table(['INDEX', 'NAME', 'OFFERS', 'PROBE', '+GET', '+SET'], rows, c, '  ') +
    '\n' +
    `supported: ${supported.length ? supported.join(', ') : 'none'}\n` +
    c.dim('OK: offered; EINVAL: known but not with that operation; ENOTTY: unknown to this driver or kernel\n')
  );
}
