// Memory the process maps: width-exact access over a mapping, and BAR mappings of a region.
export * from './width-exact';
export * from './mapping';
export * from './poll';
export * from './ordering';
