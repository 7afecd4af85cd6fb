// Child of memory-off.test.ts: on edu, reads BAR0 through a mapping, turns memory decoding off
// through the library (memorySpace, then a raw command write, then low power entry when the
// kernel offers it), records what each access does meanwhile, turns it on again and reads once
// more. Prints one JSON line; a SIGBUS would end it by a signal, which the test counts.
import { VfioError } from '../../lib';
import { openDevice } from './env';

type Outcome = { value: number } | { error: string; code: string; op: string; hint?: string };

function attempt(f: () => number): Outcome {
  try {
    return { value: f() };
  } catch (e) {
    if (!(e instanceof VfioError)) return { error: `untyped ${String(e)}`, code: '', op: '' };
    return { error: e.constructor.name, code: e.code, op: e.op, hint: e.hint };
  }
}

async function main(): Promise<void> {
  const dev = await openDevice(process.argv[2]);
  const out: Record<string, unknown> = {};
  try {
    const bar0 = dev.bar(0).map();
    const view = (bar0 as unknown as { v32: Uint32Array }).v32;
    out.before = attempt(() => bar0.read32(0));
    dev.config.memorySpace = false;
    out.memorySpaceOff = dev.config.memorySpace;
    out.suspended = bar0.suspended !== undefined;
    out.whileOff = attempt(() => bar0.read32(0));
    out.writeWhileOff = attempt(() => (bar0.write32(4, 0x12345678), 0));
    out.viewWhileOff = view[0]; // the raw view reads zero pages, never the zapped BAR
    out.preadWhileOff = attempt(() => dev.bar(0).read32(0)); // the kernel's own answer
    const late = dev.bar(0).map({ length: 4096 });
    out.newMappingWhileOff = attempt(() => late.read32(0));
    dev.config.memorySpace = true;
    out.after = attempt(() => bar0.read32(0));
    out.lateAfter = attempt(() => late.read32(0));
    bar0.write32(4, 0x0f0f0f0f);
    out.liveness = attempt(() => bar0.read32(4) >>> 0);
    // The raw command register, without the helper.
    const cmd = dev.config.command;
    dev.config.command = cmd & ~0x2;
    out.commandOff = attempt(() => bar0.read32(0));
    dev.config.command = cmd;
    out.commandOn = attempt(() => bar0.read32(0));
    // Low power entry, when this kernel and device offer it.
    try {
      dev.feature('LOW_POWER_ENTRY').enter();
      out.lowPower = attempt(() => bar0.read32(0));
      dev.feature('LOW_POWER_EXIT').exit();
      out.lowPowerExit = attempt(() => bar0.read32(0));
    } catch (e) {
      out.lowPower = { unavailable: (e as VfioError).code };
      out.lowPowerExit = attempt(() => bar0.read32(0));
    }
  } finally {
    dev.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
