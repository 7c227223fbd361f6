// Small timing helpers shared by the scripts: median wall time of repeated runs, and the memory
// bandwidth of this machine measured the same way.
import { Tensor } from '../lib';
import { tools } from '../tools/binding';

/**
 * How long a step is timed: untimed calls for at least `warmupMs` (and at least 3), then timed calls
 * for at least `sampleMs` (and at least `minRuns`, at most MAX_RUNS), their median reported. A
 * short step gets more calls: 20 calls of a 0.1 ms step sampled 2 ms of a noisy machine, which
 * moved rows of the CPU benchmark by 30% from run to run. scripts/bench/torch_peer.py follows the
 * same rule.
 */
export interface Sampling {
  minRuns: number;
  sampleMs: number;
  warmupMs: number;
}

export const DEFAULT_SAMPLING: Sampling = { minRuns: 20, sampleMs: 100, warmupMs: 30 };
const MIN_WARMUP_CALLS = 3;
const MAX_RUNS = 10_000;

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Median milliseconds of a call of `fn`, sampled as `sampling` says. */
export function medianMs(fn: () => void, sampling: Sampling = DEFAULT_SAMPLING): number {
  const warmupStart = nowMs();
  let calls = 0;
  while (calls < MIN_WARMUP_CALLS || nowMs() - warmupStart < sampling.warmupMs) {
    fn();
    calls += 1;
  }
  const perCall = (nowMs() - warmupStart) / calls;
  const runs = Math.min(MAX_RUNS, Math.max(sampling.minRuns, Math.ceil(sampling.sampleMs / perCall)));
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
