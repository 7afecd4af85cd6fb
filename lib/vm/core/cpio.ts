// A writer for the "newc" cpio format the kernel unpacks as its initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Written here rather than with
// the cpio tool so device nodes (/dev/console) can be added without root or mknod.

export interface CpioEntry {
  path: string;            // relative, no leading slash
  mode: number;            // type bits included (S_IFREG | 0o755, …)
  data?: Buffer;           // file contents, or the target of a symlink
  rdevMajor?: number;
  rdevMinor?: number;
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

const pad4 = (n: number) => (4 - (n % 4)) % 4;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

function header(e: CpioEntry, ino: number, size: number, nameSize: number): string {
  return '070701' + [
    ino, e.mode, 0 /* uid */, 0 /* gid */, (e.mode & 0o170000) === S_IFDIR ? 2 : 1 /* nlink */, 0 /* mtime */,
    size, 0, 0 /* dev major/minor */, e.rdevMajor ?? 0, e.rdevMinor ?? 0, nameSize, 0 /* check */,
  ].map(hex8).join('');
}

function record(e: CpioEntry, ino: number): Buffer[] {
  const name = Buffer.from(e.path + '\0');
  const data = e.data ?? Buffer.alloc(0);
  const head = Buffer.from(header(e, ino, data.length, name.length), 'latin1');
  // The name is padded so that header+name ends on 4 bytes; then the data likewise.
  return [head, name, Buffer.alloc(pad4(head.length + name.length)), data, Buffer.alloc(pad4(data.length))];
}

/** The whole archive: the entries in order, then the trailer. */
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => parts.push(...record(e, i + 1)));
  parts.push(...record({ path: 'TRAILER!!!', mode: 0 }, 0));
  return Buffer.concat(parts);
}
