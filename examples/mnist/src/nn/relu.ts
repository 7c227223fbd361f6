// relu(x) = max(0, x), elementwise; its gradient passes where x > 0.
import { Floats, Module, Parameter } from './parameter';

export function reluForward(x: Floats, y: Floats): void {
  for (let i = 0; i < x.length; ++i) y[i] = x[i] > 0 ? x[i] : 0;
}

export function reluBackward(dy: Floats, x: Floats, dx: Floats): void {
  for (let i = 0; i < x.length; ++i) dx[i] = x[i] > 0 ? dy[i] : 0;
}

export class Relu implements Module {
  readonly parameters: Parameter[] = [];
  private x: Float32Array | null = null;

  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] } {
    this.x = x;
    const y = new Float32Array(x.length);
    reluForward(x, y);
    return { y, shape: [...shape] };
  }

  backward(dy: Float32Array): Float32Array {
    if (!this.x) throw new Error('Relu.backward: call forward first');
    const dx = new Float32Array(dy.length);
    reluBackward(dy, this.x, dx);
    return dx;
  }
}

/** [N, C, H, W] to [N, C*H*W]: the data does not move. */
export class Flatten implements Module {
  readonly parameters: Parameter[] = [];
  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] } {
    return { y: x, shape: [shape[0], shape.slice(1).reduce((a, b) => a * b, 1)] };
  }
  backward(dy: Float32Array): Float32Array {
    return dy;
  }
}
