// The API reference (`npm run docs`, output in build/api/) and its validation, which
// `npm run docs:check` (part of `npm test`) runs: every export of the four entry points
// (`vfio`, `vfio/vm`, `vfio/nvme`, `vfio/user`) documented, every {@link} resolved, every referenced type
// exported. Any warning is an error, so a public member without a doc comment fails the check.
'use strict';

/** @type {Partial<import('typedoc').TypeDocOptions>} */
module.exports = {
  entryPoints: ['lib/index.ts', 'lib/vm/index.ts', 'lib/nvme/index.ts', 'lib/user/index.ts'],
  tsconfig: 'tsconfig.build.json',
  out: 'build/api',
  name: 'vfio',
  readme: 'README.md',
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  excludeExternals: true,
  disableSources: true,
  validation: { notExported: true, invalidLink: true, notDocumented: true },
  requiredToBeDocumented: [
    'Enum',
    'EnumMember',
    'Variable',
    'Function',
    'Class',
    'Interface',
    'Property',
    'Method',
    'Accessor',
    'TypeAlias',
    'Namespace',
    'Module',
  ],
  treatWarningsAsErrors: true,
};
