// Data-parallel training (--sync): which samples of a global batch are this process's, and the
// average of every process's gradients, with the loss riding along, in one all-reduce per step.
import type { Communicator } from 'kalman-norm';
import { Parameter } from './nn/parameter';

/**
 * Process `rank`'s samples of the global batch that starts at `cursor` of the data order: its
 * `batch` consecutive ones, processes in rank order, so that together they hold the batch one
 * process would take at `batch` x processes.
 */
export function rankRows(order: Int32Array, cursor: number, batch: number, rank: number): Int32Array {
  const start = cursor + rank * batch;
  return order.subarray(start, start + batch);
}

/**
 * Each process's gradients are its share of the gradient of the sum of the processes' losses
 * (sync KN hands out such shares too), and each loss is a mean over its own samples, so the mean
 * over processes of the gradients is the gradient of the global batch's mean loss: what one
 * process at the global batch computes.
 */
export class GradientAverage {
  /** Every gradient, then the loss; float64 so that the sum rounds only once, back into float32. */
  private readonly packed: Float64Array;

  constructor(readonly parameters: Parameter[], readonly group: Communicator) {
    this.packed = new Float64Array(parameters.reduce((total, p) => total + p.grad.length, 0) + 1);
  }

  /** Replaces every parameter's gradient by its mean over the processes; returns the mean of `loss`. */
  average(loss: number): number {
    let offset = 0;
    for (const p of this.parameters) {
      this.packed.set(p.grad, offset);
      offset += p.grad.length;
    }
    this.packed[offset] = loss;
    this.group.allReduce(this.packed, 'sum');
    const size = this.group.size;
    offset = 0;
    for (const p of this.parameters) {
      for (let i = 0; i < p.grad.length; ++i) p.grad[i] = this.packed[offset + i] / size;
      offset += p.grad.length;
    }
    return this.packed[offset] / size;
  }
}
