// The IRQ layer (indexes, Irq objects, MSI and MSI-X vector sets, ref-counting, the rules and
// errors) driven through its backend against a model of vfio-pci with fake eventfds.
import { once } from 'events';
import * as abi from '../../lib/abi';
import { BusyError, ClosedError, InvalidArgumentError, NotSupportedError, VfioError } from '../../lib/errors';
import { closeLiveIrqs, record, settle, setupIrqs } from './irq-kernel';
import { thrown } from '../support/errors';
import { must } from '../support/must';

// A level-triggered line left asserted would keep interrupting after its test: switch all off.
afterEach(closeLiveIrqs);

describe('MSI-X vector sets', () => {
  it('delivers software triggers to the Irq and vector they belong to', async () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 65, dynMsix: true });
    const a = irqs.index('MSIX').enable({ vectors: [3, 0] });
    expect(a.vectors).toEqual([0, 3]);
    const seenA = record(a);
    a.trigger(3);
    await settle();
    a.trigger(0);
    await settle();
    const b = irqs.index('MSIX').enable({ vectors: [7] });
    const seenB = record(b);
    b.trigger(7);
    model.raiseMsi(3);
    await settle();
    expect(seenA).toEqual([
      [3, 1],
      [0, 1],
      [3, 1],
    ]);
    expect(seenB).toEqual([[7, 1]]);
    expect(irqs.index('MSIX').vectors).toEqual([0, 3, 7]);
    expect([...model.ctx.keys()].sort()).toEqual([0, 3, 7]);
  });

  it('counts interrupts that arrive before the event loop reads the eventfd', async () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 8 });
    const irq = irqs.index('MSIX').enable({ count: 2 });
    const seen = record(irq);
    for (let i = 0; i < 5; i++) model.raiseMsi(1);
    await settle();
    expect(seen).toEqual([[1, 5]]);
  });

  it('re-enables fixed-size MSI-X to grow it, and the vectors already live keep working', async () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 65, dynMsix: false });
    const a = irqs.index('MSIX').enable({ vectors: [0, 3] });
    const seen = record(a);
    a.add(7);
    expect(a.vectors).toEqual([0, 3, 7]);
    expect(irqs.index('MSIX').allocated).toBe(8);
    // The grow was off-then-on: the last two calls are the disable and the full set.
    expect(model.calls.slice(-2).map((c) => [c.count, c.fds?.filter((f) => f >= 0).length ?? null])).toEqual([
      [0, null],
      [8, 3],
    ]);
    a.trigger(0);
    a.trigger(7);
    await settle();
    expect(seen.sort()).toEqual([
      [0, 1],
      [7, 1],
    ]);
  });

  it('reserve avoids the re-enable', () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 65, dynMsix: false });
    const a = irqs.index('MSIX').enable({ vectors: [0], reserve: 16 });
    const before = model.calls.length;
    a.add([9, 10]);
    expect(model.calls.slice(before)).toEqual([expect.objectContaining({ start: 9, count: 2 })]);
  });

  it('remove() detaches vectors, disable() everything: fds closed, index off', async () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 65, dynMsix: true });
    const a = irqs.index('MSIX').enable({ vectors: [0, 3, 7] });
    const fd3 = must(model.ctx.get(3), 'model.ctx.get(3)');
    a.remove(3);
    expect(a.vectors).toEqual([0, 7]);
    expect(model.ctx.has(3)).toBe(false);
    expect(model.fds.open.has(fd3)).toBe(false);
    const disabled = once(a, 'disable');
    a.disable();
    await disabled;
    expect(model.irqType).toBeUndefined();
    expect(model.fds.open.size).toBe(0);
    expect(irqs.index('MSIX').enabled).toBe(false);
    expect(() => a.trigger(0)).toThrow(ClosedError);
    a.disable(); // idempotent
  });

  it('the kernel granting fewer vectors is an error, and nothing stays enabled', () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 65, maxAlloc: 2 });
    let err: VfioError | undefined;
    try {
      irqs.index('MSIX').enable({ vectors: [0, 3] });
    } catch (e) {
      err = e as VfioError;
    }
    expect(err).toBeInstanceOf(VfioError);
    expect(must(err, 'err').code).toBe('ENOSPC');
    expect(must(err, 'err').message).toMatch(/only 2 MSIX vector\(s\) of the 4/);
    expect(irqs.index('MSIX').enabled).toBe(false);
    expect(model.fds.open.size).toBe(0);
  });
});

