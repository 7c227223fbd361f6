// GPU timing and peers: CUDA events around each step (median of at least 20 after warm-up), a
// device-to-device copy as the bandwidth ceiling, and cuDNN batch norm (loaded at run time) as the
// peer for KN rows. The events and cuDNN come from the tools addon (tools/binding.ts), which knows
// the product's streams only by value: every GPU step of the benchmark, ours and the peers', is
// queued on one stream made by the product's streamCreate() (timingStream()).
import { DType, Layout, Tensor } from '../../lib';
import { DeviceBuffer, native } from '../../lib/binding';
import { tools } from '../../tools/binding';
import { Inputs } from './measure-ours';
import { BenchShape } from './shapes';
import { Pass } from './traffic';

const RUNS = 21;
const WARMUP = 3;

let stream: bigint | undefined;

/** The stream every timed GPU step is queued on (made on first use, kept for the process). */
export function timingStream(): bigint {
  stream ??= native().streamCreate!();
  return stream;
}

export function eventTimer(steps: Array<() => void>): number {
  const timing = tools();
  if (!timing.eventRecord || !timing.eventElapsedMs)
    throw new Error('GPU timing needs the tools addon built with CUDA (npm run build:tools where the CUDA toolkit is found)');
  // Inputs are uploaded on the product's own stream: let them land before the first step.
  native().synchronize!(0n);
  for (let i = 0; i < WARMUP; ++i) steps[i % steps.length]();
  const times: number[] = [];
  for (let i = 0; i < RUNS; ++i) {
    const start = timing.eventRecord(timingStream());
    steps[i % steps.length]();
    times.push(timing.eventElapsedMs(start, timing.eventRecord(timingStream())));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** GB/s of a device-to-device copy of `bytes` (read + write). */
export function deviceCopyBandwidth(sets: Inputs[], bytes: number): number {
  const ms = eventTimer(sets.map((s) => () => native().copyDeviceToDevice!(s.dx.memory() as DeviceBuffer, s.x.memory() as DeviceBuffer, bytes, timingStream())));
  return (2 * bytes) / (ms * 1e6);
}

export function cudnnAvailable(): { available: boolean; reason: string } {
  const info = tools().cudnnInfo?.();
  return info ? { available: info.available, reason: info.reason } : { available: false, reason: 'tools addon built without CUDA' };
}

/** cuDNN batch norm forward-training / backward times for a KN shape (BN over all N). */
export function measureCudnn(shape: BenchShape, sets: Inputs[], layout: Layout, dtype: DType): Partial<Record<Pass, number>> {
  const floats = (value: number) => Tensor.fromArray(new Float32Array(shape.c).fill(value), [shape.c], { device: 'cuda' });
  const statistics = { scale: floats(1), bias: floats(0), runningMean: floats(0), runningVar: floats(1), saveMean: floats(0), saveInvVar: floats(1), dScale: floats(0), dBias: floats(0) };
  const device = (tensor: Tensor) => tensor.memory() as DeviceBuffer;
  const memory = Object.fromEntries(Object.entries(statistics).map(([name, tensor]) => [name, device(tensor)])) as Record<keyof typeof statistics, DeviceBuffer>;
  const common = { dtype, layout, n: shape.n, c: shape.c, h: shape.hw, w: shape.hw, eps: 1e-5, stream: timingStream(), ...memory };
  const cudnn = tools();
  const forward = (s: Inputs) => cudnn.cudnnBatchNorm!({ ...common, pass: 'forward', x: device(s.x), y: device(s.y) });
  const backward = (s: Inputs) => cudnn.cudnnBatchNorm!({ ...common, pass: 'backward', x: device(s.x), dy: device(s.dy), dx: device(s.dx) });
  const times = {
    forward: eventTimer(sets.map((s) => () => forward(s))),
    backward: eventTimer(sets.map((s) => () => backward(s))),
    'forward+backward': eventTimer(sets.map((s) => () => { forward(s); backward(s); })),
  };
  native().synchronize!(timingStream());
  for (const tensor of Object.values(statistics)) tensor.dispose();
  return times;
}
