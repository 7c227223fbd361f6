// Small timing helpers shared by the scripts: median wall time of repeated runs, and the memory
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

/**
 * This machine's bandwidth on `floats` floats, on all the pool's threads: a copy (GB/s of bytes
 * read + written; the better of plain and non-temporal stores) and a read-only pass.
 */
export function memoryCeiling(floats: number): { copy: number; read: number } {
  const src = Tensor.zeros([floats]).toArray().fill(1);
  const dst = new Float32Array(floats);
  const plain = medianMs(() => tools().parallelCopy({ dst, src }));
  const streaming = medianMs(() => tools().parallelCopy({ dst, src, streaming: true }));
  const read = medianMs(() => tools().parallelRead({ src }));
  return { copy: gigabytesPerSecond(2 * floats * 4, Math.min(plain, streaming)), read: gigabytesPerSecond(floats * 4, read) };
}

export function gigabytesPerSecond(bytes: number, ms: number): number {
  return bytes / (ms * 1e6);
}
