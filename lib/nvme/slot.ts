// One command id's state on a queue (queue.ts): what settles the command, what goes back to
// its pool when it is over, and its deadline.
import { DmaBlock } from '../index';
import { NvmeCommand } from './command';

/**
 * A command in flight: how to settle it, what to give back when it completes, and its deadline.
 * Deadlines are checked by one timer per queue while commands are in flight: a timer per
 * command cost more than the rest of the submission.
 */
export class Slot {
  resolve: ((value: unknown) => void) | undefined = undefined;
  reject: ((e: Error) => void) | undefined = undefined;
  cmd: NvmeCommand | undefined = undefined;
  pages: DmaBlock[] | undefined = undefined;
  /** Undoes the pin of the caller's block the device reads or writes in place (at release). */
  unpin: (() => void) | undefined = undefined;
  /** performance.now() after which the command has timed out. */
  deadline = 0;
  /** Which submission into this slot (tells a late look at the slot whether it is the same command). */
  seq = 0;
  timedOut = false;
  /**
   * Runs on success, before the pages are given back (a read copies its data out here); the
   * promise resolves to what it returns.
   */
  onSuccess: ((dw0: number) => unknown) | undefined = undefined;
  /** The caller was told it failed (timeout) but the controller may still use its pages. */
  abandoned = false;
}
