// The layers of lib/ and what each may import, checked by `npm run depcheck` (run by npm test).
// docs/architecture.md draws the same picture. A folder imports only folders listed for it
// (its own files always); nothing imports in a cycle, type-only imports included.
/** lib/<folder> -> the lib/ folders it may import. Order: bottom to top. */
const LAYERS = {
  abi: [],
  errors: [],
  addon: [],
  decode: ['abi', 'errors'],
  system: [],
  memory: ['addon', 'errors'],
  dma: ['abi', 'addon', 'decode', 'errors', 'memory', 'system'],
  iommu: ['abi', 'addon', 'decode', 'dma', 'errors', 'system'],
  features: ['abi', 'addon', 'decode', 'dma', 'errors'],
  cookie: ['abi', 'addon', 'decode', 'dma', 'errors', 'memory', 'system'],
  irq: ['abi', 'addon', 'decode', 'errors'],
  device: ['abi', 'addon', 'cookie', 'decode', 'dma', 'errors', 'features', 'iommu', 'irq', 'memory', 'system'],
  cli: ['abi', 'addon', 'cookie', 'decode', 'device', 'errors', 'features', 'iommu', 'system'],
  // The emulated-host harness is its own program: it needs the package root and nothing else.
  vm: ['addon'],
};

const folderRules = Object.entries(LAYERS).map(([folder, allowed]) => ({
  name: `layer-${folder}`,
  comment: `lib/${folder}/ may import only ${allowed.length ? allowed.map((f) => `lib/${f}/`).join(', ') : 'nothing else in lib/'}`,
  severity: 'error',
  from: { path: `^lib/${folder}/` },
  to: { path: '^lib/', pathNot: [`^lib/${folder}/`, ...allowed.map((f) => `^lib/${f}/`)] },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'no import cycles, type-only imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...folderRules,
    {
      name: 'lib-index-is-the-top',
      comment: 'lib/index.ts is the package face: nothing inside lib/ imports it',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^lib/index\\.ts$' },
    },
    {
      name: 'package-face-not-cli-or-vm',
      comment: 'the package face exports the library, not the command line or the harness',
      severity: 'error',
      from: { path: '^lib/index\\.ts$' },
      to: { path: '^lib/(cli|vm)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports count: a cycle through types is still a cycle in the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|build)/' },
    moduleSystems: ['cjs', 'es6'],
  },
};
