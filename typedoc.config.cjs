// The API reference (`npm run docs`, output in build/api/) and its validation, which
// `npm run docs:check` (part of `npm test`) runs: every export documented, every {@link}
// resolved, every referenced type exported. api/undocumented.txt lists the members still
// without documentation when the check was introduced; typedoc warns (an error here) when one of
// them gains documentation, so the list only shrinks.
'use strict';
const fs = require('fs');
const path = require('path');

const debt = fs
  .readFileSync(path.join(__dirname, 'api', 'undocumented.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** @type {Partial<import('typedoc').TypeDocOptions>} */
module.exports = {
  entryPoints: ['lib/index.ts', 'lib/vm/index.ts'],
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
  intentionallyNotDocumented: debt,
  treatWarningsAsErrors: true,
};
