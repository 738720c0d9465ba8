import { AmberError } from '../../src/core/amber-error.js';

/** The AmberError `fn` throws; fails the test (by throwing) when it throws nothing or something else. */
export function thrown(fn: () => unknown): AmberError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AmberError) return e;
    throw e;
  }
  throw new Error('expected an AmberError, nothing was thrown');
}

/** The AmberError `p` rejects with. */
export async function rejected(p: Promise<unknown>): Promise<AmberError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AmberError) return e;
    throw e;
  }
  throw new Error('expected an AmberError, the promise resolved');
}
