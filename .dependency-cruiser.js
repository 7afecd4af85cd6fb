// The layers of lib/ and what each may import, checked by `npm run depcheck` (run by npm test).
// docs/architecture.md draws the same picture. A folder imports only folders listed for it
// (its own files always); nothing imports in a cycle, type-only imports included.
/** lib/<folder> -> the lib/ folders it may import. Order: bottom to top. */
const LAYERS = {
  abi: [],
  errors: [],
  // Typed events for the emitters (Irq, Device): a typed face over Node's EventEmitter.
  events: [],
  // addon: a load failure is a VfioError (the package's one error type) saying how to build the addon.
  addon: ['errors'],
  decode: ['abi', 'errors'],
  system: [],
  // Plain-text layout (tables) shared by both command lines.
  text: [],
  memory: ['addon', 'errors'],
  dma: ['abi', 'addon', 'decode', 'errors', 'memory', 'system'],
  iommu: ['abi', 'addon', 'decode', 'dma', 'errors', 'system'],
  features: ['abi', 'addon', 'decode', 'dma', 'errors'],
  cookie: ['abi', 'addon', 'decode', 'dma', 'errors', 'memory', 'system'],
  irq: ['abi', 'addon', 'decode', 'errors', 'events'],
  // The host's readiness checks (vfio doctor): sysfs, /proc and /dev read through injectable roots.
  doctor: ['decode', 'errors', 'system'],
  device: [
    'abi',
    'addon',
    'cookie',
    'decode',
    'dma',
    'doctor',
    'errors',
    'events',
    'features',
    'iommu',
    'irq',
    'memory',
    'system',
  ],
  // vfio/user: device models served over vfio-user (sockets from the addon, VFIO constants from abi).
  user: ['abi', 'addon', 'errors'],
  // Drivers sit above the package face: they use the public API only (DRIVER_FOLDERS below).
  nvme: [],
  cli: [
    'abi',
    'addon',
    'cookie',
    'decode',
    'device',
    'doctor',
    'errors',
    'features',
    'iommu',
    'nvme',
    'system',
    'text',
  ],
  // The emulated-host harness is its own program: it needs the package root, and vfio/user to
  // serve a device model (--model).
  vm: ['addon', 'text', 'user'],
};

/** Folders of drivers built on the package face (lib/index.ts), like a user's own driver. */
const DRIVER_FOLDERS = ['nvme'];

const folderRules = Object.entries(LAYERS).map(([folder, allowed]) => ({
  name: `layer-${folder}`,
  comment: `lib/${folder}/ may import only ${allowed.length ? allowed.map((f) => `lib/${f}/`).join(', ') : 'nothing else in lib/'}`,
  severity: 'error',
  from: { path: `^lib/${folder}/` },
  to: {
    path: '^lib/',
    pathNot: [
      `^lib/${folder}/`,
      ...allowed.map((f) => `^lib/${f}/`),
      ...(DRIVER_FOLDERS.includes(folder) ? ['^lib/index\\.ts$'] : []),
    ],
  },
}));

/**
 * Inside the harness, bottom to top: core (errors, processes, the cache), archive (Debian
 * packages: userland, build tools), kernel (Debian and custom kernels, modules), qemu (the
 * machine: accelerator, devices, back ends), guest (what runs inside it); the files at lib/vm/
 * (provision, run, options, the sample driver, index) use them all, and cli/ sits on top.
 */
const VM_LAYERS = {
  core: [],
  archive: ['core'],
  kernel: ['core', 'archive'],
  qemu: ['core', 'archive'],
  guest: ['core', 'kernel', 'qemu'],
};

const vmRules = [
  ...Object.entries(VM_LAYERS).map(([folder, allowed]) => ({
    name: `vm-layer-${folder}`,
    comment: `lib/vm/${folder}/ may import only ${allowed.length ? allowed.map((f) => `lib/vm/${f}/`).join(', ') : 'lib/addon/ and lib/text/'}`,
    severity: 'error',
    from: { path: `^lib/vm/${folder}/` },
    to: { path: '^lib/vm/', pathNot: [`^lib/vm/${folder}/`, ...allowed.map((f) => `^lib/vm/${f}/`)] },
  })),
  {
    name: 'vm-cli-on-top',
    comment: 'nothing in the harness imports its command line',
    severity: 'error',
    from: { path: '^lib/vm/', pathNot: '^lib/vm/cli/' },
    to: { path: '^lib/vm/cli/' },
  },
];

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
    ...vmRules,
    {
      name: 'lib-index-is-the-top',
      comment: 'lib/index.ts is the package face: nothing inside lib/ imports it but the drivers built on it',
      severity: 'error',
      from: { path: '^lib/', pathNot: DRIVER_FOLDERS.map((f) => `^lib/${f}/`) },
      to: { path: '^lib/index\\.ts$' },
    },
    {
      name: 'package-face-not-cli-or-vm',
      comment: 'the package face exports the library, not the command line or the harness',
      severity: 'error',
      from: { path: '^lib/index\\.ts$' },
      to: { path: `^lib/(cli|vm|${DRIVER_FOLDERS.join('|')})/` },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'every import resolves (test/types and test/consumer import the package by name, as a consumer: ' +
        'scripts/check-api.js maps it, scripts/check-consumer.js installs it)',
      severity: 'error',
      from: { pathNot: '^test/(types|consumer)/' },
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
