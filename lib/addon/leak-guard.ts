// The safety net under close(): a Device, IOMMU context, IRQ tap or dma-buf that becomes
// unreachable while still open has its file descriptors released by a FinalizationRegistry, with
// one process warning per kind of object naming the first one found. close() and `using` stay
// the deterministic path: a collection may come late or, before the process exits, never.
//
// A release must not reach the object it releases (the registry holds it strongly, so the
// object would never become unreachable): callers build it from the object's fds and helpers
// only, in a function whose scope holds no reference to the object.

/** What the warning calls the kinds of objects, once each per process. */
export type LeakKind = 'Device' | 'IommuContext' | 'IrqTap' | 'DmaBuf';

interface Held {
  readonly kind: LeakKind;
  readonly what: string;
  readonly release: () => void;
}

const warned = new Set<LeakKind>();

const registry = new FinalizationRegistry<Held>((h) => {
  try {
    h.release();
  } catch {
    // A finalizer has nobody to report to; the fds were released as far as possible.
  }
  if (warned.has(h.kind)) return;
  warned.add(h.kind);
  process.emitWarning(
    `${h.what} was garbage-collected without close(): its file descriptors were released now. ` +
      'Call close() (or declare it with `using`) to release them when you are done.',
    { type: 'VfioLeakWarning', code: 'VFIO_UNCLOSED' },
  );
});

/** Releases `obj`'s fds with `release` if it is collected before forgetLeak(obj). */
export function watchLeak(obj: object, kind: LeakKind, what: string, release: () => void): void {
  registry.register(obj, { kind, what, release }, obj);
}

/** close() ran: nothing is left to release. */
export function forgetLeak(obj: object): void {
  registry.unregister(obj);
}

/** A release that closes `fds` in order (built here, away from any object's scope). */
export function closingFds(close: (fd: number) => unknown, ...fds: number[]): () => void {
  return () => {
    for (const fd of fds) close(fd);
  };
}
