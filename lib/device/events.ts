// The events a Device emits, by name, with their listeners' arguments.
import { ResetKind } from './reset';

/**
 * The events of a {@link Device}:
 *
 * - `'release-request'` `(count)`: the kernel asks for the device back (vfio-pci's request
 *   interrupt, REQ, e.g. before an unbind or a hot unplug). Delivered only while the REQ index is
 *   enabled; `count` is how many requests arrived since the last event (at least 1). Release the
 *   device (`dev.close()`) soon: the kernel keeps asking until it is closed.
 * - `'reset'` `(kind)`: a reset the device asked for (`dev.reset()` or `dev.hotReset()`)
 *   completed; `kind` is `'function'` or `'hot'`. Device state (registers, config space) is then
 *   the device's reset state.
 * - `'close'` `()`: the device was closed (`dev.close()` or disposal), after every resource
 *   it held was released; emitted once.
 */
export interface DeviceEventMap {
  /** The kernel asks for the device back; `count` requests (at least 1) arrived since the last event. */
  'release-request': [count: number];
  /** A reset requested through this device completed: `'function'` or `'hot'`. */
  reset: [kind: ResetKind];
  /** The device closed; emitted once, after its resources were released. */
  close: [];
}
