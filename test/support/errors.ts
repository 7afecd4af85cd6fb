// What a call threw or a promise rejected with, for a test to assert on its fields (code, errno,
// hint, device). Each fails the test when nothing is thrown: a test that expects an error must
// not pass when the error never comes.
import type { VfioError } from '../../lib';

/** What `f` threw (typed as a VfioError unless told otherwise); fails when `f` returns. */
export function thrown<E = VfioError>(f: () => unknown): E {
  try {
    f();
  } catch (e) {
    return e as E;
  }
  throw new Error('expected an error');
}

/**
 * What `p` rejects with; a function is called first, and what it throws counts as its
 * rejection. Fails when the promise resolves.
 */
export async function rejection<E = VfioError>(p: Promise<unknown> | (() => unknown)): Promise<E> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as E;
  }
  throw new Error('expected an error');
}
