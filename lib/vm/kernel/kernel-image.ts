// Kernel image files: the x86 bzImage header (release string, compressed vmlinux payload) and
// the ELF vmlinux (PVH entry note).
// Booting the uncompressed ELF vmlinux (through its PVH entry) skips the in-guest
// decompression, which is slow under TCG.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { VmError } from '../core/errors';
import type { DecompressTools } from './modules';
import { runTool } from '../archive/userland-tools';

// Offsets in the x86 boot protocol header (Documentation/arch/x86/boot.rst).
const SETUP_SECTS = 0x1f1;
const HEADER_MAGIC = 0x202; // "HdrS"
const KERNEL_VERSION_PTR = 0x20e;
const PAYLOAD_OFFSET = 0x248;
const PAYLOAD_LENGTH = 0x24c;

export function isBzImage(head: Buffer): boolean {
  return head.length > PAYLOAD_LENGTH + 4 && head.toString('latin1', HEADER_MAGIC, HEADER_MAGIC + 4) === 'HdrS';
}

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46;
}

/** The release string from a bzImage header ("7.3.4+deb13-amd64 (…) #1 SMP …" → first word). */
export function bzImageRelease(image: Buffer): string | undefined {
  if (!isBzImage(image)) return undefined;
  const at = 0x200 + image.readUInt16LE(KERNEL_VERSION_PTR);
  const end = image.indexOf(0, at);
  return image.toString('latin1', at, end > at ? end : at + 64).split(' ')[0] || undefined;
}

type Codec = 'zstd' | 'xz' | 'gzip';

function payloadCodec(p: Buffer): Codec | undefined {
  if (p.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  if (p.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (p[0] === 0x1f && p[1] === 0x8b) return 'gzip';
  return undefined;
}

/** The compressed payload of a bzImage and how it is compressed. */
export function bzImagePayload(image: Buffer): { codec: Codec; data: Buffer; size?: number } {
  const setupSize = ((image[SETUP_SECTS] || 4) + 1) * 512;
  const start = setupSize + image.readUInt32LE(PAYLOAD_OFFSET);
  const data = image.subarray(start, start + image.readUInt32LE(PAYLOAD_LENGTH));
  const codec = payloadCodec(data);
  if (!codec) throw new VmError('kernel-path', 'bzImage payload has an unsupported compression');
  // The kernel build appends the uncompressed size (le32) to zstd and xz payloads; the
  // decompressors reject it as trailing garbage, so it is cut off and used as a check.
  if (codec === 'gzip') return { codec, data };
  return { codec, data: data.subarray(0, data.length - 4), size: data.readUInt32LE(data.length - 4) };
}

/** Writes the ELF vmlinux inside `bzImagePath` to `dest` (via a temp file, then renamed). */
export async function extractVmlinux(bzImagePath: string, dest: string, tools: DecompressTools): Promise<void> {
  const { codec, data, size } = bzImagePayload(fs.readFileSync(bzImagePath));
  const tmp = `${dest}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    if (codec === 'gzip') fs.writeSync(fd, zlib.gunzipSync(data));
    else {
      const [tool, args] = codec === 'zstd' ? [tools.zstd, ['-dc', '--long=31']] : [tools.xz, ['-dc']];
      await runTool(tool, args, { input: data, stdoutFd: fd, kind: 'kernel-path' });
    }
  } finally {
    fs.closeSync(fd);
  }
  const written = fs.statSync(tmp).size;
  const head = Buffer.alloc(4);
  const hfd = fs.openSync(tmp, 'r');
  fs.readSync(hfd, head, 0, 4, 0);
  fs.closeSync(hfd);
  if (!isElf(head) || (size !== undefined && size !== written)) {
    fs.rmSync(tmp, { force: true });
    throw new VmError('kernel-path', `${bzImagePath}: payload did not decompress to an ELF vmlinux`);
  }
  fs.renameSync(tmp, dest);
}

const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/**
 * Whether an ELF vmlinux has a PVH entry point (a "Xen" note of type PHYS32_ENTRY): only then
 * can QEMU boot it directly. Without CONFIG_PVH the bzImage has to be booted instead.
 */
export function hasPvhEntry(vmlinuxPath: string): boolean {
  const fd = fs.openSync(vmlinuxPath, 'r');
  try {
    const eh = Buffer.alloc(64);
    fs.readSync(fd, eh, 0, 64, 0);
    if (!isElf(eh) || eh[4] !== 2 /* ELFCLASS64 */) return false;
    const phoff = Number(eh.readBigUInt64LE(0x20));
    const phentsize = eh.readUInt16LE(0x36);
    const phnum = eh.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    fs.readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const p = ph.subarray(i * phentsize);
      if (p.readUInt32LE(0) !== PT_NOTE) continue;
      const notes = Buffer.alloc(Number(p.readBigUInt64LE(0x20)));
      fs.readSync(fd, notes, 0, notes.length, Number(p.readBigUInt64LE(0x08)));
      if (hasXenNote(notes, XEN_ELFNOTE_PHYS32_ENTRY)) return true;
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

function hasXenNote(notes: Buffer, type: number): boolean {
  const align4 = (n: number) => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.length;) {
    const namesz = notes.readUInt32LE(at);
    const descsz = notes.readUInt32LE(at + 4);
    const ntype = notes.readUInt32LE(at + 8);
    const name = notes.toString('latin1', at + 12, at + 12 + namesz).replace(/\0+$/, '');
    if (name === 'Xen' && ntype === type) return true;
    at += 12 + align4(namesz) + align4(descsz);
  }
  return false;
}

/** The release in an ELF vmlinux ("Linux version X ..."), for kernels given without modules. */
export function vmlinuxRelease(vmlinuxPath: string): string | undefined {
  const m = /Linux version (\S+) \(/.exec(fs.readFileSync(vmlinuxPath).toString('latin1'));
  return m?.[1];
}
