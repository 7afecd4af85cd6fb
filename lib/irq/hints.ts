// What to do when enabling interrupts fails: text for VfioError.hint (see lib/system/hints.ts).

export function vectorRangeHint(name: string, count: number): string {
  return `dev.irqs lists each interrupt type with its vector count; ${name} vectors are 0 to ${count - 1}`;
}

export function vectorConflictHint(name: string): string {
  return `each vector belongs to one Irq: use the Irq that has it, or disable it first (irq.remove(v) or dev.irq('${name}').disable())`;
}

/** For an errno from VFIO_DEVICE_SET_IRQS while attaching, triggering, masking or disabling. */
export function setIrqsHint(code: string, name: string, what: string): string | undefined {
  switch (code) {
    case 'EINVAL':
      if (what === 'attach') {
        return (
          `the kernel refused the vector range: ${name} may be off-limits while another interrupt type is on ` +
          `(vfio-pci runs one of INTx, MSI and MSI-X), or the vector is beyond what the kernel allocated`
        );
      }
      if (what === 'mask' || what === 'unmask') return `${name} can be masked only while it is enabled`;
      return undefined;
    case 'ENOTTY':
      return `the kernel does not implement this action for ${name} (vfio-pci masks only INTx, and ERR exists only on PCIe devices)`;
    case 'ENODEV':
      return `the device has no interrupt line routed (no INTx pin or no IRQ assigned): use MSI or MSI-X`;
    case 'ENOSPC':
      return `the system ran out of interrupt vectors: enable fewer vectors or free some elsewhere`;
    case 'EBUSY':
      return `the interrupt line is shared with another device that does not support masking (DisINTx): use MSI or MSI-X`;
    default:
      return undefined;
  }
}
