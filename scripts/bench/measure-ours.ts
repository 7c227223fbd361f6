// Times this package's ops on one shape as a training layer runs them: KN (a per-channel prior,
// gain 0.1) or GKN, and this package's own BN / GN path (the same op without a prior), each pass.
import { DType, Layout, Tensor } from '../../lib';
import { layerCalls, layerParameters } from './layer-calls';
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

/**
 * Each pass as a training layer runs it (layer-calls.ts). `stream`: on the GPU, the stream the ops
 * are queued on (the one the timer's events are recorded on).
 */
export function measureOurs(shape: BenchShape, sets: Inputs[], withPrior: boolean, time: Timer, stream?: bigint): PassTimes {
  const parameters = layerParameters(shape, sets[0].x.device, withPrior);
  const calls = sets.map((inputs) => layerCalls(shape, inputs.x, inputs.dy, inputs, parameters.options, stream));
  const times = {
    forward: time(calls.map((call) => () => call.forward())),
    backward: time(calls.map((call) => () => call.backward())),
    'forward+backward': time(calls.map((call) => () => {
      call.forward();
      call.backward();
    })),
  };
  for (const call of calls) call.dispose();
  parameters.dispose();
  return times;
}
