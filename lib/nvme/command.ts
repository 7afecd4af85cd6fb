// The submission queue entry: a command as the driver fills it in, and its 64-byte layout
// (NVM Express Base Specification, "Submission Queue Entry"). Pure: it writes DMA memory only.

/** Stores a device address (a safe integer) as two 32-bit words, low first. */
function setU64(w: Uint32Array, i: number, v: number): void {
  w[i] = v % 0x100000000;
  w[i + 1] = Math.floor(v / 0x100000000);
}

/** A submission queue entry, as the driver fills it (command id and PRPs' memory are its own). */
export interface NvmeCommand {
  /** The opcode (8 bits). */
  opcode: number;
  /** The namespace ID; 0 when the command has none. */
  nsid: number;
  /** PRP entries: device addresses (numbers), 0 when unused. */
  prp1: number;
  /** The second PRP entry, or a PRP list's address. */
  prp2: number;
  /** Command dword 10 (command-specific, 32 bits). */
  cdw10: number;
  /** Command dword 11. */
  cdw11: number;
  /** Command dword 12. */
  cdw12: number;
  /** Command dword 13; default 0. */
  cdw13?: number;
  /** Command dword 14; default 0. */
  cdw14?: number;
  /** Command dword 15; default 0. */
  cdw15?: number;
  /** For errors: the first LBA and the block count of I/O commands. */
  lba?: number;
  /** For errors: the block count of I/O commands. */
  blocks?: number;
}

/**
 * Fills the entry at 32-bit index `e` of `w` (the DMA buffer's plain 32-bit view: the entry is
 * ordinary memory the controller reads after the doorbell, and the width-exact accessors are
 * for registers, with a check on every store).
 */
export function writeEntry(w: Uint32Array, e: number, cmd: NvmeCommand, cid: number): void {
  w[e] = (cmd.opcode & 0xff) | (cid << 16);
  w[e + 1] = cmd.nsid;
  w.fill(0, e + 2, e + 6); // reserved dwords and the metadata pointer
  setU64(w, e + 6, cmd.prp1);
  setU64(w, e + 8, cmd.prp2);
  w[e + 10] = cmd.cdw10;
  w[e + 11] = cmd.cdw11;
  w[e + 12] = cmd.cdw12;
  w[e + 13] = cmd.cdw13 ?? 0;
  w[e + 14] = cmd.cdw14 ?? 0;
  w[e + 15] = cmd.cdw15 ?? 0;
}
