// Irq.wait: the next interrupt with a deadline, through the IRQ layer against a model of
// vfio-pci with real eventfds: resolves on an interrupt, times out on time with a TimeoutError
// and its hint, rejects as closed when the Irq is disabled or aborted by a signal, refuses a bad
// deadline, and leaves no listener behind in any case.
import { ClosedError, InvalidArgumentError, TimeoutError } from '../../lib/errors';
import { closeLiveIrqs, setupIrqs } from './irq-kernel';
import { rejection } from '../support/errors';

afterEach(closeLiveIrqs);

function msi() {
  const { model, irqs } = setupIrqs({ intx: false, msix: 8 });
  return { model, irq: irqs.index('MSIX').enable({ vectors: [2] }) };
}

const listeners = (irq: ReturnType<typeof msi>['irq']) => irq.listenerCount('interrupt') + irq.listenerCount('disable');

describe('Irq.wait', () => {
  it('resolves with the vector and count of the next interrupt', async () => {
    const { model, irq } = msi();
    const next = irq.wait({ timeoutMs: 5000 });
    model.raiseMsi(2);
    expect(await next).toEqual({ vector: 2, count: 1 });
    expect(listeners(irq)).toBe(0);
  });

  it('times out on time with a TimeoutError whose hint names a lost interrupt', async () => {
    const { irq } = msi();
    const t0 = performance.now();
    const e = await rejection<TimeoutError>(irq.wait({ timeoutMs: 200 }));
    const ms = performance.now() - t0;
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.message).toMatch(/no MSIX interrupt on vector\(s\) 2 within 200 ms/);
    expect(e.hint).toMatch(/lost/);
    expect(ms).toBeGreaterThanOrEqual(195);
    expect(ms).toBeLessThan(1000);
    expect(listeners(irq)).toBe(0);
  });

  it('rejects as closed when the Irq is disabled, with the reason of an aborted signal, and refuses bad deadlines', async () => {
    const { irq } = msi();
    const ac = new AbortController();
    const aborted = irq.wait({ timeoutMs: 5000, signal: ac.signal });
    ac.abort(new Error('stop'));
    expect((await rejection<Error>(aborted)).message).toBe('stop');
    for (const t of [-1, NaN, Infinity]) {
      expect(() => irq.wait({ timeoutMs: t })).toThrow(InvalidArgumentError);
    }
    const pending = irq.wait({ timeoutMs: 5000 });
    irq.disable();
    expect(await rejection(pending)).toBeInstanceOf(ClosedError);
    expect(listeners(irq)).toBe(0);
    expect(() => irq.wait()).toThrow(ClosedError);
  });
});
