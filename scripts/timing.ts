// Small timing helpers shared by the scripts: median wall time of repeated runs, and the copy
// bandwidth of this machine measured the same way.
import { Tensor } from '../lib';
import { tools } from '../tools/binding';

/** Median milliseconds of `runs` calls of `fn`, after `warmup` untimed calls. */
export function medianMs(fn: () => void, runs = 20, warmup = 3): number {
  for (let i = 0; i < warmup; ++i) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; ++i) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** GB/s of a multi-threaded memory copy of `floats` floats (bytes read + bytes written). */
export function copyBandwidth(floats: number): number {
  const src = Tensor.zeros([floats]).toArray().fill(1);
  const dst = new Float32Array(floats);
  const ms = medianMs(() => tools().parallelCopy({ dst, src }));
  return gigabytesPerSecond(2 * floats * 4, ms);
}

export function gigabytesPerSecond(bytes: number, ms: number): number {
  return bytes / (ms * 1e6);
}
