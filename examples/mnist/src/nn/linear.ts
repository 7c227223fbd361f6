// A fully connected layer y = x W^T + b: x [N, I], W [O, I], b [O], y [N, O].
import { Floats, Module, Parameter } from './parameter';

export function linearForward(x: Floats, weight: Floats, bias: Floats | null, y: Floats, batch: number, inputs: number, outputs: number): void {
  for (let n = 0; n < batch; ++n) {
    const row = n * inputs;
    for (let o = 0; o < outputs; ++o) {
      const w = o * inputs;
      let sum = bias ? bias[o] : 0;
      for (let i = 0; i < inputs; ++i) sum += x[row + i] * weight[w + i];
      y[n * outputs + o] = sum;
    }
  }
}

/** dx = dy W (overwritten); dW += dy^T x and db += sum_n dy (accumulated). */
export function linearBackward(
  dy: Floats, x: Floats, weight: Floats, dx: Floats, dWeight: Floats, dBias: Floats | null,
  batch: number, inputs: number, outputs: number,
): void {
  dx.fill(0);
  for (let n = 0; n < batch; ++n) {
    const row = n * inputs;
    for (let o = 0; o < outputs; ++o) {
      const g = dy[n * outputs + o];
      if (dBias) dBias[o] += g;
      const w = o * inputs;
      for (let i = 0; i < inputs; ++i) {
        dx[row + i] += g * weight[w + i];
        dWeight[w + i] += g * x[row + i];
      }
    }
  }
}

export class Linear implements Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly parameters: Parameter[];
  private x: Float32Array | null = null;
  private batch = 0;

  /** He-normal weights from `normal`; no bias when a normalization layer follows (its beta is the bias). */
  constructor(readonly inputs: number, readonly outputs: number, normal: () => number, withBias: boolean) {
    const std = Math.sqrt(2 / inputs);
    this.weight = new Parameter('linear.weight', Float32Array.from({ length: outputs * inputs }, () => std * normal()), [outputs, inputs], true);
    this.bias = withBias ? new Parameter('linear.bias', new Float32Array(outputs), [outputs], false) : null;
    this.parameters = this.bias ? [this.weight, this.bias] : [this.weight];
  }

  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] } {
    this.batch = shape[0];
    this.x = x;
    const y = new Float32Array(this.batch * this.outputs);
    linearForward(x, this.weight.value, this.bias?.value ?? null, y, this.batch, this.inputs, this.outputs);
    return { y, shape: [this.batch, this.outputs] };
  }

  backward(dy: Float32Array): Float32Array {
    if (!this.x) throw new Error('Linear.backward: call forward first');
    const dx = new Float32Array(this.x.length);
    linearBackward(dy, this.x, this.weight.value, dx, this.weight.grad, this.bias?.grad ?? null, this.batch, this.inputs, this.outputs);
    return dx;
  }
}
