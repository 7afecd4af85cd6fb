// Interrupts: an enabled set of vectors (Irq), one IRQ index of a device, the SET_IRQS plan
// between two sets of vectors, the async iterator, and the hints for failed calls.
export * from './irq';
export * from './irq-index';
export * from './control';
export * from './iterator';
export * from './plan';
export * from './hints';
