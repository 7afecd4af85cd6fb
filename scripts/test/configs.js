// The guest configurations of npm test (scripts/test.js): the kernel × IOMMU mode matrix. Each
// configuration is one boot of the emulated host; inside it, one or more passes each run jest
// once with their own environment (modes that need no reboot share the boot). Every pass
// declares what must happen for it to count as green (scripts/test/counts.js): the test files
// that must run, the minimum number of tests that must execute (from a measured run, rounded
// down a little), and the gating variables the harness must have set.
'use strict';
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const resultsDir = path.join(root, '.vm-work', 'test-results');

/**
 * A second NVMe controller for the driver tests (test/guest/nvme*.test.ts), on its own image
 * (made afresh for each run) with its own serial and block size. The tests read the device and
 * drive specs back from VFIO_TEST_NVME and VFIO_TEST_NVME_DRIVE, and the image's size from the
 * file. The kernel's nvme driver is loaded so the tests can hand the controller to it.
 */
const NVME_TEST_IMAGE = path.join(resultsDir, '..', 'nvme-test.img');
const NVME_TEST_IMAGE_BYTES = 64 << 20;
const NVME_TEST = {
  device: 'nvme,serial=vfio-nvme-test,drive=nvmetest,addr=0x0c,logical_block_size=4096,physical_block_size=4096',
  // discard=unmap: a Dataset Management deallocate reaches the image, so the blocks read as zeroes.
  drive: `file=${NVME_TEST_IMAGE},id=nvmetest,format=raw,discard=unmap`,
};
const NVME_TEST_ENV = { VFIO_TEST_NVME: NVME_TEST.device, VFIO_TEST_NVME_DRIVE: NVME_TEST.drive };

/** Every guest test file but the sample driver's (test/guest/*.test.ts; a host test keeps this complete). */
const GUEST_SUITE = [
  'cli',
  'cookie',
  'device',
  'dma',
  'dma-limits',
  'doctor',
  'features',
  'ioeventfd',
  'iommufd',
  'irq',
  'kill-open',
  'leak',
  'mdev',
  'memory-off',
  'mmio-width',
  'more-devices',
  'noiommu',
  'non-root',
  'nvme-fuzz',
  'nvme-kernel',
  'nvme',
  'probe',
  'reset',
  'shared-group',
  'smoke',
  'type1-v1',
].map((f) => `guest/${f}.test`);
const SAMPLE_SUITE = ['guest/sample-driver.test', 'guest/sample-driver-dmabuf.test'];
/**
 * Guest files that take minutes under TCG (10,000 fuzz calls, the open→close cycles, a driver
 * flow failed at each of its 55 syscalls in four ways): only the passes that list them run them
 * (the default configuration's); every other whole-suite pass leaves them out, so the matrix
 * stays inside its time. What they check is the library's, the same on every kernel.
 */
const HEAVY_SUITE = ['guest/fuzz.test', 'guest/cycles.test', 'guest/faults.test'];
/** Files that need a device of their own, each run by its own configuration below. */
const OWN_DEVICE_SUITE = ['guest/sriov.test', 'guest/user-edu.test', 'guest/hot-unplug.test', 'guest/user-faults.test'];
/** What a second IOMMU mode in the same boot re-runs: every file whose tests open devices through the backend and map DMA. */
const DMA_SUITE = ['smoke', 'device', 'dma', 'dma-limits', 'irq', 'reset', 'type1-v1'].map((f) => `guest/${f}.test`);

const escaped = (files) => files.map((f) => f.replace(/[.]/g, '\\.')).join('|');
/** A jest path pattern selecting exactly these files. */
const pattern = (files) => `(${escaped(files)})\\.js$`;
/** A jest path pattern selecting every file but these. */
const patternExcept = (files) => `^(?!.*/(${escaped(files)})\\.js$)`;

/**
 * name, description, kernel (a pinned name of vm/kernels.json, or 'custom'), mode (for the
 * matrix table), vfio-vm run options, env for every pass, passes: [{ name, env, files, all,
 * minTests, requireEnv }] (all: the whole guest suite, else only `files`).
 */
