// Between tfjs tensors and this package's: a tfjs channels-last tensor [N, ...spatial, C] is this
// package's logical [N, C, ...spatial] in 'NHWC' memory order, so the values need no reordering.
// On tfjs's 'cpu' backend dataSync() returns the tensor's own storage and tf.tensor() keeps the
// array it is given, so neither direction copies; other backends copy in both (docs/TFJS.md).
import * as tf from '@tensorflow/tfjs';

/** The float32 values of a tfjs tensor (on the 'cpu' backend its own storage: read, never write). */
export function hostValues(name: string, tensor: tf.Tensor): Float32Array {
  if (tensor.dtype !== 'float32') throw new TypeError(`${name}: expected a float32 tensor, got ${tensor.dtype}`);
  return tensor.dataSync() as Float32Array;
}

/** This package's logical shape [N, C, ...spatial] of a tfjs channels-last shape [N, ...spatial, C]. */
export function channelsFirstShape(shape: readonly number[]): number[] {
  const [samples, ...rest] = shape;
  const channels = rest.pop()!;
  return [samples, channels, ...rest];
}
