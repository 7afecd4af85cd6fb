// VFIO_DEVICE_FEATURE: the typed feature calls, the feature number table, and their hints.
export * from './device-features';
export * from './table';
export * from './hints';