const GUEST_CONFIGS = [
  // Beyond the default devices: an rtl8139 (I/O-port BAR), std VGA (ROM, VGA region), xHCI (MSI-X).
  {
    name: 'default',
    description: 'stock Debian 7.3 (trixie-backports), type1 through the group',
    kernel: '7.3',
    options: {
      devices: ['rtl8139', 'VGA', 'qemu-xhci', NVME_TEST.device],
      drives: [NVME_TEST.drive],
      modules: ['nvme'],
      sharedGroup: true, // test/guest/shared-group.test.ts
    },
    env: NVME_TEST_ENV,
    passes: [
      {
        name: 'type1',
        env: { VFIO_TEST_BACKEND: 'type1' },
        all: true,
        files: [...GUEST_SUITE, ...HEAVY_SUITE],
        minTests: 134,
      },
    ],
  },
  {
    name: 'relaxed',
    description: 'stock 7.3 with iomem=relaxed (sysfs and vfio mappings may coexist): the memory-type tests',
    kernel: '7.3',
    options: { append: 'iomem=relaxed' },
    passes: [
      {
        name: 'type1',
        env: { VFIO_TEST_BACKEND: 'type1' },
        files: ['guest/smoke.test', 'guest/cookie.test'],
        minTests: 10,
      },
    ],
  },
  {
    name: '6.12',
    description: 'stock Debian 13 6.12 (trixie), type1 through the group',
    kernel: '6.12',
    options: {},
    passes: [{ name: 'type1', env: { VFIO_TEST_BACKEND: 'type1' }, all: true, files: GUEST_SUITE, minTests: 97 }],
  },
  {
    name: '6.1',
    description: 'stock Debian 12 6.1 (bookworm), type1 through the group',
    kernel: '6.1',
    options: {},
    passes: [{ name: 'type1', env: { VFIO_TEST_BACKEND: 'type1' }, all: true, files: GUEST_SUITE, minTests: 97 }],
  },
  // The custom kernel (kernel/guest.config) is built on its first use and cached, with progress.
  // mtty: the mdev sample, for the mediated-device tests; a second edu, for two devices sharing
  // one IOMMU context; the NVMe test controller and the kernel's nvme driver, for the driver tests
  // (nvme-kernel.test hands the controller to the kernel's driver and back); an SR-IOV igb
  // (vfio-pci's enable_sriov on), for the VF token through the cdev. One boot, three modes: the cdev runs everything; type1v2 through the group (the whole suite runs
  // on it on every stock kernel) and iommufd's container compatibility re-run the files whose
  // tests open devices through the backend and map DMA.
  {
    name: 'custom',
    description:
      'custom 7.3 kernel: iommufd with the VFIO cdev; type1 through the group (v2, and the v1 tests); iommufd compat (/dev/iommu as the container, both types)',
    kernel: 'custom',
    options: {
      kernel: 'custom',
      modules: ['mtty', 'nvme'],
      devices: ['edu', NVME_TEST.device],
      drives: [NVME_TEST.drive],
      igb: true,
      append: 'vfio_pci.enable_sriov=1',
    },
    env: NVME_TEST_ENV,
    passes: [
      {
        name: 'iommufd',
        env: { VFIO_TEST_BACKEND: 'iommufd' },
        all: true,
        files: [...GUEST_SUITE, 'guest/sriov.test'],
        minTests: 155,
        requireEnv: ['VFIO_VM_IGB'],
      },
      { name: 'type1v2', env: { VFIO_TEST_BACKEND: 'type1' }, files: DMA_SUITE, minTests: 60 },
      { name: 'iommufd-compat', env: { VFIO_TEST_BACKEND: 'iommufd-compat' }, files: DMA_SUITE, minTests: 60 },
    ],
  },
  // Without an IOMMU, edu's DMA sees physical addresses, which pass its default 28-bit mask in a
  // 2 GiB guest only by luck: the second edu there drives 32 bits. noiommu.test covers both
  // paths: the no-IOMMU cdev through iommufd (DMA with IOMMU_IOAS_NOIOMMU_GET_PA) and the group.
  // The NVMe test controller and the kernel's nvme driver, as in the default configuration.
  {
    name: 'noiommu',
    description: 'custom kernel without an IOMMU: no-IOMMU through iommufd (cdev) and through the group (unsafe)',
    kernel: 'custom',
    options: {
      kernel: 'custom',
      noIommu: true,
      devices: ['edu,dma_mask=0xffffffff', NVME_TEST.device],
      drives: [NVME_TEST.drive],
      modules: ['nvme'],
      sharedGroup: true,
    },
    env: NVME_TEST_ENV,
    passes: [{ name: 'noiommu', env: { VFIO_TEST_BACKEND: 'noiommu' }, all: true, files: GUEST_SUITE, minTests: 120 }],
  },
  // ivshmem bound to the sample WC variant driver (kernel/vfio-pci-wc-sample, docs/sample-driver.md)
  // instead of vfio-pci; iomem=relaxed so the sysfs route competes with the driver's.
  {
    name: 'sample',
    description: 'custom kernel, ivshmem bound to the sample write-combining driver',
    kernel: 'custom',
    // ivshmem alone behind a root port: the kernel's bus reset serves VFIO_DEVICE_RESET there.
    options: { kernel: 'custom', sampleDriver: 'ivshmem', append: 'iomem=relaxed', ivshmemRootPort: true },
    passes: [{ name: 'sample', files: SAMPLE_SUITE, minTests: 27, requireEnv: ['VFIO_VM_SAMPLE_DRIVER'] }],
  },
  // An SR-IOV PF (QEMU's igb, 8 VFs) bound to vfio-pci with enable_sriov: VFs, their groups and
  // the VF token through the group (Debian's kernel has no iommufd: the cdev's token test is
  // skipped here and runs in the custom configuration).
  {
    name: 'sriov',
    description: 'stock 7.3, an igb PF on vfio-pci creating VFs: the VF token through the group',
    kernel: '7.3',
    options: { igb: true, append: 'vfio_pci.enable_sriov=1' },
    passes: [
      {
        name: 'type1',
        env: { VFIO_TEST_BACKEND: 'type1' },
        files: ['guest/sriov.test'],
        minTests: 4,
        requireEnv: ['VFIO_VM_IGB'],
      },
    ],
  },
  // Hot unplug (test/guest/hot-unplug.test.ts): the test removes nvme and ivshmem through the
  // run's request port, so it has a boot of its own; ivshmem behind its own root port, where
  // QEMU can unplug it (the root bus has no hotplug).
  {
    name: 'hotplug',
    description:
      "stock 7.3, devices removed while held: device_del through the run's monitor, release-request in the guest",
    kernel: '7.3',
    options: { ivshmemRootPort: true },
    passes: [{ name: 'type1', env: { VFIO_TEST_BACKEND: 'type1' }, files: ['guest/hot-unplug.test'], minTests: 3 }],
  },
  // The edu model of examples/models/edu.ts served over vfio-user (docs/device-models.md), once
  // with guest RAM mapped into the server and once reached by DMA_READ/DMA_WRITE messages. The
  // messages run serves it inside the fault injector (examples/models/faulty-edu.ts: edu as it
  // is until a test switches a fault on), so the reliability tests run there too.
  ...['mapped', 'messages'].map((dma) => ({
    name: `model-${dma}`,
    description:
      dma === 'mapped'
        ? 'stock 7.3, the edu model over vfio-user, DMA through mapped guest RAM'
        : 'stock 7.3, the edu model inside the fault injector over vfio-user, DMA by messages',
    kernel: '7.3',
    options: { model: `dist/examples/models/${dma === 'mapped' ? 'edu' : 'faulty-edu'}.js`, modelDma: dma },
    passes: [
      dma === 'mapped'
        ? {
            name: 'type1',
            env: { VFIO_TEST_BACKEND: 'type1' },
            files: ['guest/user-edu.test'],
            minTests: 5,
            requireEnv: ['VFIO_VM_MODEL'],
          }
        : {
            name: 'type1',
            env: { VFIO_TEST_BACKEND: 'type1', VFIO_TEST_MODEL_FAULTS: '1' },
            files: ['guest/user-edu.test', 'guest/user-faults.test'],
            minTests: 13,
            requireEnv: ['VFIO_VM_MODEL', 'VFIO_TEST_MODEL_FAULTS'],
          },
    ],
  })),
];

/** The run() options of a configuration: its own, with its pinned kernel. */
function runOptions(config) {
  return { ...config.options, kernel: config.kernel };
}

/**
 * The jest arguments a pass adds: its files as a path pattern, or, for a whole-suite pass, a
 * pattern leaving out the heavy files it does not list.
 */
function passPattern(pass) {
  if (!pass.all) return [pattern(pass.files)];
  const left = HEAVY_SUITE.filter((f) => !pass.files.includes(f));
  return left.length ? [patternExcept(left)] : [];
}

module.exports = {
  GUEST_CONFIGS,
  GUEST_SUITE,
  SAMPLE_SUITE,
  HEAVY_SUITE,
  OWN_DEVICE_SUITE,
  DMA_SUITE,
  NVME_TEST,
  NVME_TEST_ENV,
  NVME_TEST_IMAGE,
  NVME_TEST_IMAGE_BYTES,
  resultsDir,
  runOptions,
  passPattern,
  pattern,
  patternExcept,
};
