import { AssertionError } from 'chai';

/** Floor on the scale, so an all-zero expectation is compared absolutely instead of dividing by zero. */
const SMALLEST_SCALE = 1e-30;

/**
 * |actual - expected| for one element. Equal values (infinities included) and NaN in both count
 * as exact; NaN in only one is infinitely wrong, so it can never pass.
 */
function elementError(actual: number, expected: number): number {
  if (actual === expected) return 0;
  const actualIsNaN = Number.isNaN(actual);
  const expectedIsNaN = Number.isNaN(expected);
  if (actualIsNaN && expectedIsNaN) return 0;
  if (actualIsNaN || expectedIsNaN) return Infinity;
  return Math.abs(actual - expected);
}

/** max |expected_i| over finite entries: an infinity would make every error look relatively zero. */
function scaleOf(expected: ArrayLike<number>): number {
  let scale = SMALLEST_SCALE;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i]));
  }
  return scale;
}

/** Normwise relative error: max_i |a_i - e_i| / max_i |e_i|. Infinity when the lengths differ. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let largest = 0;
  for (let i = 0; i < actual.length; i++) largest = Math.max(largest, elementError(actual[i], expected[i]));
  return largest / scaleOf(expected);
}

/**
 * Throws unless relativeError(actual, expected) <= rtol. The message names the largest error and
 * the first index that fails, with the values there, so a failure says where to look.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  label: string,
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError(`${label}: length ${actual.length}, expected length ${expected.length}`);
  }
  const scale = scaleOf(expected);
  let largestError = 0;
  let largestIndex = -1;
  let firstFailingIndex = -1;
  for (let i = 0; i < actual.length; i++) {
    const error = elementError(actual[i], expected[i]);
    if (error > largestError) {
      largestError = error;
      largestIndex = i;
    }
    if (firstFailingIndex < 0 && error > rtol * scale) firstFailingIndex = i;
  }
  const relative = largestError / scale;
  if (relative <= rtol) return;
  throw new AssertionError(
    `${label}: relative error ${relative} > ${rtol} (max |expected| = ${scale}); ` +
      `largest at [${largestIndex}]: actual ${actual[largestIndex]}, expected ${expected[largestIndex]}; ` +
      `first failing index [${firstFailingIndex}]: ` +
      `actual ${actual[firstFailingIndex]}, expected ${expected[firstFailingIndex]}`,
  );
}
