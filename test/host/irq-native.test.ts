// The IRQ layer over real eventfds and the addon's libuv poll handles, with the vfio-pci model
// standing in for the kernel (it signals by writing to the eventfd, as eventfd_signal() adds).
import * as fs from 'fs';
import { IrqTap, Tap } from '../../lib/irq/irq';
import { IrqControl } from '../../lib/irq/control';
import { native } from '../../lib/addon/native';
import { EventfdLayer, VfioPciModel } from './irq-kernel';

class NativeEventfds implements EventfdLayer {
  readonly live = new Set<number>();

  tap(vector: number, onCount: (count: number) => void): IrqTap {
    const t = Tap.open(vector, onCount, 'test');
    this.live.add(t.fd);
    return {
      vector,
      fd: t.fd,
      ref: (on) => t.ref(on),
      close: () => {
        this.live.delete(t.fd);
        t.close();
      },
    };
  }

  signal(fd: number): void {
    if (!this.live.has(fd)) return;
    const one = new Uint8Array(new BigUint64Array([1n]).buffer);
    expect(native().write(fd, one)).toBe(8);
  }

  isOpen(fd: number): boolean {
    return this.live.has(fd);
  }
}

function setup(o: ConstructorParameters<typeof VfioPciModel>[0]): {
  model: VfioPciModel<NativeEventfds>;
  irqs: IrqControl;
} {
  const model = new VfioPciModel(o, new NativeEventfds());
  return { model, irqs: new IrqControl(model.backend()) };
}

function nextEvent(emitter: NodeJS.EventEmitter): Promise<[number, number]> {
  return new Promise((resolve) =>
    emitter.once('interrupt', (count: number, vector: number) => resolve([count, vector])),
  );
}

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

describe('real eventfds into the event loop', () => {
  it('each vector wakes the loop with its own count; signals before the read add up', async () => {
    const { model, irqs } = setup({ intx: false, msix: 16, dynMsix: true });
    const irq = irqs.index('MSIX').enable({ vectors: [2, 9] });
    let got = nextEvent(irq);
    model.raiseMsi(9);
    expect(await got).toEqual([1, 9]);
    got = nextEvent(irq);
    for (let i = 0; i < 5; i++) model.raiseMsi(2);
    expect(await got).toEqual([5, 2]);
    irq.disable();
  });

  it('INTx: automask, the handler acknowledges, the unmask lets the next one through', async () => {
    const { model, irqs } = setup({});
    const irq = irqs.index('INTX').enable();
    let n = 0;
    irq.on('interrupt', () => {
      n++;
      model.lowerIntx();
    });
    for (let i = 1; i <= 3; i++) {
      const got = nextEvent(irq);
      model.raiseIntx();
      await got;
      expect(n).toBe(i);
      expect(model.intxMasked).toBe(false);
    }
    irq.disable();
  });

  it('disable closes every eventfd and poll handle', () => {
    const { model, irqs } = setup({ intx: false, msix: 65, dynMsix: false });
    const before = openFds();
    const irq = irqs.index('MSIX').enable({ vectors: [0, 3] });
    irq.add(7);
    irq.on('interrupt', () => undefined);
    expect(openFds()).toBe(before + 3);
    irqs.index('MSIX').disable();
    expect(openFds()).toBe(before);
    expect(model.fds.live.size).toBe(0);
  });

  it('disabling from inside the listener is safe and stops delivery', async () => {
    const { model, irqs } = setup({ intx: false, msix: 4 });
    const irq = irqs.index('MSIX').enable({ count: 2 });
    let n = 0;
    irq.on('interrupt', () => {
      n++;
      irq.disable();
    });
    model.raiseMsi(0);
    model.raiseMsi(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(n).toBe(1);
    expect(irq.enabled).toBe(false);
  });
});
