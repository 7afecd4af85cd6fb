// Type tests of the public events, compiled (not run) by `npm run docs:check` against the
// declarations the package publishes (build/api-dts, internals stripped). Each
// `@ts-expect-error` line must fail to compile: if it compiled, tsc reports the directive as
// unused and the check fails.
import { once } from 'events';
import { Device, Irq, ResetKind, VfioError } from 'vfio';

declare const dev: Device;
declare const irq: Irq;

// Irq: 'interrupt' (count, vector), 'disable' (), 'error' (VfioError).
irq.on('interrupt', (count, vector) => {
  const c: number = count;
  const v: number = vector;
  void c;
  void v;
});
irq.once('disable', () => {});
irq.on('error', (e) => {
  const err: VfioError = e;
  void err;
});
irq.off('interrupt', () => {});
const fired: boolean = irq.emit('interrupt', 1, 0);
void fired;

// @ts-expect-error a misspelled event name
irq.on('interupt', () => {});
// @ts-expect-error a listener whose argument has the wrong type
irq.on('interrupt', (count: string) => {
  void count;
});
// @ts-expect-error a listener with more arguments than the event has
irq.on('disable', (x: number) => {
  void x;
});
// @ts-expect-error emit with the wrong arguments
irq.emit('interrupt', '1', 0);

// Device: 'release-request' (count), 'reset' (kind), 'close' ().
dev.on('release-request', (count) => {
  const c: number = count;
  void c;
});
dev.on('reset', (kind) => {
  const k: ResetKind = kind;
  const f: 'function' | 'hot' = k;
  void f;
});
dev.once('close', () => {});
dev.prependListener('close', () => {});

// @ts-expect-error a misspelled event name
dev.on('release_request', () => {});
// @ts-expect-error 'interrupt' is an Irq event, not a Device event
dev.on('interrupt', () => {});
// @ts-expect-error the reset kind is a string union, not a number
dev.on('reset', (kind: number) => {
  void kind;
});
// @ts-expect-error removeAllListeners takes only known names
dev.removeAllListeners('closed');

// The emitters stay Node EventEmitters: events.once accepts them.
async function waitForInterrupt(): Promise<number> {
  const [count] = await once(irq, 'interrupt');
  return count as number;
}
void waitForInterrupt;
