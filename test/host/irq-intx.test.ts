// The IRQ layer's INTx automasking, async iteration, event-loop references and ERR/REQ triggers,
// driven through its backend against a model of vfio-pci with fake eventfds (irq-kernel.ts).
import { ClosedError } from '../../lib/errors';
import { IrqControl } from '../../lib/irq/control';
import { VfioPciModel, closeLiveIrqs, record, settle, setupIrqs } from './irq-kernel';
import { must } from '../support/must';

// A level-triggered line left asserted would keep interrupting after its test: switch all off.
afterEach(closeLiveIrqs);

describe('INTx (automasked)', () => {
  it('clears the virtual DisINTx bit, and unmasks after the listener acknowledged the device', async () => {
    const { model, irqs } = setupIrqs();
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
    const { model, irqs } = setupIrqs();
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
    const { model, irqs } = setupIrqs();
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
    const { model, irqs } = setupIrqs();
    const irq = irqs.index('INTX').enable({ autoUnmask: false });
    irq.on('interrupt', () => model.lowerIntx());
    model.raiseIntx();
    await settle();
    expect(model.intxMasked).toBe(true);
    irq.unmask();
    expect(model.intxMasked).toBe(false);
  });

  it('an interrupt nobody heard stays masked until a listener comes', async () => {
    const { model, irqs } = setupIrqs();
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
    const { model, irqs } = setupIrqs();
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
    await must(it.return, "the iterator's return()").call(it);
  });
});

describe('async iteration', () => {
  it('for await sees every event; break ends it; disable ends the others', async () => {
    const { irqs } = setupIrqs({ intx: false, msix: 8 });
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
    const { model, irqs } = setupIrqs({ intx: false, msix: 8 });
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
    const { model, irqs } = setupIrqs({ intx: false, msix: 8 });
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
    await must(it.return, "the iterator's return()").call(it);
  });
});

describe('ERR and REQ', () => {
  it('REQ is enabled by watchRelease and forwards to the device without holding the loop', async () => {
    const { model, irqs } = setupIrqs();
    irqs.watchRelease();
    const req = irqs.index('REQ');
    expect(req.enabled).toBe(true);
    expect(model.fds.refd(must(model.reqTrigger, 'model.reqTrigger'))).toBe(false);
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
    const { model, irqs } = setupIrqs({ pcie: true });
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
