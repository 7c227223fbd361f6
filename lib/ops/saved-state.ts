// What a forward call keeps for its backward call.
import { NativeUnitState, NativeUnitValues, Memory } from '../binding';
import type { Communicator } from '../distributed/communicator';
import type { NormCall } from './norm-call';

/** A forward call without its outputs: what the backward reads. (Keeping `out.saved` would chain every saved state to the one before it.) */
export type SavedCall = Omit<NormCall, 'out'>;

export type NormOp = 'kalmanNorm' | 'groupKalmanNorm';

/** How a forward merged its statistics over processes (KN-SPEC 3d). */
export interface MergedForward {
  /** How many processes' sums it merged. */
  parts: number;
  /** A unit's elements over every process: the M of the backward. */
  unitSize: number;
  /** The group it exchanged them with; null when the caller exchanged them (kalmanNormApply). */
  sync: Communicator | null;
}

/** The call's parameters where the backward reads them (uploaded once on CUDA). */
export interface NativeParameters {
  gamma: Memory | null;
  gain: NativeUnitValues;
  priorMean: NativeUnitValues | null;
  priorVar: NativeUnitValues | null;
}

/**
 * Opaque to users: pass it to the matching backward function. It holds references to x (and to
 * y when the relu epilogue was used); change neither before the backward call. Gamma, the gain
 * and the prior are copied (CUDA tensors excepted: those are read in place). Passed as
 * `out.saved` to a later forward, its state memory is reused by that call, and its own backward
 * then throws.
 */
export class SavedNormalization {
  /** @internal */
  readonly call: SavedCall;
  /** @internal The forward's output (read by the backward of the relu epilogue). */
  readonly y: NormCall['x'];
  /** @internal */
  readonly parameters: NativeParameters;
  /** @internal The per-unit statistics and the guard's decision, written by the forward. */
  readonly state: NativeUnitState;

  /** @internal KN training with running estimates: 1 per channel whose estimates the forward left unchanged. */
  readonly skipped: Memory | null;

  /** @internal Set by a forward whose statistics were merged over processes (merged-run.ts): its backward is merged too. */
  merged: MergedForward | null = null;

  /** @internal Set when a later forward reused `state` (out.saved): this backward would read that call's. */
  reused = false;

  /** @internal */
  constructor(call: SavedCall, y: NormCall['x'], parameters: NativeParameters, state: NativeUnitState, skipped: Memory | null) {
    this.call = call;
    this.y = y;
    this.parameters = parameters;
    this.state = state;
    this.skipped = skipped;
  }

  /** @internal The number of statistic units of the forward call. */
  get units(): number {
    const [rows, cols] = this.call.geometry.unitShape;
    return rows * cols;
  }
}
