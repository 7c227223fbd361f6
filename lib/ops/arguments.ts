// Turning the public API's arguments into checked buffers for the addon.
import { Spread } from '../binding';
import { checkElements, rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';

/** A vector of statistics or parameters: a Float32Array or a Tensor holding one. */
export type StatVector = Float32Array | Tensor;

/** A checked, live tensor (not disposed), with its data. */
export function checkTensor(name: string, value: unknown): Float32Array {
  if (!(value instanceof Tensor)) throw typeError(name, 'a Tensor', value);
  if (value.disposed) throw new Error(`${name}: the tensor has been disposed`);
  return value.toArray();
}

/** A tensor that must have exactly the shape, layout and device of `like`. */
export function checkTensorLike(name: string, value: unknown, like: Tensor, likeName: string): Float32Array {
  const data = checkTensor(name, value);
  const tensor = value as Tensor;
  if (tensor.device !== like.device)
    throw rangeError(name, `expected a tensor on ${likeName}'s device '${like.device}', got '${tensor.device}'`);
  if (tensor.shape.length !== like.shape.length || tensor.shape.some((size, i) => size !== like.shape[i]))
    throw rangeError(name, `expected shape [${like.shape.join(', ')}] like ${likeName}, got [${tensor.shape.join(', ')}]`);
  if (tensor.layout !== like.layout)
    throw rangeError(name, `expected layout '${like.layout}' like ${likeName}, got '${tensor.layout}'`);
  return data;
}

/** The memory of a StatVector, and the shape to give gradients flowing back into it. */
export interface Vector {
  data: Float32Array;
  shape: readonly number[];
}

/** A StatVector of exactly `length` elements; on `device` when it is a Tensor. */
export function checkVector(name: string, value: unknown, length: number, expected: string): Vector {
  if (value instanceof Float32Array) {
    if (value.length !== length) throw rangeError(name, `expected ${expected} (${length} values), got ${value.length}`);
    return { data: value, shape: [length] };
  }
  if (value instanceof Tensor) {
    const data = checkTensor(name, value);
    if (data.length !== length)
      throw rangeError(name, `expected ${expected} (${length} values), got shape [${value.shape.join(', ')}]`);
    return { data, shape: value.shape };
  }
  throw typeError(name, 'a Float32Array or a Tensor', value);
}

/** A StatVector given either per unit ([rows, cols]) or per column ([cols], broadcast over rows). */
export interface SpreadVector extends Vector {
  spread: Spread;
}

export function checkUnitOrColumnVector(
  name: string,
  value: unknown,
  unitShape: readonly [number, number],
  columnName: string,
): SpreadVector {
  const [rows, cols] = unitShape;
  const expected = `per unit [${rows}, ${cols}] or per ${columnName} [${cols}]`;
  const length = value instanceof Float32Array ? value.length : value instanceof Tensor ? value.size : -1;
  const perColumn = length === cols && !(value instanceof Tensor && value.shape.length === 2);
  const vector = checkVector(name, value, perColumn ? cols : rows * cols, expected);
  return { ...vector, spread: perColumn ? 'column' : 'unit' };
}

/** Rejects NaN and values outside [low, high]. */
export function checkVectorRange(name: string, vector: Vector, low: number, high: number): void {
  checkElements(name, vector.data, (v) => v >= low && v <= high, `values in [${low}, ${high}]`);
}

/** Rejects negative values (NaN is data and passes through, like arithmetic would). */
export function checkNonNegative(name: string, vector: Vector): void {
  checkElements(name, vector.data, (v) => !(v < 0), 'non-negative variances');
}

/** A caller-provided output tensor of exactly `shape` (any layout), or a new one. */
export function outputVector(name: string, value: unknown, shape: readonly number[]): Tensor {
  if (value === undefined) return Tensor.zeros(shape);
  const data = checkTensor(name, value);
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size)
    throw rangeError(name, `expected ${size} values (shape [${shape.join(', ')}]), got shape [${(value as Tensor).shape.join(', ')}]`);
  return value as Tensor;
}

/** True when two arrays share any byte of memory. */
export function overlaps(a: Float32Array, b: Float32Array): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
