// The raw addon, typed in one place. lib/ops adapts it to the public API; nothing else loads it.
import * as path from 'path';

export type Layout = 'NCHW' | 'NHWC';
export type Spread = 'unit' | 'column' | 'scalar';

/** The geometry of one call: see csrc/common/norm_shape.h. */
export interface NativeShape {
  samples: number;
  channels: number;
  spatial: number;
  layout: Layout;
  samplesPerUnit: number;
  channelsPerUnit: number;
}

interface NativeEpilogue extends NativePlacement {
  gamma: Memory | null;
  beta: Memory | null;
  residual: Memory | null;
  relu: boolean;
}

/** Where one call runs: host memory (Float32Array) or device buffers of `dtype`. */
export interface NativePlacement {
  device: 'cpu' | 'cuda';
  dtype: 'float32' | 'float16' | 'bfloat16';
  /** CUDA: the device index, the stream (0n: this package's stream for the device) and, for a training forward, the device int that receives whether the guard fired. */
  deviceIndex?: number;
  stream?: bigint;
  guardFlag?: DeviceBuffer | null;
}

/** GPU memory owned by the addon (or wrapped from another library): see csrc/addon/device_memory.h. */
export interface DeviceBuffer {
  readonly pointer: bigint;
  readonly bytes: number;
  readonly device: number;
  readonly owned: boolean;
  free(): void;
}

/** Host memory (CPU calls) or device memory (CUDA calls). */
export type Memory = Float32Array | DeviceBuffer;

/** The gain and the prior (null when absent), each with how it spreads over the units. */
export interface NativeGainAndPrior {
  gain: Memory;
  gainSpread: Spread;
  priorMean: Memory | null;
  priorMeanSpread: Spread | null;
  priorVar: Memory | null;
  priorVarSpread: Spread | null;
}

export interface NativeTrainingForward extends NativeEpilogue, NativeGainAndPrior {
  shape: NativeShape;
  x: Memory;
  eps: number;
  guard: number;
  /** 0: geometric, 1: mean (GuardStatistic in csrc/common/kalman_norm_math.h). */
  guardStatistic: number;
  y: Memory;
  posteriorMean: Memory;
  posteriorVar: Memory;
  observedMean: Memory;
  observedVar: Memory;
  rstd: Memory;
  runningMean: Memory | null;
  runningVar: Memory | null;
  momentum: number;
  /** With running estimates: per column, set to 1 when its running estimates were left unchanged (non-finite statistics), else 0. */
  runningSkipped: Memory | null;
}

export interface NativeFixedForward extends NativeEpilogue {
  shape: NativeShape;
  x: Memory;
  eps: number;
  mean: Memory;
  var: Memory;
  y: Memory;
  rstd: Memory;
}

export interface NativeBackward extends NativeGainAndPrior, NativePlacement {
  shape: NativeShape;
  x: Memory;
  dy: Memory;
  reluOutput: Memory | null;
  gamma: Memory | null;
  observedMean: Memory;
  observedVar: Memory;
  posteriorMean: Memory;
  rstd: Memory;
  fused: boolean;
  constantStatistics: boolean;
  dMean: Memory | null;
  dVar: Memory | null;
  dx: Memory;
  dResidual: Memory | null;
  dGamma: Memory | null;
  dBeta: Memory | null;
  dPriorMean: Memory | null;
  dPriorVar: Memory | null;
  dGain: Memory | null;
}

