// The raw addon, typed in one place. lib/ops adapts it to the public API; nothing else loads it.
import * as path from 'path';

export type Layout = 'NCHW' | 'NHWC';
export type Spread = 'unit' | 'column' | 'scalar';

/** The geometry of one call: see csrc/cpu/norm_shape.h. */
export interface NativeShape {
  samples: number;
  channels: number;
  spatial: number;
  layout: Layout;
  samplesPerUnit: number;
  channelsPerUnit: number;
}

interface NativeEpilogue {
  gamma: Float32Array | null;
  beta: Float32Array | null;
  residual: Float32Array | null;
  relu: boolean;
}

/** The gain and the prior (null when absent), each with how it spreads over the units. */
export interface NativeGainAndPrior {
  gain: Float32Array;
  gainSpread: Spread;
  priorMean: Float32Array | null;
  priorMeanSpread: Spread | null;
  priorVar: Float32Array | null;
  priorVarSpread: Spread | null;
}

export interface NativeTrainingForward extends NativeEpilogue, NativeGainAndPrior {
  shape: NativeShape;
  x: Float32Array;
  eps: number;
  guard: number;
  y: Float32Array;
  posteriorMean: Float32Array;
  posteriorVar: Float32Array;
  observedMean: Float32Array;
  observedVar: Float32Array;
  rstd: Float32Array;
  runningMean: Float32Array | null;
  runningVar: Float32Array | null;
  momentum: number;
}

export interface NativeFixedForward extends NativeEpilogue {
  shape: NativeShape;
  x: Float32Array;
  eps: number;
  mean: Float32Array;
  var: Float32Array;
  y: Float32Array;
  rstd: Float32Array;
}

export interface NativeBackward extends NativeGainAndPrior {
  shape: NativeShape;
  x: Float32Array;
  dy: Float32Array;
  reluOutput: Float32Array | null;
  gamma: Float32Array | null;
  observedMean: Float32Array;
  observedVar: Float32Array;
  posteriorMean: Float32Array;
  rstd: Float32Array;
  fused: boolean;
  constantStatistics: boolean;
  dMean: Float32Array | null;
  dVar: Float32Array | null;
  dx: Float32Array;
  dResidual: Float32Array | null;
  dGamma: Float32Array | null;
  dBeta: Float32Array | null;
  dPriorMean: Float32Array | null;
  dPriorVar: Float32Array | null;
  dGain: Float32Array | null;
}

export interface NativeAddon {
  /** Returns whether the guard fired. */
  forwardTraining(args: NativeTrainingForward): boolean;
  forwardFixed(args: NativeFixedForward): void;
  backward(args: NativeBackward): void;
  threadCount(): number;
  parallelCopy(args: { dst: Float32Array; src: Float32Array }): void;
}

let addon: NativeAddon | undefined;

/** The package root: lib/ compiles to <root>/dist/lib and, for the tests, <root>/build-test/lib. */
function packageRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

/** Loads the addon on first use (KN_ADDON_PATH overrides where it is looked for). */
export function native(): NativeAddon {
  if (!addon) {
    const file = process.env.KN_ADDON_PATH ?? path.join(packageRoot(), 'build', 'Release', 'kalman_norm.node');
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
