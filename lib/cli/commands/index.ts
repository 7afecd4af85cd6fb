// The `vfio` subcommands: each gathers data and formats it; cli/program.ts wires them up.
export * from './bind';
export * from './cookies';
export * from './features';
export * from './info';
export * from './info-format';
export * from './list';
export * from './peek';
export * from './nvme';