describe('rules and errors', () => {
  it('MSI, MSI-X and INTx exclude each other, with a hint', () => {
    const { irqs } = setupIrqs({ msi: 4, msix: 8 });
    irqs.index('MSIX').enable({ vectors: [0, 3] });
    let err: BusyError | undefined;
    try {
      irqs.index('MSI').enable();
    } catch (e) {
      err = e as BusyError;
    }
    expect(err).toBeInstanceOf(BusyError);
    expect(must(err, 'err').code).toBe('EBUSY');
    expect(must(err, 'err').message).toMatch(/cannot enable MSI while MSIX is enabled \(vectors 0, 3\)/);
    expect(must(err, 'err').hint).toMatch(/dev\.irq\('MSIX'\)\.disable\(\)/);
    expect(() => irqs.index('INTX').enable()).toThrow(BusyError);
    irqs.index('MSIX').disable();
    expect(irqs.index('MSI').enable({ count: 2 }).vectors).toEqual([0, 1]);
  });

  it('vectors beyond the device are ERANGE before any call', () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 65 });
    for (const o of [{ vectors: [65] }, { count: 66 }, { vectors: [-1] }, { vectors: [1.5] }]) {
      let err: InvalidArgumentError | undefined;
      try {
        irqs.index('MSIX').enable(o);
      } catch (e) {
        err = e as InvalidArgumentError;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(must(err, 'err').code).toBe('ERANGE');
      expect(must(err, 'err').message).toMatch(/MSIX has 65 vector\(s\) \(0–64\)/);
    }
    expect(model.calls).toEqual([]);
  });

  it('any count, vectors or options value is an InvalidArgumentError, with no call and no huge list', () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 65 });
    const msix = irqs.index('MSIX');
    for (const [o, code, msg] of [
      [{ count: 1n << 70n }, 'ERANGE', /count/],
      [{ count: 2 ** 31 }, 'ERANGE', /MSIX has 65 vector\(s\)/],
      [{ count: 0.5 }, 'EINVAL', /count is 0.5, not an integer/],
      [{ count: Symbol('x') }, 'EINVAL', /count is a symbol/],
      [{ vectors: 'ab' }, 'EINVAL', /vectors is "ab": give an array/],
      [{ vectors: [Symbol('x')] }, 'ERANGE', /vector a symbol is out of range/],
      [{ vectors: new Array(2 ** 31) }, 'ERANGE', /2147483648 vectors asked for/],
      [null, 'EINVAL', /options must be an object/],
    ] as const) {
      const e = thrown(() => msix.enable(o as never));
      expect([o, e]).toEqual([o, expect.any(InvalidArgumentError)]);
      expect([o, e.code, e.message]).toEqual([o, code, expect.stringMatching(msg)]);
    }
    expect(model.calls).toEqual([]);
  });

  it('a vector in use, a repeated vector, vectors and count together', () => {
    const { irqs } = setupIrqs({ intx: false, msix: 8 });
    irqs.index('MSIX').enable({ vectors: [2] });
    expect(() => irqs.index('MSIX').enable({ vectors: [1, 2] })).toThrow(
      expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/vector\(s\) 2 are already enabled/) }),
    );
    expect(() => irqs.index('MSIX').enable({ vectors: [4, 4] })).toThrow(/vector 4 is given twice/);
    expect(() => irqs.index('MSIX').enable({ vectors: [4], count: 1 })).toThrow(/not both/);
  });

  it('an index the device lacks is not supported, and the hint lists what it has', () => {
    const { irqs } = setupIrqs({ msi: 1, msix: 0 });
    let err: NotSupportedError | undefined;
    try {
      irqs.index('MSIX').enable();
    } catch (e) {
      err = e as NotSupportedError;
    }
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(must(err, 'err').hint).toBe('this device has: INTX (1), MSI (1), REQ (1)');
    expect(() => irqs.index('ERR').enable()).toThrow(/no ERR interrupt/);
  });

  it('finds indexes by name in any spelling or by number, and lists them when not found', () => {
    const { irqs } = setupIrqs();
    expect(irqs.index('msi-x').index).toBe(abi.VFIO_PCI_MSIX_IRQ_INDEX);
    expect(irqs.index('INTx').name).toBe('INTX');
    expect(irqs.index(4).name).toBe('REQ');
    expect(() => irqs.index('MSI2')).toThrow(
      /has no IRQ index "MSI2"; it has INTX \(0\), MSI \(1\), MSIX \(2\), ERR \(3\), REQ \(4\)/,
    );
  });

  it('warns once when MSI is enabled while the device cannot master the bus', () => {
    const { model, irqs } = setupIrqs({ intx: false, msi: 1, msix: 8 });
    model.busMaster = false;
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      irqs.index('MSIX').enable({ vectors: [0] });
      irqs.index('MSIX').enable({ vectors: [1] });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/bus mastering is off.*dev\.config\.busMaster = true/);
    } finally {
      warn.mockRestore();
    }
  });

  it('MSI-X cannot be masked through VFIO', () => {
    const { irqs } = setupIrqs({ intx: false, msix: 8 });
    const irq = irqs.index('MSIX').enable();
    expect(() => irq.mask()).toThrow(NotSupportedError);
  });

  it('a failed call is an errno error with the range and a hint', () => {
    const { model, irqs } = setupIrqs({ intx: false, msix: 8, dynMsix: true });
    const irq = irqs.index('MSIX').enable();
    model.irqType = abi.VFIO_PCI_MSI_IRQ_INDEX; // the kernel disagrees about what is on
    let err: VfioError | undefined;
    try {
      irq.add(1);
    } catch (e) {
      err = e as VfioError;
    }
    model.irqType = abi.VFIO_PCI_MSIX_IRQ_INDEX;
    expect(irq.vectors).toEqual([0]);
    expect(must(err, 'err').code).toBe('EINVAL');
    expect(must(err, 'err').op).toBe('VFIO_DEVICE_SET_IRQS');
    expect(must(err, 'err').message).toMatch(/\(MSIX attach, vector 1\)/);
    expect(must(err, 'err').hint).toMatch(/one of INTx, MSI and MSI-X/);
  });
});
