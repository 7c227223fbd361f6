// Argument checks for the public API. Each throws before any kernel runs, with a message that
// starts with the argument's name: TypeError for a wrong kind of value, RangeError for a bad size
// or value, Error for a state problem (a disposed tensor).

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an Array';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  if (typeof value === 'string') return `'${value}'`;
  return `${typeof value} ${String(value)}`;
}

export function typeError(name: string, expected: string, value: unknown): TypeError {
  return new TypeError(`${name}: expected ${expected}, got ${describe(value)}`);
}

export function rangeError(name: string, message: string): RangeError {
  return new RangeError(`${name}: ${message}`);
}

export function checkNumber(name: string, value: unknown, test: (v: number) => boolean, expected: string): number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!test(value)) throw rangeError(name, `expected ${expected}, got ${value}`);
  return value;
}

const isPositiveInteger = (v: number): boolean => Number.isInteger(v) && v >= 1;

export function checkPositiveInteger(name: string, value: unknown): number {
  return checkNumber(name, value, isPositiveInteger, 'a positive integer');
}

/**
 * The largest channel, group or feature count (2^24): every count up to it is exact in float32,
 * and one float32 vector of it is 64 MiB, so what a layer allocates per channel stays within
 * what a machine can hold (2^32, the first count that overflows a 32-bit index, is not).
 */
export const MAX_COUNT = 2 ** 24;

/** A positive integer <= MAX_COUNT: a channel, group or feature count that allocation can satisfy. */
export function checkCount(name: string, value: unknown): number {
  return checkNumber(name, value, (v) => Number.isInteger(v) && v >= 1 && v <= MAX_COUNT, `an integer in [1, ${MAX_COUNT}] (2^24)`);
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

export function checkOneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
  const expected = `one of ${choices.map((c) => `'${c}'`).join(', ')}`;  // only to throw: every tensor allocation checks here
  if (typeof value !== 'string') throw typeError(name, expected, value);
  throw rangeError(name, `expected ${expected}, got '${value}'`);
}

/** Throws a RangeError naming the first element that fails `test`. */
export function checkElements(name: string, values: Float32Array, test: (v: number) => boolean, expected: string): void {
  for (let i = 0; i < values.length; ++i)
    if (!test(values[i])) throw rangeError(name, `expected ${expected}, got ${values[i]} at index ${i}`);
}

/** Rejects option names that the operation does not know (a typo would otherwise be ignored). */
export function checkKnownKeys(name: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options))
    if (!known.includes(key) && (options as Record<string, unknown>)[key] !== undefined)
      throw new TypeError(`${name}.${key}: not an option here (known: ${known.join(', ')})`);
}
