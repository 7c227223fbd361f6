// Between tfjs tensors and this package's: a tfjs channels-last tensor [N, ...spatial, C] is this
// package's logical [N, C, ...spatial] in 'NHWC' memory order, so the values need no reordering.
// On tfjs's 'cpu' backend dataSync() returns the tensor's own storage and tf.tensor() keeps the
// array it is given, so neither direction copies; other backends copy in both (docs/TFJS.md).
import * as tf from '@tensorflow/tfjs';
import { Tensor } from '../tensor';

/** The float32 values of a tfjs tensor (on the 'cpu' backend its own storage: read, never write). */
export function hostValues(name: string, tensor: tf.Tensor): Float32Array {
  if (tensor.dtype !== 'float32') throw new TypeError(`${name}: expected a float32 tensor, got ${tensor.dtype}`);
  return tensor.dataSync() as Float32Array;
}

/** A tfjs channels-last tensor as this package's tensor over the same values. */
export function fromChannelsLast(name: string, tensor: tf.Tensor): Tensor {
  const [samples, ...rest] = tensor.shape;
  const channels = rest.pop()!;
  return Tensor.fromArray(hostValues(name, tensor), [samples, channels, ...rest], { layout: 'NHWC' });
}

/** A tfjs tensor of `shape` that takes over `tensor`'s array (the package tensor must not be reused). */
export function toTf(tensor: Tensor, shape: readonly number[]): tf.Tensor {
  return tf.tensor(tensor.toArray(), [...shape], 'float32');
}
