// Host-side files of one run, and the few that outlive it:
//   <tmp>/vfio-vm-XXXXXX/          per run, removed afterwards
//     share/                       the work share (9p tag vmwork): spec in, status out
//     console.sock stdout.sock stderr.sock
//     qmp.sock requests.sock       QEMU's monitor (QMP) and the guest's request port
//   /dev/shm/vfio-vm-XXXXXX/ivshmem  ivshmem backing file (its dir is shared read-only)
//   <cache>/nvme.img               the NVMe disk image (runs use it with snapshot=on)
//   <cache>/logs/console-*.log     kernel console of the last runs, for diagnosis
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface WorkDir {
  dir: string;
  share: string;
  sockets: { console: string; stdout: string; stderr: string; qmp: string; requests: string };
  /** Directory of the ivshmem backing file (shared read-only into the guest). */
  ivshmemDir: string;
  ivshmemFile: string;
}

/** Where the ivshmem file lives: /dev/shm (memory, like a real shared-memory device) if usable. */
function shmBase(fallback: string): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return fallback;
  }
}

export function createWorkDir(): WorkDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-vm-'));
  const share = path.join(dir, 'share');
  fs.mkdirSync(share);
  const ivshmemDir = fs.mkdtempSync(path.join(shmBase(dir), 'vfio-vm-'));
  return {
    dir,
    share,
    sockets: {
      console: path.join(dir, 'console.sock'),
      stdout: path.join(dir, 'stdout.sock'),
      stderr: path.join(dir, 'stderr.sock'),
      qmp: path.join(dir, 'qmp.sock'),
      requests: path.join(dir, 'requests.sock'),
    },
    ivshmemDir,
    ivshmemFile: path.join(ivshmemDir, 'ivshmem'),
  };
}

export function removeWorkDir(w: WorkDir, keepIvshmem: boolean): void {
  fs.rmSync(w.dir, { recursive: true, force: true });
  if (!keepIvshmem) fs.rmSync(w.ivshmemDir, { recursive: true, force: true });
}

const NVME_IMAGE_BYTES = 16 << 20;

/** The sparse NVMe image in the cache, created on first use. */
export function nvmeImage(cacheDir: string): string {
  const file = path.join(cacheDir, 'nvme.img');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, '');
    fs.truncateSync(tmp, NVME_IMAGE_BYTES);
    fs.renameSync(tmp, file);
  }
  return file;
}

const KEPT_LOGS = 20;

/** A fresh console log path in the cache; older logs beyond the last few are pruned. */
export function consoleLogPath(cacheDir: string): string {
  const dir = path.join(cacheDir, 'logs');
  fs.mkdirSync(dir, { recursive: true });
  const old = fs.readdirSync(dir).filter((f) => f.startsWith('console-')).sort();
  for (const f of old.slice(0, Math.max(0, old.length - KEPT_LOGS + 1))) fs.rmSync(path.join(dir, f), { force: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return path.join(dir, `console-${stamp}-${process.pid}.log`);
}
