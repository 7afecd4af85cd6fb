// The IRQ layer (indexes, Irq objects, iterators, INTx automasking, ref-counting, errors) driven
// through its backend against a model of vfio-pci with fake eventfds.
import { once } from 'events';
import * as abi from '../../lib/abi';
import { BusyError, ClosedError, InvalidArgumentError, NotSupportedError, VfioError } from '../../lib/errors';
import { Irq } from '../../lib/irq/irq';
import { IrqControl } from '../../lib/irq/irq-index';
import { ModelOptions, VfioPciModel, settle } from './irq-kernel';

const live: IrqControl[] = [];

function setup(o: ModelOptions = {}): { model: VfioPciModel; irqs: IrqControl } {
  const model = new VfioPciModel(o);
  const irqs = new IrqControl(model.backend());
  live.push(irqs);
  return { model, irqs };
}

// A level-triggered line left asserted would keep interrupting after its test: switch all off.
afterEach(() => {
  for (const irqs of live.splice(0))
    for (const name of ['INTX', 'MSI', 'MSIX', 'ERR', 'REQ']) irqs.index(name).disable();
});

/** Collects ('interrupt', count, vector) events. */
function record(irq: Irq): [number, number][] {
  const seen: [number, number][] = [];
  irq.on('interrupt', (count: number, vector: number) => seen.push([vector, count]));
  return seen;
}

describe('MSI-X vector sets', () => {
  it('delivers software triggers to the Irq and vector they belong to', async () => {
    const { model, irqs } = setup({ intx: false, msix: 65, dynMsix: true });
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
    const { model, irqs } = setup({ intx: false, msix: 8 });
    const irq = irqs.index('MSIX').enable({ count: 2 });
    const seen = record(irq);
    for (let i = 0; i < 5; i++) model.raiseMsi(1);
    await settle();
    expect(seen).toEqual([[1, 5]]);
  });

  it('re-enables fixed-size MSI-X to grow it, and the vectors already live keep working', async () => {
    const { model, irqs } = setup({ intx: false, msix: 65, dynMsix: false });
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
    const { model, irqs } = setup({ intx: false, msix: 65, dynMsix: false });
    const a = irqs.index('MSIX').enable({ vectors: [0], reserve: 16 });
    const before = model.calls.length;
    a.add([9, 10]);
    expect(model.calls.slice(before)).toEqual([expect.objectContaining({ start: 9, count: 2 })]);
  });

  it('remove() detaches vectors, disable() everything: fds closed, index off', async () => {
    const { model, irqs } = setup({ intx: false, msix: 65, dynMsix: true });
    const a = irqs.index('MSIX').enable({ vectors: [0, 3, 7] });
    const fd3 = model.ctx.get(3)!;
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
    const { model, irqs } = setup({ intx: false, msix: 65, maxAlloc: 2 });
    let err: VfioError | undefined;
    try {
      irqs.index('MSIX').enable({ vectors: [0, 3] });
    } catch (e) {
      err = e as VfioError;
    }
    expect(err).toBeInstanceOf(VfioError);
    expect(err!.code).toBe('ENOSPC');
    expect(err!.message).toMatch(/only 2 MSIX vector\(s\) of the 4/);
    expect(irqs.index('MSIX').enabled).toBe(false);
    expect(model.fds.open.size).toBe(0);
  });
});

