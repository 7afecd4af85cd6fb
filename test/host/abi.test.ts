// native/abi against the kernel's own headers: test/tools/abi_check.cc static_asserts every
// mirrored constant, struct size, alignment, field offset and field size, so compiling it is the
// whole check. Also: the headers compile as C11 (the guest-side probe includes them from C).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { packageRoot } from '../../lib/addon/paths';
import { NO_UAPI_HEADERS, uapiInclude, uapiProvisioner } from './uapi-headers';
import { must } from '../support/must';

const root = packageRoot();

function compile(compiler: string, args: string[]) {
  const r = spawnSync(compiler, args, { cwd: root, encoding: 'utf8' });
  if (r.error) throw new Error(`${compiler}: ${r.error.message} (install it: apt-get install gcc g++)`);
  return { status: r.status, stderr: r.stderr };
}

const provision = uapiProvisioner();
if (!provision) console.warn(`\n${'!'.repeat(72)}\n${NO_UAPI_HEADERS}\n${'!'.repeat(72)}\n`);

describe('native/abi matches the kernel uapi', () => {
  (provision ? it : it.skip)(
    'abi_check.cc compiles against the provisioned linux/vfio.h and linux/iommufd.h',
    async () => {
      const include = await uapiInclude(must(provision, 'provision'));
      const r = compile('g++', [
        '-std=c++17',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-fsyntax-only',
        '-I',
        'native',
        '-I',
        include,
        'test/tools/abi_check.cc',
      ]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
    600_000,
  );
});

describe('native/abi is valid C', () => {
  it('both headers compile as C11 with -Wall -Wextra -Werror and give the 64-bit layout', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-abi-c-'));
    try {
      const src = path.join(dir, 'abi.c');
      fs.writeFileSync(
        src,
        [
          '#include "abi/vfio_abi.h"',
          '#include "abi/iommufd_abi.h"',
          '_Static_assert(sizeof(struct vfio_region_info) == 32, "region info");',
          '_Static_assert(sizeof(struct iommu_ioas_map) == 40, "ioas map");',
          'int main(void) { return (int)VFIO_TYPE1v2_IOMMU - 3; }',
          '',
        ].join('\n'),
      );
      const exe = path.join(dir, 'abi');
      const r = compile('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I', 'native', src, '-o', exe]);
      expect(r.stderr).toBe('');
      expect(spawnSync(exe).status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
