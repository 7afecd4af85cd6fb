// Memory decoding of a device, as this library turns it off and on. vfio-pci zaps every BAR
// mapping when the command register's MEMORY bit is cleared or the device enters low power, and
// answers the next touch of one with SIGBUS. The gate suspends the device's mappings (zero pages
// in, accessors throw) before such a change made through this library, and maps them back once
// the device decodes memory again. A change made by another process is out of its sight
// (docs/reliability.md).
import { Mapping } from '../memory/mapping';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from './config-space';
import { throwCloseErrors } from '../errors';

const COMMAND_OFF = 'memory decoding is off (the command register has PCI_COMMAND_MEMORY clear)';
const LOW_POWER = 'the device is in low power (LOW_POWER_ENTRY; leave with LOW_POWER_EXIT)';

export class MemoryGate {
  /** Why memory is off, as far as this library turned it off; undefined while it decodes. */
  private why: string | undefined;

  constructor(
    private readonly label: () => string,
    private readonly mappings: () => readonly Mapping[],
    private readonly readCommand: () => number,
  ) {}

  /** Why the device's memory is off, when this library turned it off. */
  get off(): string | undefined {
    return this.why;
  }

  /** Suspends every mapping of the device, and those made until open(). */
  close(why: string): void {
    this.why = why;
    const errors: unknown[] = [];
    for (const m of this.mappings()) {
      try {
        m.suspend(why);
      } catch (e) {
        errors.push(e);
      }
    }
    throwCloseErrors('Device.memoryOff', errors, this.label());
  }

  /** Maps every suspended mapping back: the device decodes memory again. */
  open(): void {
    this.why = undefined;
    const errors: unknown[] = [];
    for (const m of this.mappings()) {
      try {
        m.resume();
      } catch (e) {
        errors.push(e);
      }
    }
    throwCloseErrors('Device.memoryOn', errors, this.label());
  }

  /** A mapping made while memory is off starts suspended. */
  noticeMapping(m: Mapping): void {
    if (this.why !== undefined) m.suspend(this.why);
  }

  /**
   * Runs `write`, a write of `bytes` at config-space offset `off`. One that clears the MEMORY bit
   * suspends the mappings first; afterwards (failed or not) the command register says whether
   * memory decodes, and if it does the mappings come back.
   */
  configWrite(off: bigint, bytes: Uint8Array, write: () => void): void {
    const at = BigInt(PCI_COMMAND);
    if (off > at || off + BigInt(bytes.length) <= at) return write();
    const on = (bytes[Number(at - off)] & PCI_COMMAND_MEMORY) !== 0;
    if (!on) this.close(COMMAND_OFF);
    try {
      write();
    } catch (e) {
      this.settle();
      throw e;
    }
    this.settle();
  }

  /** After a command write: open when the device decodes memory; a failed read keeps things shut. */
  private settle(): void {
    let command: number;
    try {
      command = this.readCommand();
    } catch {
      return;
    }
    if ((command & PCI_COMMAND_MEMORY) !== 0) this.open();
    else if (this.why === undefined) this.close(COMMAND_OFF);
  }

  /**
   * Runs `call`, a VFIO_DEVICE_FEATURE ioctl of feature `name` (its result: < 0 an errno): low
   * power entry suspends the mappings first (back when it fails), a successful exit resumes them.
   */
  feature(name: string, set: boolean, call: () => number): number {
    if (!set) return call();
    const entry = name === 'LOW_POWER_ENTRY' || name === 'LOW_POWER_ENTRY_WITH_WAKEUP';
    if (entry) this.close(LOW_POWER);
    let r: number;
    try {
      r = call();
    } catch (e) {
      if (entry) this.open();
      throw e;
    }
    if ((entry && r < 0) || (name === 'LOW_POWER_EXIT' && r >= 0 && this.why === LOW_POWER)) this.open();
    return r;
  }
}
