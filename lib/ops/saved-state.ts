// What a forward call keeps for its backward call.
import { NativeShape, Spread } from '../binding';
import { Tensor } from '../tensor';
import { SpreadVector } from './arguments';

export type NormOp = 'kalmanNorm' | 'groupKalmanNorm';

/** The gain as given: a number (its gradient comes back as a number) or one value per column. */
export interface GainValues {
  data: Float32Array;
  spread: Spread;
  shape: readonly number[];
  isNumber: boolean;
}

/**
 * Opaque to users: pass it to the matching backward function. It holds references to x (and to
 * y when the relu epilogue was used); change neither before the backward call.
 */
export class SavedNormalization {
  /** @internal */
  constructor(
    readonly op: NormOp,
    readonly shape: NativeShape,
    readonly unitShape: readonly number[],
    readonly x: Tensor,
    readonly reluOutput: Float32Array | null,
    readonly hasResidual: boolean,
    readonly gamma: Float32Array | null,
    readonly hasBeta: boolean,
    readonly gain: GainValues,
    readonly prior: { mean: SpreadVector; var: SpreadVector } | null,
    readonly fused: boolean,
    readonly constantStatistics: boolean,
    readonly observedMean: Float32Array,
    readonly observedVar: Float32Array,
    readonly posteriorMean: Float32Array,
    readonly rstd: Float32Array,
  ) {}

  /** The number of statistic units (the length of dMean and dVar). */
  get units(): number {
    return this.observedMean.length;
  }
}
