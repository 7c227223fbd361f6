// The tools addon (tools/native/, built by `npm run build:tools` into build-tools/), typed in one
// place: the benchmark's and the tests' native helpers, which the product addon does not carry.
// It sees the product's GPU memory only as values: device buffers ({ pointer: bigint, bytes }) and
// streams (bigint) that the product made.
import * as path from 'path';
import { NativeShape } from '../lib/binding';

export type ToolLayout = 'NCHW' | 'NHWC';

export interface PlanCoverage {
  items: number;
  chunks: number;
  vectorWidth: number;
  maxSteps: number;
  missed: number;
  repeated: number;
  outOfBounds: number;
  wrongCell: number;
  partialsMissed: number;
  partialsRepeated: number;
}

/** GPU memory as the tools addon reads it: any object with these two fields (a product DeviceBuffer is one). */
export interface DeviceRange {
  readonly pointer: bigint;
  readonly bytes: number;
}

export interface CudnnInfo {
  available: boolean;
  reason: string;
  version: number;
}

/** cuDNN batch norm over all of N: the tensors of `dtype`, the per-channel arrays float32 (c elements). */
export interface CudnnBatchNormArgs {
  pass: 'forward' | 'backward';
  layout: ToolLayout;
  dtype: 'float32' | 'float16' | 'bfloat16';
  n: number;
  c: number;
  h: number;
  w: number;
  eps: number;
  /** A stream from the product's streamCreate() (0n, the product's own stream, is refused). */
  stream: bigint;
  x: DeviceRange;
  y?: DeviceRange;
  dy?: DeviceRange;
  dx?: DeviceRange;
  scale: DeviceRange;
  bias?: DeviceRange;
  dScale?: DeviceRange;
  dBias?: DeviceRange;
  runningMean?: DeviceRange;
  runningVar?: DeviceRange;
  saveMean: DeviceRange;
  saveInvVar: DeviceRange;
}

export interface PoolFailure {
  /** What the caller caught ('' when nothing was thrown). */
  message: string;
  /** Pieces still running when parallel_for returned, and pieces started after it: both 0. */
  runningAtReturn: number;
  startedAfterReturn: number;
  /** Threads of the pool (workers plus the caller). */
  threads: number;
}

export interface ToolsAddon {
  /** The addon was built with its CUDA tools (event timing, the cuDNN peer). */
  readonly cudaBuilt: boolean;
  /** Walks the CUDA launch plan for a shape on the CPU, thread by thread (tools/native/plan_coverage.cpp). */
  planCoverage(args: { shape: NativeShape; vectorWidth: number }): PlanCoverage;
  /** Copies src into dst on a CPU thread pool: the CPU backend's bandwidth ceiling. */
  parallelCopy(args: { dst: Float32Array; src: Float32Array; streaming?: boolean }): void;
  /** Reads src once on the pool; returns its sum (so the reads cannot be dropped). */
  parallelRead(args: { src: Float32Array }): number;
  /** A CPU parallel_for one of whose pieces throws, on the calling thread or on a worker (tools/native/pool_failure.cpp). */
  poolFailure(args: { thrower: 'caller' | 'worker' }): PoolFailure;
  /** CUDA builds: a new event recorded on `stream` (a nonzero cudaStream_t). */
  eventRecord?(stream: bigint): bigint;
  /** CUDA builds: milliseconds between two recorded events; waits for `end`, then destroys both. */
  eventElapsedMs?(start: bigint, end: bigint): number;
  /** CUDA builds: whether cuDNN could be loaded (KN_CUDNN_PATH, else the system's libcudnn). */
  cudnnInfo?(): CudnnInfo;
  /** CUDA builds: one cuDNN batch-norm pass queued on `stream`. */
  cudnnBatchNorm?(args: CudnnBatchNormArgs): void;
}

let addon: ToolsAddon | undefined;

/** Where the tools addon is loaded from: KN_TOOLS_ADDON_PATH, else build-tools/Release of the checkout. */
export function toolsAddonPath(): string {
  // tools/ compiles to <root>/dist/tools and, for the tests, <root>/build-test/tools.
  const root = path.resolve(__dirname, '..', '..');
  return process.env.KN_TOOLS_ADDON_PATH ?? path.join(root, 'build-tools', 'Release', 'kalman_norm_tools.node');
}

/** Loads the tools addon on first use. */
export function tools(): ToolsAddon {
  if (!addon) {
    const file = toolsAddonPath();
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      addon = require(file) as ToolsAddon;
    } catch (error) {
      throw new Error(`kalman-norm: cannot load the tools addon from ${file} (${(error as Error).message}); run \`npm run build:tools\``);
    }
  }
  return addon;
}
