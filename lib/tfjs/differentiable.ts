// A computation on the host values of tfjs tensors, with its own backward, as one differentiable
// tfjs function (tf.customGrad). customGrad takes one output: several outputs are packed into one
// flat tensor (a copy) and sliced apart again (another, by tfjs); a single output is handed to
// tfjs as it is, without copying on the 'cpu' backend.
import * as tf from '@tensorflow/tfjs';
import { hostValues } from './channels-last';

export interface HostOutput {
  values: Float32Array;
  /** Its tfjs shape. */
  shape: readonly number[];
}

export interface HostStep {
  outputs: HostOutput[];
  /** The gradient with respect to each input (null: zero), from one with respect to each output. */
  backward(gradients: Float32Array[]): (Float32Array | null)[];
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Packs several arrays into one. */
function packed(parts: Float32Array[]): Float32Array {
  const all = new Float32Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

/** Views of `values`, one per shape, in order (no copy). */
function unpacked(values: Float32Array, shapes: readonly (readonly number[])[]): Float32Array[] {
  let offset = 0;
  return shapes.map((shape) => values.subarray(offset, (offset += sizeOf(shape))));
}

/**
 * Runs `step` on the float32 values of `inputs` (named for error messages) and returns its outputs
 * as tfjs tensors whose gradient is `step`'s backward.
 */
export function differentiable(inputs: [string, tf.Tensor][], step: (values: Float32Array[]) => HostStep): tf.Tensor[] {
  let shapes: (readonly number[])[] = [];
  const run = tf.customGrad((() => {
    const { outputs, backward } = step(inputs.map(([name, tensor]) => hostValues(name, tensor)));
    shapes = outputs.map((output) => output.shape);
    const single = outputs.length === 1;
    const value = single ? tf.tensor(outputs[0].values, [...shapes[0]], 'float32') : tf.tensor1d(packed(outputs.map((output) => output.values)));
    const gradFunc = (dy: tf.Tensor): tf.Tensor[] =>
      backward(unpacked(hostValues('dy', dy), shapes)).map((gradient, i) => {
        const like = inputs[i][1];
        return gradient ? tf.tensor(gradient, [...like.shape], 'float32') : tf.zerosLike(like);
      });
    return { value, gradFunc };
  }) as Parameters<typeof tf.customGrad>[0]);
  const value = run(...inputs.map(([, tensor]) => tensor));
  if (shapes.length === 1) return [value];
  let offset = 0;
  return shapes.map((shape) => {
    const part = tf.reshape(tf.slice(value, offset, sizeOf(shape)), [...shape]);
    offset += sizeOf(shape);
    return part;
  });
}
