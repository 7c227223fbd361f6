// The raw addon, typed in one place. lib/ops adapts it to the public API; nothing else loads it.
import * as fs from 'fs';
import * as path from 'path';

export type Layout = 'NCHW' | 'NHWC';
export type Spread = 'unit' | 'column' | 'scalar';

/** The addon's numbers for its enums (csrc/common: Layout, DType, UnitValues::Spread). */
export const LAYOUT_CODE: Record<Layout, number> = { NCHW: 0, NHWC: 1 };
export const DTYPE_CODE: Record<'float32' | 'float16' | 'bfloat16', number> = { float32: 0, float16: 1, bfloat16: 2 };
export const SPREAD_CODE: Record<Spread, number> = { unit: 0, column: 1, scalar: 2 };
/** GuardStatistic in csrc/common/kalman_norm_math.h. */
export const GUARD_STATISTIC_CODE: Record<'geometric' | 'mean', number> = { geometric: 0, mean: 1 };

/** CallPart in csrc/common/kalman_norm_call.h: a whole call, or the halves of a call split at its per-unit sums. */
export const CALL_PART = { whole: 0, sums: 1, finish: 2 } as const;

/** Per-unit sums of a split call: a Float64Array on the CPU, device memory on CUDA. */
export type SumsMemory = Float64Array | DeviceBuffer;

/** The geometry of one call: NormShape in csrc/common/norm_shape.h. */
export interface NativeShape {
  samples: number;
  channels: number;
  spatial: number;
  /** LAYOUT_CODE */
  layout: number;
  samplesPerUnit: number;
  channelsPerUnit: number;
}

/** Where one call runs: host memory (Float32Array) or device buffers of `dtype`. */
/**
 * Every native op's argument: its own fields, and `where` its memory lives. (A nested object, not
 * spread fields: an object literal that begins with a spread costs V8 about 10 µs to build.)
 */
export type Placed<T> = T & { where: NativePlacement };

