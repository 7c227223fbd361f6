// SGD with momentum (the PyTorch form): v = momentum v + g + decay w; w = w - lr v.
import { Parameter } from './parameter';

export interface SgdOptions {
  momentum: number;
  /** L2 weight decay, for parameters marked `decay`. */
  weightDecay: number;
}

export class Sgd {
  private readonly velocity: Float32Array[];

  constructor(readonly parameters: Parameter[], readonly options: SgdOptions) {
    this.velocity = parameters.map((p) => new Float32Array(p.value.length));
  }

  zeroGrad(): void {
    for (const p of this.parameters) p.grad.fill(0);
  }

  step(learningRate: number): void {
    const { momentum, weightDecay } = this.options;
    this.parameters.forEach((p, index) => {
      const v = this.velocity[index];
      const decay = p.decay ? weightDecay : 0;
      for (let i = 0; i < v.length; ++i) {
        v[i] = momentum * v[i] + p.grad[i] + decay * p.value[i];
        p.value[i] -= learningRate * v[i];
      }
      if (p.clamp) {
        const [low, high] = p.clamp;
        for (let i = 0; i < v.length; ++i) p.value[i] = Math.min(high, Math.max(low, p.value[i]));
      }
    });
  }
}
