// Checks a device description before a server is built from it: what the config space and the
// region and interrupt info promise must be something a PCI device can be.
import { invalidArgument } from '../errors';
import type { DeviceDescription } from './model';

const OP = 'vfio-user device description';

function u(v: unknown, bits: number): boolean {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** bits;
}

const pow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

export function validateDescription(d: DeviceDescription): void {
  const bad = (msg: string): never => {
    throw invalidArgument(OP, msg, { hint: 'see docs/device-models.md for the fields a description takes' });
  };
  if (typeof d !== 'object' || d === null) bad('the model has no description');
  if (!u(d.vendorId, 16) || !u(d.deviceId, 16)) bad('vendorId and deviceId must be 16-bit integers');
  if (!u(d.classCode, 24)) bad('classCode must be a 24-bit integer');
  for (const [k, bits] of [
    ['revision', 8],
    ['subsystemVendorId', 16],
    ['subsystemId', 16],
  ] as const) {
    if (d[k] !== undefined && !u(d[k], bits)) bad(`${k} must be a ${bits}-bit integer`);
  }
  if (d.interruptPin !== undefined && !(u(d.interruptPin, 3) && d.interruptPin <= 4)) bad('interruptPin must be 0-4');
  const used = new Set<number>();
  for (const b of d.bars ?? []) {
    if (!u(b.index, 3) || b.index > 5) bad(`BAR index ${b.index} is not 0-5`);
    const slots = b.kind === 'mem64' ? [b.index, b.index + 1] : [b.index];
    if (b.kind === 'mem64' && b.index === 5) bad('a 64-bit BAR cannot start at index 5');
    for (const s of slots) {
      if (used.has(s)) bad(`BAR ${b.index} overlaps another BAR`);
      used.add(s);
    }
    const min = b.kind === 'io' ? 4 : 16;
    const max = b.kind === 'mem64' ? 2 ** 32 : b.kind === 'io' ? 256 : 2 ** 31;
    if (!pow2(b.size) || b.size < min || b.size > max)
      bad(`BAR ${b.index}: size must be a power of two, ${min} to ${max}`);
    if (!['mem32', 'mem64', 'io'].includes(b.kind)) bad(`BAR ${b.index}: kind must be mem32, mem64 or io`);
  }
  const seen = new Set<string>();
  for (const c of d.capabilities ?? []) {
    if (seen.has(c.type)) bad(`capability ${c.type} appears twice`);
    seen.add(c.type);
    if (c.type === 'msi' && ![1, 2, 4, 8, 16, 32].includes(c.vectors)) bad('MSI vectors must be 1, 2, 4, 8, 16 or 32');
    if (c.type === 'msix') {
      if (!Number.isInteger(c.vectors) || c.vectors < 1 || c.vectors > 2048) bad('MSI-X vectors must be 1-2048');
      for (const [bar, off, size] of [
        [c.tableBar, c.tableOffset, 16 * c.vectors],
        [c.pbaBar, c.pbaOffset, 8 * Math.ceil(c.vectors / 64)],
      ]) {
        const desc = (d.bars ?? []).find((b) => b.index === bar && b.kind !== 'io');
        if (!desc || !u(off, 32) || off % 8 !== 0 || off + size > desc.size)
          bad('MSI-X table and PBA must sit 8-byte aligned inside a memory BAR');
      }
    }
    if (!['msi', 'msix', 'pcie'].includes(c.type)) bad(`unknown capability ${(c as { type: string }).type}`);
  }
}
