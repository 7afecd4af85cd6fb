// Ioeventfds on edu's BAR0 against the real kernel. edu's register 0x04 (liveness check) reads
// back the bitwise inverse of the last 32-bit value written to it, so a read shows whether, and
// what, the kernel wrote there. The value changes after trigger() with no write from JavaScript;
// another process holding the eventfd triggers it too; after close() a signal writes nothing.
import { spawn } from 'child_process';
import { once } from 'events';
import { ClosedError, InvalidArgumentError, Ioeventfd, VfioError } from '../../lib';
import { guestEnv, openDevice } from './env';
import { thrown } from '../support/errors';
import { sleep, waitFor } from '../support/time';
import { must } from '../support/must';

const env = guestEnv();
const LIVENESS = 0x04;
const inverse = (v: number) => ~v >>> 0;

describe('ioeventfd on edu BAR0', () => {
  it('trigger(): the register takes the value with no write from JavaScript; close() ends it', async () => {
    await using dev = await openDevice(env.edu);
    const bar = dev.bar(0);
    bar.write32(LIVENESS, 0xffffffff);
    expect(bar.read32(LIVENESS)).toBe(0);
    const ev = bar.ioeventfd({ offset: LIVENESS, width: 4, value: 0x12345678 });
    expect([ev.regionIndex, ev.offset, ev.width, ev.value, ev.closed]).toEqual([0, 4n, 4, 0x12345678n, false]);
    expect(typeof ev.fd).toBe('number');
    // Registering writes nothing.
    await sleep(200);
    expect(bar.read32(LIVENESS)).toBe(0);
    ev.trigger();
    await waitFor("the kernel's write", () => bar.read32(LIVENESS) === inverse(0x12345678));
    // Again, after something else was written.
    bar.write32(LIVENESS, 0);
    ev.trigger();
    await waitFor('the second write', () => bar.read32(LIVENESS) === inverse(0x12345678));
    ev.close();
    expect(ev.closed).toBe(true);
    expect(thrown(() => ev.trigger())).toBeInstanceOf(ClosedError);
    ev.close(); // idempotent
  });

  it('another process holding the eventfd triggers it; after close() its signals write nothing', async () => {
    await using dev = await openDevice(env.edu);
    const bar = dev.bar(0);
    bar.write32(LIVENESS, 0xffffffff);
    const ev = bar.ioeventfd({ offset: LIVENESS, width: 4, value: 0xa5a5f00d });
    // The child gets its own reference to the eventfd as fd 3 and signals it once per input line.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('fs');
      const one = Buffer.alloc(8); one[0] = 1;
      process.stdin.on('data', (d) => { for (const _ of d.toString().trim().split('\\n')) { fs.writeSync(3, one); process.stdout.write('sent\\n'); } });
    `,
      ],
      { stdio: ['pipe', 'pipe', 'inherit', ev.fd] },
    );
    let out = '';
    must(child.stdout, 'child.stdout').on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      must(child.stdin, 'child.stdin').write('signal\n');
      await waitFor("the child's signal", () => out === 'sent\n');
      await waitFor("the kernel's write", () => bar.read32(LIVENESS) === inverse(0xa5a5f00d));
      bar.write32(LIVENESS, 0xffffffff);
      ev.close();
      must(child.stdin, 'child.stdin').write('signal\n');
      await waitFor("the child's second signal", () => out === 'sent\nsent\n');
      await sleep(1000);
      expect(bar.read32(LIVENESS)).toBe(0);
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  }, 120_000);

  it("the kernel's refusals are typed: the same registration twice is EEXIST, with a hint", async () => {
    await using dev = await openDevice(env.edu);
    using ev = dev.bar(0).ioeventfd({ offset: LIVENESS, width: 4, value: 1 });
    const dup = thrown(() => dev.bar(0).ioeventfd({ offset: LIVENESS, width: 4, value: 1 }));
    expect([dup instanceof VfioError, dup.code]).toEqual([true, 'EEXIST']);
    expect(dup.hint).toMatch(/already registered/);
    // Another value at the same offset is another registration.
    using other = dev.bar(0).ioeventfd({ offset: LIVENESS, width: 4, value: 2 });
    expect([ev.closed, other.closed]).toEqual([false, false]);
  });

  it("the library's checks come first: not a BAR, bad width, misaligned, too wide a value", async () => {
    await using dev = await openDevice(env.edu);
    const config = must(
      dev.regions.find((r) => r.index === 7),
      'dev.regions.find((r) => r.index === 7)',
    ); // VFIO_PCI_CONFIG_REGION_INDEX
    const bad: Array<[string, () => Ioeventfd]> = [
      ['config space', () => config.ioeventfd({ offset: 4, width: 4, value: 0 })],
      ['width 3', () => dev.bar(0).ioeventfd({ offset: 4, width: 3 as never, value: 0 })],
      ['misaligned', () => dev.bar(0).ioeventfd({ offset: 2, width: 4, value: 0 })],
      ['past the BAR', () => dev.bar(0).ioeventfd({ offset: 0x100000, width: 4, value: 0 })],
      ['a value wider than the write', () => dev.bar(0).ioeventfd({ offset: 4, width: 1, value: 0x100 })],
    ];
    for (const [what, call] of bad) {
      const err = thrown(call);
      expect([what, err instanceof InvalidArgumentError]).toEqual([what, true]);
    }
  });

  it('the device closes its ioeventfds first', async () => {
    const dev = await openDevice(env.edu);
    const ev = dev.bar(0).ioeventfd({ offset: LIVENESS, width: 4, value: 3 });
    dev.close();
    expect(ev.closed).toBe(true);
    expect(thrown(() => ev.fd)).toBeInstanceOf(ClosedError);
  });
});