describe('rules and errors', () => {
  it('MSI, MSI-X and INTx exclude each other, with a hint', () => {
    const { irqs } = setup({ msi: 4, msix: 8 });
    irqs.index('MSIX').enable({ vectors: [0, 3] });
    let err: BusyError | undefined;
    try {
      irqs.index('MSI').enable();
    } catch (e) {
      err = e as BusyError;
    }
    expect(err).toBeInstanceOf(BusyError);
    expect(err!.code).toBe('EBUSY');
    expect(err!.message).toMatch(/cannot enable MSI while MSIX is enabled \(vectors 0, 3\)/);
    expect(err!.hint).toMatch(/dev\.irq\('MSIX'\)\.disable\(\)/);
    expect(() => irqs.index('INTX').enable()).toThrow(BusyError);
    irqs.index('MSIX').disable();
    expect(irqs.index('MSI').enable({ count: 2 }).vectors).toEqual([0, 1]);
  });

  it('vectors beyond the device are ERANGE before any call', () => {
    const { model, irqs } = setup({ intx: false, msix: 65 });
    for (const o of [{ vectors: [65] }, { count: 66 }, { vectors: [-1] }, { vectors: [1.5] }]) {
      let err: InvalidArgumentError | undefined;
      try {
        irqs.index('MSIX').enable(o);
      } catch (e) {
        err = e as InvalidArgumentError;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err!.code).toBe('ERANGE');
      expect(err!.message).toMatch(/MSIX has 65 vector\(s\) \(0–64\)/);
    }
    expect(model.calls).toEqual([]);
  });

  it('a vector in use, a repeated vector, vectors and count together', () => {
    const { irqs } = setup({ intx: false, msix: 8 });
    irqs.index('MSIX').enable({ vectors: [2] });
    expect(() => irqs.index('MSIX').enable({ vectors: [1, 2] })).toThrow(
      expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/vector\(s\) 2 are already enabled/) }),
    );
    expect(() => irqs.index('MSIX').enable({ vectors: [4, 4] })).toThrow(/vector 4 is given twice/);
    expect(() => irqs.index('MSIX').enable({ vectors: [4], count: 1 })).toThrow(/not both/);
  });

  it('an index the device lacks is not supported, and the hint lists what it has', () => {
    const { irqs } = setup({ msi: 1, msix: 0 });
    let err: NotSupportedError | undefined;
    try {
      irqs.index('MSIX').enable();
    } catch (e) {
      err = e as NotSupportedError;
    }
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err!.hint).toBe('this device has: INTX (1), MSI (1), REQ (1)');
    expect(() => irqs.index('ERR').enable()).toThrow(/no ERR interrupt/);
  });

  it('finds indexes by name in any spelling or by number, and lists them when not found', () => {
    const { irqs } = setup();
    expect(irqs.index('msi-x').index).toBe(abi.VFIO_PCI_MSIX_IRQ_INDEX);
    expect(irqs.index('INTx').name).toBe('INTX');
    expect(irqs.index(4).name).toBe('REQ');
    expect(() => irqs.index('MSI2')).toThrow(
      /has no IRQ index "MSI2"; it has INTX \(0\), MSI \(1\), MSIX \(2\), ERR \(3\), REQ \(4\)/,
    );
  });

  it('warns once when MSI is enabled while the device cannot master the bus', () => {
    const { model, irqs } = setup({ intx: false, msi: 1, msix: 8 });
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
    const { irqs } = setup({ intx: false, msix: 8 });
    const irq = irqs.index('MSIX').enable();
    expect(() => irq.mask()).toThrow(NotSupportedError);
  });

  it('a failed call is an errno error with the range and a hint', () => {
    const { model, irqs } = setup({ intx: false, msix: 8, dynMsix: true });
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
    expect(err!.code).toBe('EINVAL');
    expect(err!.op).toBe('VFIO_DEVICE_SET_IRQS');
    expect(err!.message).toMatch(/\(MSIX attach, vector 1\)/);
    expect(err!.hint).toMatch(/one of INTx, MSI and MSI-X/);
  });
});

describe('INTx (automasked)', () => {
  it('clears the virtual DisINTx bit, and unmasks after the listener acknowledged the device', async () => {
    const { model, irqs } = setup();
    model.virqDisabled = true;
    const irq = irqs.index('INTX').enable();
    expect(model.virqDisabled).toBe(false);
    let n = 0;
    irq.on('interrupt', () => {
      n++;
      model.lowerIntx();
    });
    for (let i = 1; i <= 5; i++) {
      model.raiseIntx();
      await settle();
      expect(n).toBe(i);
      expect(model.intxMasked).toBe(false);
    }
  });

  it('a listener that does not acknowledge gets the interrupt again after the unmask', async () => {
    const { model, irqs } = setup();
    const irq = irqs.index('INTX').enable();
    let n = 0;
    irq.on('interrupt', () => {
      if (++n === 3) model.lowerIntx();
    });
    model.raiseIntx();
    for (let i = 0; i < 5; i++) await settle();
    expect(n).toBe(3);
  });

  it('while masked nothing arrives; unmask() delivers the pending one', async () => {
    const { model, irqs } = setup();
    const irq = irqs.index('INTX').enable();
    const seen = record(irq);
    irq.on('interrupt', () => model.lowerIntx());
    irq.mask();
    model.raiseIntx();
    await settle();
    expect(seen).toEqual([]);
    irq.unmask();
    await settle();
    expect(seen).toEqual([[0, 1]]);
    expect(model.intxMasked).toBe(false);
  });

  it('autoUnmask: false leaves the unmask to the caller', async () => {
    const { model, irqs } = setup();
    const irq = irqs.index('INTX').enable({ autoUnmask: false });
    irq.on('interrupt', () => model.lowerIntx());
    model.raiseIntx();
    await settle();
    expect(model.intxMasked).toBe(true);
    irq.unmask();
    expect(model.intxMasked).toBe(false);
  });

  it('an interrupt nobody heard stays masked until a listener comes', async () => {
    const { model, irqs } = setup();
    const irq = irqs.index('INTX').enable();
    model.raiseIntx();
    await settle();
    expect(model.intxMasked).toBe(true);
    const seen = record(irq);
    irq.on('interrupt', () => model.lowerIntx());
    await settle();
    expect(seen).toEqual([[0, 1]]);
    expect(model.intxMasked).toBe(false);
  });

  it('an iterator holds the line masked until it asks for the next event', async () => {
    const { model, irqs } = setup();
    const irq = irqs.index('INTX').enable();
    const it = irq[Symbol.asyncIterator]();
    const first = it.next();
    model.raiseIntx();
    expect(await first).toEqual({ value: { vector: 0, count: 1 }, done: false });
    expect(model.intxMasked).toBe(true);
    model.lowerIntx();
    const second = it.next();
    expect(model.intxMasked).toBe(false);
    model.raiseIntx();
    expect((await second).value).toEqual({ vector: 0, count: 1 });
    await it.return!();
  });
});

