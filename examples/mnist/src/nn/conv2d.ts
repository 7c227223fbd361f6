// A 2-D convolution, stride 1, zero padding (kernel - 1) / 2 so H and W are kept ("same"):
// x [N, Ci, H, W], kernel [Co, Ci, K, K], y [N, Co, H, W]. Direct loops: the convnet is tiny.
import { Floats, Module, Parameter } from './parameter';

export interface ConvShape {
  batch: number;
  inChannels: number;
  outChannels: number;
  height: number;
  width: number;
  /** Odd kernel size K. */
  kernel: number;
}

/**
 * Visits every kernel tap of every (sample, output channel, input channel), in that order, with
 * what the tap touches: output pixel (i, j) reads input (i + dy - pad, j + dx - pad), so for rows
 * i in [iLow, iHigh) and columns j in [jLow, jHigh) (the ranges clipped to the image) the output
 * is at out + i * width + j and the input at input + i * width + j. `tap` indexes the kernel.
 */
function forEachTap(
  s: ConvShape,
  visit: (tap: number, out: number, input: number, iLow: number, iHigh: number, jLow: number, jHigh: number) => void,
): void {
  const { batch, inChannels, outChannels, height, width, kernel: k } = s;
  const pad = (k - 1) / 2;
  const plane = height * width;
  for (let n = 0; n < batch; ++n)
    for (let o = 0; o < outChannels; ++o) {
      const out = (n * outChannels + o) * plane;
      for (let c = 0; c < inChannels; ++c) {
        const input = (n * inChannels + c) * plane;
        const taps = (o * inChannels + c) * k * k;
        for (let dy = 0; dy < k; ++dy)
          for (let dx = 0; dx < k; ++dx)
            visit(taps + dy * k + dx, out, input + (dy - pad) * width + dx - pad,
              Math.max(0, pad - dy), Math.min(height, height + pad - dy), Math.max(0, pad - dx), Math.min(width, width + pad - dx));
      }
    }
}

export function conv2dForward(x: Floats, kernel: Floats, y: Floats, s: ConvShape): void {
  const width = s.width;
  y.fill(0);
  forEachTap(s, (tap, out, input, iLow, iHigh, jLow, jHigh) => {
    const w = kernel[tap];
    for (let i = iLow; i < iHigh; ++i) {
      const outRow = out + i * width, inRow = input + i * width;
      for (let j = jLow; j < jHigh; ++j) y[outRow + j] += w * x[inRow + j];
    }
  });
}

/** dx overwritten; dKernel accumulated. */
export function conv2dBackward(dyArr: Floats, x: Floats, kernel: Floats, dx: Floats, dKernel: Floats, s: ConvShape): void {
  const width = s.width;
  dx.fill(0);
  forEachTap(s, (tap, out, input, iLow, iHigh, jLow, jHigh) => {
    const w = kernel[tap];
    let dw = 0;
    for (let i = iLow; i < iHigh; ++i) {
      const outRow = out + i * width, inRow = input + i * width;
      for (let j = jLow; j < jHigh; ++j) {
        const g = dyArr[outRow + j];
        dw += g * x[inRow + j];
        dx[inRow + j] += g * w;
      }
    }
    dKernel[tap] += dw;
  });
}

export class Conv2d implements Module {
  readonly kernel: Parameter;
  readonly parameters: Parameter[];
  private x: Float32Array | null = null;
  private shape: ConvShape | null = null;

  /** He-normal kernel; no bias (a normalization layer follows every convolution here). */
  constructor(readonly inChannels: number, readonly outChannels: number, readonly size: number, normal: () => number) {
    if (size % 2 !== 1) throw new RangeError(`size: expected an odd kernel size, got ${size}`);
    const std = Math.sqrt(2 / (inChannels * size * size));
    const count = outChannels * inChannels * size * size;
    this.kernel = new Parameter('conv.kernel', Float32Array.from({ length: count }, () => std * normal()), [outChannels, inChannels, size, size], true);
    this.parameters = [this.kernel];
  }

  forward(x: Float32Array, shape: readonly number[]): { y: Float32Array; shape: number[] } {
    const [batch, channels, height, width] = shape;
    if (channels !== this.inChannels) throw new RangeError(`x: expected ${this.inChannels} channels, got ${channels}`);
    this.shape = { batch, inChannels: channels, outChannels: this.outChannels, height, width, kernel: this.size };
    this.x = x;
    const y = new Float32Array(batch * this.outChannels * height * width);
    conv2dForward(x, this.kernel.value, y, this.shape);
    return { y, shape: [batch, this.outChannels, height, width] };
  }

  backward(dy: Float32Array): Float32Array {
    if (!this.x || !this.shape) throw new Error('Conv2d.backward: call forward first');
    const dx = new Float32Array(this.x.length);
    conv2dBackward(dy, this.x, this.kernel.value, dx, this.kernel.grad, this.shape);
    return dx;
  }
}
