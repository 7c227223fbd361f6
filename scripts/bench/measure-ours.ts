// Times this package's ops on one shape: KN (a per-channel prior, gain 0.1) or GKN, and this
// package's own BN / GN path (the same op without a prior), for each pass.
import { DType, Layout, Tensor, ops } from '../../lib';
import { BenchShape } from './shapes';
import { Pass } from './traffic';

export type PassTimes = Record<Pass, number>;

/**
 * Median milliseconds of a step; `time` decides how (host clock on the CPU, CUDA events on the
 * GPU). It gets one closure per input set and rotates through them, so that on the GPU the L2
 * cache does not flatter small shapes.
 */
export type Timer = (steps: Array<() => void>) => number;

export interface Inputs {
  x: Tensor;
  dy: Tensor;
  y: Tensor;
  dx: Tensor;
}

/** Random inputs on the device (16-bit dtypes from rounded float32 bits). */
export function makeInputs(shape: BenchShape, layout: Layout, device: 'cpu' | 'cuda', dtype: DType): Inputs {
  const dims = [shape.n, shape.c, shape.hw, shape.hw];
  const size = dims.reduce((a, b) => a * b, 1);
  const random = (): Float32Array | Uint16Array => {
    const values = Float32Array.from({ length: size }, () => Math.random() * 2 - 1 + Math.random());
    if (dtype === 'float32') return values;
    return new Uint16Array(new Uint32Array(values.buffer).map((bits) => (dtype === 'bfloat16' ? bits >>> 16 : toHalfBits(bits))));
  };
  const options = { layout, device, dtype };
  return {
    x: Tensor.fromArray(random(), dims, options),
    dy: Tensor.fromArray(random(), dims, options),
    y: Tensor.zeros(dims, options),
    dx: Tensor.zeros(dims, options),
  };
}

/** float32 bits -> float16 bits, truncating (fine for benchmark data in [-1, 2]). */
function toHalfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;
  return sign | (exponent << 10) | ((bits >>> 13) & 0x3ff);
}

/** `stream`: on the GPU, the stream the ops are queued on (the one the timer's events are recorded on). */
export function measureOurs(shape: BenchShape, sets: Inputs[], withPrior: boolean, time: Timer, stream?: bigint): PassTimes {
  const device = sets[0].x.device;
  const columns = shape.op === 'kn' ? shape.c : shape.groups!;
  const vector = (value: number, length: number) =>
    Tensor.fromArray(new Float32Array(length).fill(value), [length], { device });
  const options = {
    gamma: vector(1, shape.c),
    beta: vector(0, shape.c),
    gain: 0.1,
    prior: withPrior ? { mean: vector(0, columns), var: vector(0.5, columns) } : undefined,
    stream,
  };
  const forward = (inputs: Inputs) => {
    const call = { ...options, out: { y: inputs.y } };
    return shape.op === 'kn' ? ops.kalmanNorm(inputs.x, call) : ops.groupKalmanNorm(inputs.x, { ...call, groups: shape.groups! });
  };
  const backward = (inputs: Inputs, saved: ReturnType<typeof forward>['saved']) =>
    shape.op === 'kn'
      ? ops.kalmanNormBackward(inputs.dy, saved, { out: { dx: inputs.dx }, stream })
      : ops.groupKalmanNormBackward(inputs.dy, saved, { out: { dx: inputs.dx }, stream });
  const saved = sets.map((inputs) => forward(inputs).saved);
  return {
    forward: time(sets.map((inputs) => () => forward(inputs))),
    backward: time(sets.map((inputs, i) => () => backward(inputs, saved[i]))),
    'forward+backward': time(sets.map((inputs) => () => backward(inputs, forward(inputs).saved))),
  };
}
