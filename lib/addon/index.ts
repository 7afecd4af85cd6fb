// The native layer: loading the addon, its typed contract (one function per ioctl or syscall),
// the call frame that carries arguments to it, and the buffer that info queries grow into.
export * from './native';
export { packageRoot } from './paths';
export { InfoBuffer } from './info-buffer';
