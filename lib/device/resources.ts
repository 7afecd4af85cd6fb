// What hangs off an open device (IRQs, DMA, cookies, mappings), kept by phase so the device
// closes them in a safe order before itself.

/** Things the device closes before itself, in this order (quiesce first, unmap memory last). */
export type ResourcePhase = 'irq' | 'dma' | 'cookie' | 'mapping' | 'other';
const PHASES: ResourcePhase[] = ['irq', 'dma', 'cookie', 'mapping', 'other'];

export interface Closable {
  close(): void;
}

/** @internal One set per phase; `closeAll` closes them phase by phase and collects what failed. */
export class Resources {
  private readonly sets: Record<ResourcePhase, Set<Closable>> = {
    irq: new Set(),
    dma: new Set(),
    cookie: new Set(),
    mapping: new Set(),
    other: new Set(),
  };

  add(res: Closable, phase: ResourcePhase): void {
    this.sets[phase].add(res);
  }

  delete(res: Closable, phase: ResourcePhase): void {
    this.sets[phase].delete(res);
  }

  list(phase: ResourcePhase): Closable[] {
    return [...this.sets[phase]];
  }

  /** Closes every resource, phase by phase; returns the errors thrown (each resource is dropped). */
  closeAll(): unknown[] {
    const errors: unknown[] = [];
    for (const phase of PHASES) {
      for (const res of [...this.sets[phase]]) {
        try {
          res.close();
        } catch (e) {
          errors.push(e);
        }
        this.sets[phase].delete(res);
      }
    }
    return errors;
  }
}
