import { EmulatorCounters, native } from './binding';

/** Threads the CPU backend spreads large tensors over (KN_NUM_THREADS overrides). */
export function threadCount(): number {
  return native().threadCount();
}

/**
 * Floats per vector in the CPU backend's loops: 8 (AVX2) where the CPU has AVX2, else 4 (SSE2).
 * Results have the same bits at either width. KN_CPU_VECTOR_WIDTH=4 keeps the 4-float loops.
 */
export function cpuVectorWidth(): number {
  return native().cpuVectorWidth();
}

/** What the CUDA backend did, where it can tell: the emulated build (KN_CUDA=emulate) only. */
export const diagnostics = {
  /**
   * Cumulative counts since the process started: kernel launches, device allocations, global
   * memory bytes read and written by copies, memsets and kernels (a kernel's: 32 for each distinct
   * 32-byte sector it read or wrote, what a GPU moves to and from DRAM when its caches hold the
   * kernel's footprint), copies between host and device, host waits, and grid syncs. Throws outside
   * an emulated build.
   */
  counters(): EmulatorCounters {
    const addon = native();
    if (!addon.emulatorCounters) throw new Error('diagnostics.counters: only an emulated CUDA build (KN_CUDA=emulate) counts');
    return addon.emulatorCounters();
  },
};
