// 2x2 max pooling, stride 2: x [N, C, H, W] (H, W even), y [N, C, H/2, W/2]. The gradient goes to
// the first largest input of each window.
import { Floats, Module, Parameter } from './parameter';

/** Fills y and, for backward, `argmax` with the flat index into x of each window's maximum. */
export function maxPoolForward(x: Floats, y: Floats, argmax: Int32Array, planes: number, height: number, width: number): void {
  const outH = height >> 1, outW = width >> 1;
  for (let p = 0; p < planes; ++p)
    for (let i = 0; i < outH; ++i)
      for (let j = 0; j < outW; ++j) {
        let best = -Infinity, where = -1;
        for (let di = 0; di < 2; ++di)
          for (let dj = 0; dj < 2; ++dj) {
            const at = (p * height + 2 * i + di) * width + 2 * j + dj;
            if (x[at] > best) { best = x[at]; where = at; }
          }
        const out = (p * outH + i) * outW + j;
        y[out] = best;
        argmax[out] = where;
      }
}

export function maxPoolBackward(dy: Floats, argmax: Int32Array, dx: Floats): void {
  dx.fill(0);
  for (let i = 0; i < dy.length; ++i) dx[argmax[i]] += dy[i];
}

export class MaxPool2 implements Module {
  readonly parameters: Parameter[] = [];
  private argmax = new Int32Array(0);
  private inputLength = 0;

  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] } {
    const [batch, channels, height, width] = shape;
    if (height % 2 || width % 2) throw new RangeError(`x: expected an even height and width, got ${height}x${width}`);
    const outShape = [batch, channels, height / 2, width / 2];
    const y = new Float32Array(x.length / 4);
    if (this.argmax.length !== y.length) this.argmax = new Int32Array(y.length);
    this.inputLength = x.length;
    maxPoolForward(x, y, this.argmax, batch * channels, height, width);
    return { y, shape: outShape };
  }

  backward(dy: Float32Array): Float32Array {
    const dx = new Float32Array(this.inputLength);
    maxPoolBackward(dy, this.argmax, dx);
    return dx;
  }
}