export interface NativeAddon {
  /** Returns whether the guard fired. */
  forwardTraining(args: NativeTrainingForward): boolean;
  forwardFixed(args: NativeFixedForward): void;
  backward(args: NativeBackward): void;
  threadCount(): number;
  cudaInfo(): CudaInfo;
  /** Transition ops (csrc/addon/transition_binding.cpp): each takes a NativePlacement plus sizes and float32 buffers. */
  affineMoments(args: NativePlacement & Record<string, unknown>): void;
  affineMomentsBackward(args: NativePlacement & Record<string, unknown>): void;
  reluMoments(args: NativePlacement & Record<string, unknown>): void;
  localChain(args: NativePlacement & Record<string, unknown>): void;
  avgPoolMoments(args: NativePlacement & Record<string, unknown>): void;
  maxPoolMoments(args: NativePlacement & Record<string, unknown>): void;
  groupMoments(args: NativePlacement & Record<string, unknown>): void;
  groupMomentsBackward(args: NativePlacement & Record<string, unknown>): void;
  normalizeMoments(args: NativePlacement & Record<string, unknown>): void;
  normalizeMomentsBackward(args: NativePlacement & Record<string, unknown>): void;
  addMoments(args: NativePlacement & Record<string, unknown>): void;
  gatherColumns(args: NativePlacement & Record<string, unknown>): void;
  columnSums(args: NativePlacement & Record<string, unknown>): void;
  convTransition(args: NativePlacement & Record<string, unknown>): void;
  convTransitionBackward(args: NativePlacement & Record<string, unknown>): void;
  accumulate(args: NativePlacement & Record<string, unknown>): void;
  /** Input statistics and the covariance transition (csrc/addon/covariance_binding.cpp). */
  observeInput(args: NativePlacement & Record<string, unknown>): void;
  lowRankStack(args: NativePlacement & Record<string, unknown>): void;
  lowRankApply(args: NativePlacement & Record<string, unknown>): void;
  quadraticMoments(args: NativePlacement & Record<string, unknown>): void;
  quadraticMomentsBackward(args: NativePlacement & Record<string, unknown>): void;
  /** Host memory only. */
  topEigenvectors(args: { size: number; rank: number; matrix: Float32Array; vectors: Float32Array }): void;
  /** CUDA builds only: device memory. */
  deviceAlloc?(bytes: number, device: number): DeviceBuffer;
  deviceWrap?(pointer: bigint, bytes: number, device: number): DeviceBuffer;
  copyToDevice?(dst: DeviceBuffer, src: Float32Array | Uint16Array | Int32Array, stream: bigint): void;
  copyToHost?(dst: Float32Array | Uint16Array | Int32Array, src: DeviceBuffer, stream: bigint): void;
  copyToHostAsync?(dst: Float32Array | Uint16Array | Int32Array, src: DeviceBuffer, stream: bigint): Promise<void>;
  zeroDevice?(dst: DeviceBuffer, stream: bigint): void;
  copyDeviceToDevice?(dst: DeviceBuffer, src: DeviceBuffer, bytes: number, stream: bigint): void;
  synchronize?(stream: bigint): void;
  /** CUDA builds: a new non-blocking stream, and its end (tests of work on a caller's stream). */
  streamCreate?(): bigint;
  streamDestroy?(stream: bigint): void;
  /** Emulated builds (KN_CUDA=emulate) only: csrc/addon/emulator_binding.cpp. */
  emulatorCounters?(): EmulatorCounters;
  emulatorStreamDelay?(stream: bigint, microseconds: number): void;
  emulatorRaceMode?(on: boolean): void;
}

/** Cumulative counts of the SIMT emulator: kernel launches, device allocations, global-memory bytes read and written by copies, memsets and kernels. */
export interface EmulatorCounters {
  launches: number;
  allocations: number;
  bytesRead: number;
  bytesWritten: number;
}

export interface CudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
}

export interface CudaInfo {
  /** The addon was compiled with the CUDA backend. */
  built: boolean;
  /** The CUDA backend runs on the in-house SIMT emulator (a KN_CUDA=emulate build): the real kernels, on the CPU. */
  emulated: boolean;
  /** A GPU can be used now. */
  available: boolean;
  /** Why not, when it cannot ('' when it can). */
  reason: string;
  devices: CudaDevice[];
}

let addon: NativeAddon | undefined;

/** The package root: lib/ compiles to <root>/dist/lib and, for the tests, <root>/build-test/lib. */
function packageRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

/** Where the addon is loaded from: KN_ADDON_PATH, else build/Release of the package. */
export function addonPath(): string {
  return process.env.KN_ADDON_PATH ?? path.join(packageRoot(), 'build', 'Release', 'kalman_norm.node');
}

/** Loads the addon on first use (KN_ADDON_PATH overrides where it is looked for). */
export function native(): NativeAddon {
  if (!addon) {
    const file = addonPath();
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      addon = require(file) as NativeAddon;
    } catch (error) {
      throw new Error(
        `kalman-norm: cannot load the native addon from ${file} (${(error as Error).message}); ` +
          'run `npm install` (or `npm run build:native`) in the package folder to build it',
      );
    }
  }
  return addon;
}
