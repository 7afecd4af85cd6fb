// An open VFIO device: target resolution, regions, config space and reset.
export * from './device';
export * from './target';
export * from './region';
export * from './config-space';
export * from './reset';
