// The "silent KVM guest is rerun under TCG" decision (lib/vm/qemu/accel.ts, used by lib/vm/run.ts
// after each boot): which boots are watched for silence, and which outcomes lead to a second boot
// under TCG, on the outcomes a boot can have.
import { KvmBootSeen, tcgRerunReason, watchesForSilence } from '../../lib/vm/qemu/accel';
import { KVM_SILENCE_DEADLINE_MS } from '../../lib/vm/run';

const exited = (code: number | null, signal: string | null = null) => ({
  code,
  signal,
  aborted: false,
  timedOut: false,
});
const seen = (o: Partial<KvmBootSeen>): KvmBootSeen => ({
  accel: 'kvm',
  auto: true,
  consoleOutput: false,
  stoppedSilent: false,
  exit: exited(0),
  ...o,
});
const SECONDS = KVM_SILENCE_DEADLINE_MS / 1000;

describe('which boots are watched for silence', () => {
  it('KVM chosen by auto only', () => {
    expect(watchesForSilence('kvm', true)).toBe(true);
    expect(watchesForSilence('kvm', false)).toBe(false); // --accel kvm: the user's call
    expect(watchesForSilence('tcg', true)).toBe(false);
    expect(watchesForSilence('tcg', false)).toBe(false);
  });

  it('the deadline is well under a TCG boot of the stock kernel and well over a KVM one', () => {
    expect(KVM_SILENCE_DEADLINE_MS).toBeGreaterThanOrEqual(5_000);
    expect(KVM_SILENCE_DEADLINE_MS).toBeLessThanOrEqual(60_000);
  });
});

describe('a KVM boot is rerun under TCG', () => {
  it('when the silence deadline stopped a guest that wrote nothing', () => {
    const stopped = { code: null, signal: 'SIGTERM', aborted: true, timedOut: false };
    expect(tcgRerunReason(seen({ stoppedSilent: true, exit: stopped }), SECONDS)).toBe(
      `no console output within ${SECONDS} s`,
    );
  });

  it('when QEMU failed before the guest wrote anything (an abort on an MSR, an emulation failure)', () => {
    expect(tcgRerunReason(seen({ exit: exited(1) }), SECONDS)).toBe('QEMU exited 1');
    expect(tcgRerunReason(seen({ exit: exited(null, 'SIGABRT') }), SECONDS)).toBe('QEMU exited SIGABRT');
  });
});

describe('and is not rerun', () => {
  it.each<[string, Partial<KvmBootSeen>]>([
    ['when the guest wrote to its console, whatever happened next', { consoleOutput: true, exit: exited(1) }],
    ['when a silent guest was stopped but the guest had spoken first', { consoleOutput: true, stoppedSilent: true }],
    ['under --accel kvm (no fallback asked for)', { auto: false, exit: exited(1) }],
    ['under --accel kvm, silent', { auto: false, stoppedSilent: true }],
    ['under TCG', { accel: 'tcg', exit: exited(1) }],
    [
      'when the caller stopped the run (Ctrl-C)',
      { exit: { code: null, signal: 'SIGTERM', aborted: true, timedOut: false } },
    ],
    [
      'when the run hit its own time limit',
      { exit: { code: null, signal: 'SIGKILL', aborted: false, timedOut: true } },
    ],
    ['when QEMU exited 0 (the guest powered off)', { exit: exited(0) }],
  ])('%s', (_what, o) => {
    expect(tcgRerunReason(seen(o), SECONDS)).toBeUndefined();
  });
});
