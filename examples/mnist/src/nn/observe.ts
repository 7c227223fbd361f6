// Feeds the batches that pass through it into an input node's running estimates (KN-SPEC 3a) in
// training; the data and its gradient pass unchanged. It sits right before the map whose input the
// statistics describe.
import { InputStatistics, Tensor } from 'kalman-norm';
import { Module, Parameter } from './parameter';

export class Observe implements Module {
  readonly parameters: Parameter[] = [];
  private training = true;

  constructor(readonly statistics: InputStatistics) {}

  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] } {
    if (this.training) this.statistics.observe(Tensor.fromArray(x, [...shape]));
    return { y: x, shape: [...shape] };
  }

  backward(dy: Float32Array): Float32Array {
    return dy;
  }

  setTraining(training: boolean): void {
    this.training = training;
  }
}
