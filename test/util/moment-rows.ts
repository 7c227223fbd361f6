// Statistic rows for the transition tests: random float32-exact moments, tensors of them, and a
// normwise comparison with the float64 reference.
import { expect } from 'chai';
import { Tensor } from '../../lib';
import { Moments } from '../reference/transition-reference';
import { assertClose } from './assert-close';
import { Random, randomArray } from './random';

/** float32 op against the float64 reference: normwise relative error. */
export const FORWARD_RTOL = 1e-5;

export function matrix(values: ArrayLike<number>, rows: number, columns: number): Tensor {
  return Tensor.fromArray(new Float32Array(values), [rows, columns]);
}

/** Means N(offset, 1.5^2) and variances in [0.2, 2], rounded to float32 so op and reference see the same inputs. */
export function randomMoments(rng: Random, rows: number, columns: number, offset = 0): Moments {
  const size = rows * columns;
  return {
    rows,
    columns,
    mean: randomArray(rng, size, { mean: offset, std: 1.5 }).map(Math.fround),
    var: Float64Array.from({ length: size }, () => Math.fround(0.2 + 1.8 * rng.uniform())),
  };
}

export function tensorsOf(x: Moments): [Tensor, Tensor] {
  return [matrix(x.mean, x.rows, x.columns), matrix(x.var, x.rows, x.columns)];
}

export function expectMomentsClose(actual: { mean: Tensor; var: Tensor }, expected: Moments, label: string): void {
  expect(actual.mean.shape, `${label}: shape`).to.deep.equal([expected.rows, expected.columns]);
  assertClose(actual.mean.toArray(), expected.mean, FORWARD_RTOL, `${label}: mean`);
  assertClose(actual.var.toArray(), expected.var, FORWARD_RTOL, `${label}: var`);
}