describe('async iteration', () => {
  it('for await sees every event; break ends it; disable ends the others', async () => {
    const { irqs } = setup({ intx: false, msix: 8 });
    const irq = irqs.index('MSIX').enable({ vectors: [1, 2] });
    const got: unknown[] = [];
    const loop = (async () => {
      for await (const e of irq) {
        got.push(e);
        if (got.length === 2) break;
      }
    })();
    await settle();
    irq.trigger(1);
    await settle();
    irq.trigger(2);
    await loop;
    expect(got).toEqual([
      { vector: 1, count: 1 },
      { vector: 2, count: 1 },
    ]);
    const other = irq[Symbol.asyncIterator]();
    const pending = other.next();
    irq.disable();
    expect(await pending).toEqual({ value: undefined, done: true });
  });

  it('a busy consumer finds events queued and coalesced per vector', async () => {
    const { model, irqs } = setup({ intx: false, msix: 8 });
    const irq = irqs.index('MSIX').enable({ vectors: [0, 1] });
    const it = irq[Symbol.asyncIterator]();
    model.raiseMsi(0);
    await settle();
    model.raiseMsi(1);
    await settle();
    model.raiseMsi(0);
    await settle();
    expect(await it.next()).toEqual({ value: { vector: 0, count: 2 }, done: false });
    expect(await it.next()).toEqual({ value: { vector: 1, count: 1 }, done: false });
  });
});

describe('holding the event loop', () => {
  it('only while a listener or a pending next() waits', async () => {
    const { model, irqs } = setup({ intx: false, msix: 8 });
    const irq = irqs.index('MSIX').enable({ vectors: [0, 5] });
    const fds = [...model.ctx.values()];
    const refd = (): boolean[] => fds.map((fd) => model.fds.refd(fd));
    expect(refd()).toEqual([false, false]);
    const l = (): void => undefined;
    irq.on('interrupt', l);
    expect(refd()).toEqual([true, true]);
    irq.off('interrupt', l);
    expect(refd()).toEqual([false, false]);
    const it = irq[Symbol.asyncIterator]();
    const p = it.next();
    expect(refd()).toEqual([true, true]);
    irq.trigger(5);
    await p;
    expect(refd()).toEqual([false, false]);
    await it.return!();
  });
});

describe('ERR and REQ', () => {
  it('REQ is enabled by watchRelease and forwards to the device without holding the loop', async () => {
    const { model, irqs } = setup();
    irqs.watchRelease();
    const req = irqs.index('REQ');
    expect(req.enabled).toBe(true);
    expect(model.fds.refd(model.reqTrigger!)).toBe(false);
    req.irqs[0].trigger();
    await settle();
    expect(model.released).toEqual([1]);
    // An explicit enable takes over from the automatic one.
    const mine = req.enable();
    const seen = record(mine);
    mine.trigger();
    await settle();
    expect(model.released).toEqual([1, 1]);
    expect(seen).toEqual([[0, 1]]);
    expect(req.irqs).toEqual([mine]);
  });

  it("a 'release-request' handler that closes everything ends the REQ Irq cleanly", async () => {
    const model = new VfioPciModel();
    const backend = model.backend();
    const irqs = new IrqControl({ ...backend, emitReleaseRequest: () => irqs.index('REQ').disable() });
    const req = irqs.index('REQ').enable();
    const after: number[] = [];
    req.on('interrupt', (n: number) => after.push(n));
    req.trigger();
    await settle();
    expect(req.enabled).toBe(false);
    expect(after).toEqual([]);
    expect(model.reqTrigger).toBeUndefined();
    expect(model.fds.open.size).toBe(0);
  });

  it('ERR on a PCIe device', async () => {
    const { model, irqs } = setup({ pcie: true });
    const err = irqs.index('ERR').enable();
    const seen = record(err);
    err.trigger();
    await settle();
    expect(seen).toEqual([[0, 1]]);
    err.disable();
    expect(model.errTrigger).toBeUndefined();
    expect(() => err.add(0)).toThrow(ClosedError);
  });
});
