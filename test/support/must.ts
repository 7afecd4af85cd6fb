// A value a test needs to go on (a lookup's hit, a captured callback argument, a regex match): the
// test fails with an error naming what was missing instead of reading through an absent value.

/** `value` when it is neither null nor undefined; otherwise throws an Error naming `what`. */
export function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`expected ${what}, found ${String(value)}`);
  return value;
}