export interface NativePlacement {
  /** 0: the CPU, 1: CUDA. */
  device: 0 | 1;
  /** DTYPE_CODE of the tensors; statistics are float32. */
  dtype: number;
  /** CUDA: the device index and the stream (0n: this package's stream for the device). */
  deviceIndex?: number;
  stream?: bigint;
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

// The KN/GKN calls: each interface is the struct of the same name in
// csrc/common/kalman_norm_call.h, field for field (camelCase for snake_case).

export interface NativeUnitValues {
  values: Memory;
  /** SPREAD_CODE */
  spread: number;
}

export interface NativeEpilogue {
  gamma: Memory | null;
  beta: Memory | null;
  residual: Memory | null;
  relu: boolean;
}

export interface NativeForwardIO {
  shape: NativeShape;
  x: Memory;
  epilogue: NativeEpilogue;
  eps: number;
  y: Memory;
}

export interface NativeUnitState {
  observedMean: Memory;
  observedVar: Memory;
  posteriorMean: Memory;
  rstd: Memory;
  /** One int: 1 when the guard fired. */
  guardFired: Int32Array | DeviceBuffer;
}

export interface NativeTrainingForward {
  io: NativeForwardIO;
  gain: NativeUnitValues;
  priorMean: NativeUnitValues | null;
  priorVar: NativeUnitValues | null;
  guard: number;
  /** GUARD_STATISTIC_CODE */
  guardStatistic: number;
  state: NativeUnitState;
  mean: Memory;
  var: Memory;
  runningMean: Memory | null;
  runningVar: Memory | null;
  momentum: number;
  /** With running estimates: per column, set to 1 when its running estimates were left unchanged (non-finite statistics), else 0. */
  runningSkipped: Memory | null;
  /** CALL_PART; split calls: `parts` processes' rows of (count, mean, M2) per unit, [parts][units][3] (written by the sums half: one row). */
  part: number;
  parts: number;
  unitMoments: SumsMemory | null;
}

export interface NativeFixedForward {
  io: NativeForwardIO;
  statisticsMean: Memory;
  statisticsVar: Memory;
  state: NativeUnitState;
  mean: Memory;
  var: Memory;
}

export interface NativeBackward {
  shape: NativeShape;
  x: Memory;
  dy: Memory;
  reluOutput: Memory | null;
  gamma: Memory | null;
  state: NativeUnitState;
  gain: NativeUnitValues;
  priorMean: NativeUnitValues | null;
  priorVar: NativeUnitValues | null;
  constantStatistics: boolean;
  dMeanOut: Memory | null;
  dVarOut: Memory | null;
  dx: Memory;
  dResidual: Memory | null;
  dGamma: Memory | null;
  dBeta: Memory | null;
  dPriorMean: Memory | null;
  dPriorVar: Memory | null;
  dGain: Memory | null;
  /** CALL_PART; split calls: `parts` processes' rows of UnitGradientPart per unit, [parts][units][4]; unitSize: a unit's elements over every process. */
  part: number;
  parts: number;
  unitSums: SumsMemory | null;
  unitSize: number;
}

export interface NativeAddon {
  /** csrc/addon/kalman_norm_binding.cpp: the CPU runs the call at once, CUDA queues it on the stream. */
  kalmanNormForwardTraining(args: Placed<NativeTrainingForward>): void;
  kalmanNormForwardFixed(args: Placed<NativeFixedForward>): void;
  kalmanNormBackward(args: Placed<NativeBackward>): void;
  /** The same calls run on a libuv worker thread (CPU; CUDA queues at once and resolves): bad arguments throw at the call. */
  kalmanNormForwardTrainingAsync(args: Placed<NativeTrainingForward>): Promise<void>;
  kalmanNormForwardFixedAsync(args: Placed<NativeFixedForward>): Promise<void>;
  kalmanNormBackwardAsync(args: Placed<NativeBackward>): Promise<void>;
  threadCount(): number;
  cpuVectorWidth(): number;
  cudaInfo(): CudaInfo;
  /** Transition ops (csrc/addon/transition_binding.cpp): each takes `where` plus sizes and float32 buffers. */
  affineMoments(args: Placed<Record<string, unknown>>): void;
  affineMomentsBackward(args: Placed<Record<string, unknown>>): void;
  reluMoments(args: Placed<Record<string, unknown>>): void;
  localChain(args: Placed<Record<string, unknown>>): void;
  avgPoolMoments(args: Placed<Record<string, unknown>>): void;
  maxPoolMoments(args: Placed<Record<string, unknown>>): void;
  groupMoments(args: Placed<Record<string, unknown>>): void;
  groupMomentsBackward(args: Placed<Record<string, unknown>>): void;
  normalizeMoments(args: Placed<Record<string, unknown>>): void;
  normalizeMomentsBackward(args: Placed<Record<string, unknown>>): void;
  addMoments(args: Placed<Record<string, unknown>>): void;
  gatherColumns(args: Placed<Record<string, unknown>>): void;
  columnSums(args: Placed<Record<string, unknown>>): void;
  convTransition(args: Placed<Record<string, unknown>>): void;
  convTransitionBackward(args: Placed<Record<string, unknown>>): void;
  accumulate(args: Placed<Record<string, unknown>>): void;
  /** Input statistics and the covariance transition (csrc/addon/covariance_binding.cpp). */
  observeInput(args: Placed<Record<string, unknown>>): void;
  lowRankStack(args: Placed<Record<string, unknown>>): void;
  lowRankApply(args: Placed<Record<string, unknown>>): void;
  quadraticMoments(args: Placed<Record<string, unknown>>): void;
  quadraticMomentsBackward(args: Placed<Record<string, unknown>>): void;
  /** Host memory only. */
  topEigenvectors(args: { size: number; rank: number; matrix: Float32Array; vectors: Float32Array }): void;
  /** CUDA builds only: device memory. */
  deviceAlloc?(bytes: number, device: number): DeviceBuffer;
  deviceWrap?(pointer: bigint, bytes: number, device: number): DeviceBuffer;
  copyToDevice?(dst: DeviceBuffer, src: Float32Array | Float64Array | Uint16Array | Int32Array, stream: bigint): void;
  copyToHost?(dst: Float32Array | Float64Array | Uint16Array | Int32Array, src: DeviceBuffer, stream: bigint): void;
  copyToHostAsync?(dst: Float32Array | Uint16Array | Int32Array, src: DeviceBuffer, stream: bigint): Promise<void>;
  zeroDevice?(dst: DeviceBuffer, stream: bigint): void;
  copyDeviceToDevice?(dst: DeviceBuffer, src: DeviceBuffer, bytes: number, stream: bigint): void;
  synchronize?(stream: bigint): void;
  /** CUDA builds: a new non-blocking stream, and its end (tests of work on a caller's stream). */
  streamCreate?(): bigint;
  streamDestroy?(stream: bigint): void;
  /** CUDA builds only: whether a training pass that fits on chip runs as one persistent launch (default true). */
  cudaPersistentPasses?(on: boolean): void;
  /** Emulated builds (KN_CUDA=emulate) only: csrc/addon/emulator_binding.cpp. */
  emulatorCounters?(): EmulatorCounters;
  emulatorStreamDelay?(stream: bigint, microseconds: number): void;
  emulatorRaceMode?(on: boolean): void;
}

/**
 * Cumulative counts of the SIMT emulator: kernel launches, device allocations, global-memory bytes
 * read and written by copies, memsets and kernels (a kernel's: its distinct 32-byte sectors),
 * copies between host and device memory, calls that made the host wait for the device
 * (synchronizes, blocking copies and memsets), and the grid syncs of cooperative kernels.
 */
export interface EmulatorCounters {
  launches: number;
  allocations: number;
  bytesRead: number;
  bytesWritten: number;
  hostTransfers: number;
  hostWaits: number;
  gridSyncs: number;
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

/**
 * Where the addon is loaded from: KN_ADDON_PATH, else the source build in build/Release of the
 * package, else the prebuilt addon for this platform in prebuilds/ (node-gyp-build finds it).
 */
export function addonPath(): string {
  if (process.env.KN_ADDON_PATH !== undefined) return process.env.KN_ADDON_PATH;
  const built = path.join(packageRoot(), 'build', 'Release', 'kalman_norm.node');
  return fs.existsSync(built) ? built : (prebuiltPath() ?? built);
}

/** The prebuilt addon that fits this platform, or null when the package has none (then the error names build/Release). */
function prebuiltPath(): string | null {
  try {
    return (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot());
  } catch {
    return null;  // "No native build was found": the load error that follows says how to build one
  }
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
