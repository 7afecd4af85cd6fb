// The VF token (SR-IOV with vfio-pci): a PF bound to vfio-pci shares a secret UUID with its VFs'
// users. The PF's user sets it (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN); a VF then opens only with the
// same token — through the group as "BDF vf_token=UUID" (VFIO_GROUP_GET_DEVICE_FD), through the
// cdev with VFIO_DEVICE_BIND_FLAG_TOKEN — and the PF too while VFs are in use. The kernel refuses
// a missing or wrong token with EACCES, a token where none applies with EINVAL; the hints here
// say which token is needed and where it is set.
import * as fs from 'fs';
import * as path from 'path';
import { encodeVfToken } from '../decode/features';
import { invalidArgument } from '../errors';
import { DeviceTarget } from './context';

/** The basename of a link under the device's sysfs directory, or undefined. */
function linkName(t: DeviceTarget, link: string): string | undefined {
  try {
    return path.basename(fs.readlinkSync(path.join(t.sysfsPath, link)));
  } catch {
    return undefined;
  }
}

/** The token's 16 bytes, or undefined without one; an InvalidArgumentError for a non-UUID. */
export function vfTokenBytes(name: string, token: string | undefined): Uint8Array | undefined {
  if (token === undefined) return undefined;
  try {
    return encodeVfToken(token);
  } catch (e) {
    throw invalidArgument('Device.open', `vfToken: ${(e as Error).message}`, { device: name, cause: e });
  }
}

/** The device name VFIO_GROUP_GET_DEVICE_FD takes: "BDF" or "BDF vf_token=UUID". */
export function groupDeviceName(name: string, token: string | undefined): string {
  return token === undefined ? name : `${name} vf_token=${token.toLowerCase()}`;
}

const SET_IT =
  "the PF's user sets it with dev.feature('PCI_VF_TOKEN').setToken(UUID) (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN) on the open PF";

/**
 * A hint for an open the kernel refused, when the VF token explains it: EACCES (no token, or
 * another one than the PF's) and EINVAL with a token given (no token applies). Undefined when the
 * token has nothing to do with it.
 */
export function vfTokenHint(t: DeviceTarget, code: string, token: string | undefined): string | undefined {
  const pf = t.bus === 'pci' ? linkName(t, 'physfn') : undefined;
  if (code === 'EACCES') {
    if (pf !== undefined) {
      return token === undefined
        ? `${t.name} is a VF of ${pf}, which is bound to vfio-pci: open it with the PF's VF token, ` +
            `Device.open('${t.name}', { vfToken: UUID }); ${SET_IT} (${pf})`
        : `the VF token given is not the one set on ${t.name}'s PF ${pf}: ${SET_IT}, and the VF opens with that UUID`;
    }
    return token === undefined
      ? `${t.name} is an SR-IOV PF whose VFs are in use through VFIO: opening it needs their VF token, ` +
          `Device.open('${t.name}', { vfToken: UUID }), the UUID set with dev.feature('PCI_VF_TOKEN').setToken(UUID)`
      : `the VF token given is not the one ${t.name}'s VFs use (set with dev.feature('PCI_VF_TOKEN').setToken(UUID))`;
  }
  if (code === 'EINVAL' && token !== undefined) {
    return pf !== undefined
      ? `a VF token was given, but ${t.name}'s PF ${pf} is bound to ${linkName(t, 'physfn/driver') ?? 'no driver'}, not vfio-pci: open it without vfToken`
      : `a VF token was given, but ${t.name} is neither a VF of a PF bound to vfio-pci nor such a PF: open it without vfToken`;
  }
  return undefined;
}
