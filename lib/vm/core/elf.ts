// Just enough ELF64 reading for the emulated host's own needs: the shared libraries a program
// names (DT_NEEDED, for the loader closure of the provisioned QEMU) and a kernel module's
// .modinfo strings (its dependencies), so neither readelf nor modinfo is a host requirement.
import * as fs from 'fs';

const SHT_DYNAMIC = 6;
const DT_NULL = 0;
const DT_NEEDED = 1;

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
}

/** The section headers of a little-endian ELF64 image (throws on anything else). */
export function elfSections(elf: Buffer): Section[] {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error('not a little-endian 64-bit ELF file');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  if (shoff + shnum * shentsize > elf.length) throw new Error('truncated ELF file (section headers)');
  const raw = Array.from({ length: shnum }, (_, i) => {
    const h = elf.subarray(shoff + i * shentsize);
    return {
      nameOff: h.readUInt32LE(0),
      type: h.readUInt32LE(4),
      offset: Number(h.readBigUInt64LE(0x18)),
      size: Number(h.readBigUInt64LE(0x20)),
      link: h.readUInt32LE(0x28),
    };
  });
  const names = raw[shstrndx];
  return raw.map((s) => ({ ...s, name: names ? cString(elf, names.offset + s.nameOff) : '' }));
}

function cString(buf: Buffer, at: number): string {
  const end = buf.indexOf(0, at);
  return buf.toString('latin1', at, end < 0 ? buf.length : end);
}

/** The DT_NEEDED sonames of a program or library, in order; [] for a static binary. */
export function elfNeeded(file: string): string[] {
  const elf = fs.readFileSync(file);
  const sections = elfSections(elf);
  const dynamic = sections.find((s) => s.type === SHT_DYNAMIC);
  if (!dynamic) return [];
  const strtab = sections[dynamic.link];
  const out: string[] = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = Number(elf.readBigInt64LE(at));
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) out.push(cString(elf, strtab.offset + Number(elf.readBigUInt64LE(at + 8))));
  }
  return out;
}

/** The "key=value" strings of a kernel module's .modinfo section (plain .ko bytes). */
export function modinfo(ko: Buffer): Array<[string, string]> {
  const section = elfSections(ko).find((s) => s.name === '.modinfo');
  if (!section) return [];
  return ko.toString('latin1', section.offset, section.offset + section.size).split('\0')
    .filter((s) => s.includes('='))
    .map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]);
}
