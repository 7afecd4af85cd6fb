// Typed events for the package's emitters. Node's own generic EventEmitter<T> accepts any event
// name (an unknown one falls back to `(...args: any[]) => void`), so a misspelled name would
// still compile; these signatures accept only the names in the map, each with its listener type.
import { EventEmitter } from 'events';

/**
 * An emitter's events: each event name maps to the tuple of arguments its listeners receive.
 * E.g. `{ interrupt: [count: number, vector: number] }`.
 */
export type EventMap<E> = { [K in keyof E]: unknown[] };

/**
 * The events every emitter has (Node's EventEmitter emits them itself): `'newListener'` before a
 * listener is added and `'removeListener'` after one is removed, with the event name and the
 * listener.
 */
export interface EmitterEvents {
  /** Before `listener` is added for `event`. */
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  /** After `listener` was removed from `event`. */
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/** The events of map `E` and the ones every emitter has. */
export type AllEvents<E> = E & EmitterEvents;

/** A listener of event `K` of map `E`. */
export type Listener<E, K extends keyof E> = (...args: Extract<E[K], unknown[]>) => void;

/**
 * The listener methods of Node's EventEmitter, restricted to the events of `E` (plus
 * {@link EmitterEvents}) and their listener signatures. Everything else an EventEmitter has
 * (`setMaxListeners`, `eventNames`, …) is unchanged; `events.once(emitter, name)` and
 * `events.on(emitter, name)` accept these emitters as they accept any EventEmitter.
 */
export interface TypedEvents<E extends EventMap<E>> {
  /** Adds `listener` for `event` (Node's `emitter.on`); returns the emitter. */
  on<K extends keyof AllEvents<E> & string>(event: K, listener: Listener<AllEvents<E>, K>): this;
  /** The same as {@link TypedEvents.on}. */
  addListener<K extends keyof AllEvents<E> & string>(event: K, listener: Listener<AllEvents<E>, K>): this;
  /** Adds `listener` for the next `event` only; returns the emitter. */
  once<K extends keyof AllEvents<E> & string>(event: K, listener: Listener<AllEvents<E>, K>): this;
  /** Adds `listener` before the other listeners of `event`; returns the emitter. */
  prependListener<K extends keyof AllEvents<E> & string>(event: K, listener: Listener<AllEvents<E>, K>): this;
  /** Adds `listener` before the others, for the next `event` only; returns the emitter. */
  prependOnceListener<K extends keyof AllEvents<E> & string>(event: K, listener: Listener<AllEvents<E>, K>): this;
  /** Removes one registration of `listener` for `event` (Node's `emitter.off`); returns the emitter. */
  off<K extends keyof AllEvents<E> & string>(event: K, listener: Listener<AllEvents<E>, K>): this;
  /** The same as {@link TypedEvents.off}. */
  removeListener<K extends keyof AllEvents<E> & string>(event: K, listener: Listener<AllEvents<E>, K>): this;
  /** Removes every listener of `event`, or of every event when `event` is left out; returns the emitter. */
  removeAllListeners(event?: keyof AllEvents<E> & string): this;
  /**
   * Calls the listeners of `event` with `args`, synchronously, in registration order; true when
   * there was a listener. The package's objects emit their own events: calling this from outside
   * makes listeners see an event that did not happen.
   */
  emit<K extends keyof AllEvents<E> & string>(event: K, ...args: Extract<AllEvents<E>[K], unknown[]>): boolean;
  /** How many listeners `event` has. */
  listenerCount(event: keyof AllEvents<E> & string): number;
  /** A copy of the listeners of `event`. */
  listeners<K extends keyof AllEvents<E> & string>(event: K): Listener<AllEvents<E>, K>[];
  /** A copy of the listeners of `event`, with the wrappers `once` adds. */
  rawListeners<K extends keyof AllEvents<E> & string>(event: K): Listener<AllEvents<E>, K>[];
}

/** An EventEmitter whose listener methods take only the events of `E`. */
export type TypedEmitter<E extends EventMap<E>> = TypedEvents<E> & Omit<EventEmitter, keyof TypedEvents<E>>;

/**
 * The constructor of {@link TypedEmitter}: Node's EventEmitter itself, typed. Classes extend it
 * as `class Irq extends TypedEventEmitter<IrqEventMap>`.
 */
export const TypedEventEmitter = EventEmitter as unknown as {
  /** An emitter with no listeners, which accepts only the events of `E`. */
  new <E extends EventMap<E>>(): TypedEmitter<E>;
};
