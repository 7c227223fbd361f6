// What a forward call keeps for its backward call.
import { DeviceBuffer, Memory, NativeShape, Spread } from '../binding';
import { Tensor } from '../tensor';
import { SpreadVector } from './arguments';

export type NormOp = 'kalmanNorm' | 'groupKalmanNorm';

/** The gain as given: a number (its gradient comes back as a number) or one value per column. */
export interface GainValues {
  memory: Memory;
  spread: Spread;
  shape: readonly number[];
  isNumber: boolean;
}

/** The forward's per-unit state, on the device of the call. */
export interface UnitState {
  observedMean: Memory;
  observedVar: Memory;
  posteriorMean: Memory;
  rstd: Memory;
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
    readonly units: number,
    readonly x: Tensor,
    readonly reluOutput: Tensor | null,
    readonly hasResidual: boolean,
    readonly gamma: Memory | null,
    readonly hasBeta: boolean,
    readonly gain: GainValues,
    readonly prior: { mean: SpreadVector & { memory: Memory }; var: SpreadVector & { memory: Memory } } | null,
    /** CPU: whether the prior was used. CUDA: decided on the device from guardFlag. */
    readonly fused: boolean,
    readonly guardFlag: DeviceBuffer | null,
    readonly constantStatistics: boolean,
    readonly state: UnitState,
  ) {}
}
