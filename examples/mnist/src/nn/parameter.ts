// A trainable array and its gradient. Layers add into `grad` (linked KN layers add the statistics
// path's share into the same array), so the loop zeroes every gradient before each step.
import { Tensor } from 'kalman-norm';
import type { TiedWeight } from 'kalman-norm';

/** Float32 for training; the same kernels run in float64 for finite-difference tests. */
export type Floats = Float32Array | Float64Array;

export class Parameter {
  readonly grad: Float32Array;
  constructor(
    readonly name: string,
    readonly value: Float32Array,
    readonly shape: readonly number[],
    /** Weight decay applies to weights, not to biases, gammas, betas or gains. */
    readonly decay: boolean,
    /** Projects the value back into its domain after an update (a gain into [0, 1]). */
    readonly clamp?: [number, number],
    grad?: Float32Array,
  ) {
    this.grad = grad ?? new Float32Array(value.length);
  }

  /** The weight as a KN link needs it: tensors that share this parameter's memory. */
  tied(): TiedWeight {
    return { value: Tensor.fromArray(this.value, [...this.shape]), grad: Tensor.fromArray(this.grad, [...this.shape]) };
  }
}

/** A layer of the network: forward keeps what backward needs; backward returns dx and adds into its parameters' grads. */
export interface Module {
  readonly parameters: Parameter[];
  /** x has shape [N, ...]; returns the output and its shape. */
  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] };
  backward(dy: Float32Array): Float32Array;
  /** Training (batch statistics) or evaluation; only normalization layers care. */
  setTraining?(training: boolean): void;
}
