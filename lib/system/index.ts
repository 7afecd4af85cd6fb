// What the running system says about PCI devices (sysfs), and the hints that name a fix for
// the host setup (binding, IOMMU groups, permissions, memlock).
export * from './sysfs';
export * from './hints';
