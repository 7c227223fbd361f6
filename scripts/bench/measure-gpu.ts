// GPU timing and peers: CUDA events around each step (median of at least 20 after warm-up), a
// device-to-device copy as the bandwidth ceiling, and cuDNN batch norm (loaded at run time) as the
// peer for KN rows.
import { DType, Layout, Tensor } from '../../lib';
import { DTYPE_CODE, DeviceBuffer, native } from '../../lib/binding';
import { Inputs } from './measure-ours';
import { BenchShape } from './shapes';
import { Pass } from './traffic';

const RUNS = 21;
const WARMUP = 3;

export function eventTimer(steps: Array<() => void>): number {
  const addon = native();
  for (let i = 0; i < WARMUP; ++i) steps[i % steps.length]();
  const times: number[] = [];
  for (let i = 0; i < RUNS; ++i) {
    const start = addon.eventRecord!(0n);
    steps[i % steps.length]();
    times.push(addon.eventElapsedMs!(start, addon.eventRecord!(0n)));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** GB/s of a device-to-device copy of `bytes` (read + write). */
export function deviceCopyBandwidth(sets: Inputs[], bytes: number): number {
  const ms = eventTimer(sets.map((s) => () => native().copyDeviceToDevice!(s.dx.memory() as DeviceBuffer, s.x.memory() as DeviceBuffer, bytes, 0n)));
  return (2 * bytes) / (ms * 1e6);
}

export function cudnnAvailable(): { available: boolean; reason: string } {
  const info = native().cudnnInfo?.();
  return info ? { available: info.available, reason: info.reason } : { available: false, reason: 'built without CUDA' };
}

/** cuDNN batch norm forward-training / backward times for a KN shape (BN over all N). */
export function measureCudnn(shape: BenchShape, sets: Inputs[], layout: Layout, dtype: DType): Partial<Record<Pass, number>> {
  const floats = (value: number) => Tensor.fromArray(new Float32Array(shape.c).fill(value), [shape.c], { device: 'cuda' });
  const statistics = { scale: floats(1), bias: floats(0), runningMean: floats(0), runningVar: floats(1), saveMean: floats(0), saveInvVar: floats(1), dScale: floats(0), dBias: floats(0) };
  const memory = Object.fromEntries(Object.entries(statistics).map(([name, tensor]) => [name, tensor.memory()]));
  const common = { device: 1 as const, dtype: DTYPE_CODE[dtype], layout, n: shape.n, c: shape.c, h: shape.hw, w: shape.hw, eps: 1e-5, stream: 0n, ...memory };
  const forward = (s: Inputs) => native().cudnnBatchNorm!({ ...common, pass: 'forward', x: s.x.memory(), y: s.y.memory() });
  const backward = (s: Inputs) => native().cudnnBatchNorm!({ ...common, pass: 'backward', x: s.x.memory(), dy: s.dy.memory(), dx: s.dx.memory() });
  return {
    forward: eventTimer(sets.map((s) => () => forward(s))),
    backward: eventTimer(sets.map((s) => () => backward(s))),
    'forward+backward': eventTimer(sets.map((s) => () => { forward(s); backward(s); })),
  };
}
