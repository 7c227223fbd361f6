// A KalmanNorm / GroupKalmanNorm layer of kalman-norm as a module of the training loop: wraps the
// loop's Float32Arrays as tensors (no copy) and exposes gamma, beta and (when linked) the gain as
// parameters. The layer's outputs are tensors it reuses from step to step, so they are copied out.
import { GroupKalmanNorm, KalmanNorm, NormalizationLayer, Tensor } from 'kalman-norm';
import { Module, Parameter } from './parameter';

export class Norm implements Module {
  readonly parameters: Parameter[];
  private shape: number[] = [];

  /** `learnGain`: the gain only has a gradient when the layer has a prior (a linked layer). */
  constructor(readonly layer: NormalizationLayer, learnGain: boolean) {
    const { gamma, beta, gain, grad } = layer;
    if (!gamma || !beta || !grad.gamma || !grad.beta) throw new RangeError('layer: expected an affine layer (gamma and beta)');
    const c = [layer.channels];
    this.parameters = [
      new Parameter('norm.gamma', gamma.toArray(), c, false, undefined, grad.gamma.toArray()),
      new Parameter('norm.beta', beta.toArray(), c, false, undefined, grad.beta.toArray()),
    ];
    if (learnGain) this.parameters.push(new Parameter('norm.gain', gain.toArray(), gain.shape, false, [0, 1], grad.gain.toArray()));
  }

  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] } {
    this.shape = [...shape];
    const result = this.layer.forward(Tensor.fromArray(x, this.shape));
    return { y: result.y.toArray().slice(), shape: [...shape] };
  }

  backward(dy: Float32Array): Float32Array {
    return this.layer.backward(Tensor.fromArray(dy, this.shape)).dx.toArray().slice();
  }

  /**
   * KN evaluates with its running estimates. GKN computes the same thing in training and in
   * evaluation (each sample has its own statistics), and staying in training mode keeps a linked
   * layer's prior in use, so GKN layers ignore this.
   */
  setTraining(training: boolean): void {
    if (this.layer instanceof KalmanNorm) {
      if (training) this.layer.train();
      else this.layer.eval();
    } else if (!(this.layer instanceof GroupKalmanNorm)) throw new TypeError('layer: expected a KalmanNorm or GroupKalmanNorm');
  }
}
