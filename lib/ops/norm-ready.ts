// Making one parsed KN/GKN call (norm-call.ts) ready to run: the memory the call writes, its
// parameters where the device reads them, and the one native call's argument
// (csrc/addon/kalman_norm_binding.cpp), which mirrors the C++ struct field for field. norm-run.ts
// runs it (at once, or on a worker thread); merged-run.ts runs it in two halves.
import {
  CALL_PART,
  GUARD_STATISTIC_CODE,
  Memory,
  Placed,
  NativeBackward,
  NativeFixedForward,
  NativeForwardIO,
  NativeTrainingForward,
  NativeUnitState,
  NativeUnitValues,
  SPREAD_CODE,
  Spread,
  native,
} from '../binding';
import { Tensor } from '../tensor';
import { Vector, vectorMemory } from './arguments';
import { CallDevice, readFlag, setScalar } from './call-device';
import { NormBackwardCall, NormCall } from './norm-call';
import { NormGradients, NormResult } from './normalization';
import { NativeParameters, SavedCall, SavedNormalization } from './saved-state';

/**
 * The vector where the forward and its backward read it: a copy on both backends (uploaded on
 * CUDA, copied on the CPU), so that changing the caller's array between forward and backward
 * cannot change the gradient. A CUDA tensor is read in place (copying it would cost a launch).
 * On the CPU the copy goes into `reuse` when it has the length: the copy of the same parameter
 * kept by the saved state this call reuses (out.saved), whose backward can no longer run.
 */
function keptMemory(vector: Vector, device: CallDevice, reuse: Memory | null | undefined): Memory {
  if (device.onGpu) return vectorMemory(vector, device);
  const host = vector.host!;
  if (reuse instanceof Float32Array && reuse.length === host.length) {
    reuse.set(host);
    return reuse;
  }
  return host.slice();
}

function unitValues(vector: Vector, spread: Spread, device: CallDevice, reuse: NativeUnitValues | null | undefined): NativeUnitValues {
  return { values: keptMemory(vector, device, reuse?.values), spread: SPREAD_CODE[spread] };
}

/**
 * The gamma, gain and prior of the call on its device, kept for the backward (in the memory of
 * `reuse`, the parameters of the saved state whose memory the call took over, where it fits).
 * Inference ignores the prior.
 */
function nativeParameters(call: NormCall, reuse: NativeParameters | null): NativeParameters {
  const device = call.device;
  const prior = call.mode === 'training' ? call.prior : null;
  return {
    gamma: call.gamma && keptMemory(call.gamma, device, reuse?.gamma),
    gain: unitValues(call.gain.vector, call.gain.spread, device, reuse?.gain),
    priorMean: prior && unitValues(prior.mean, prior.mean.spread, device, reuse?.priorMean),
    priorVar: prior && unitValues(prior.var, prior.var.spread, device, reuse?.priorVar),
  };
}

/**
 * What a forward writes besides its outputs: the per-unit state, and the running estimates'
 * skipped flags (KN training with them); `reused`: the parameters of the saved state whose memory
 * it took over (their copies are made in place too).
 */
interface ForwardMemory {
  state: NativeUnitState;
  skipped: Memory | null;
  reused: NativeParameters | null;
}

/**
 * out.saved's memory when it has the right sizes and device and still owns it (its backward then
 * throws: the state it needs is this call's now), so a layer's steady state allocates nothing;
 * otherwise new memory.
 */
function forwardMemory(call: NormCall): ForwardMemory {
  const [rows, cols] = call.geometry.unitShape;
  const units = rows * cols;
  const device = call.device;
  const needsSkipped = call.mode === 'training' && call.running !== null;
  const reuse = call.out.saved;
  if (reuse && !reuse.reused && reuse.units === units && reuse.call.device.device === device.device) {
    reuse.reused = true;
    const skippedFits = reuse.skipped !== null && reuse.call.geometry.unitShape[1] === cols;
    return { state: reuse.state, skipped: needsSkipped ? (skippedFits ? reuse.skipped : device.floats(cols)) : null, reused: reuse.parameters };
  }
  const state = {
    observedMean: device.floats(units),
    observedVar: device.floats(units),
    posteriorMean: device.floats(units),
    rstd: device.floats(units),
    guardFired: device.flag(),
  };
  return { state, skipped: needsSkipped ? device.floats(cols) : null, reused: null };
}

/**
 * The call without its outputs, field by field: an object rest (`{ out, ...rest }`) would give
 * every saved call its own hidden class, and the backward's reads of it would miss their caches.
 */
function savedCall(call: NormCall): SavedCall {
  return {
    op: call.op,
    x: call.x,
    device: call.device,
    mode: call.mode,
    geometry: call.geometry,
    eps: call.eps,
    gamma: call.gamma,
    beta: call.beta,
    residual: call.residual,
    relu: call.relu,
    gain: call.gain,
    prior: call.prior,
    guard: call.guard,
    guardStatistic: call.guardStatistic,
    running: call.running,
    sync: call.sync,
  };
}

/** The shape of a forward's posterior outputs (mean, var): per unit in training, per channel with fixed statistics. */
export function posteriorShape(call: NormCall): number[] {
  const [rows, cols] = call.geometry.unitShape;
  return call.mode === 'fixed' ? [cols] : [rows, cols];
}

function forwardIO(call: NormCall, y: Tensor, gamma: Memory | null): NativeForwardIO {
  return {
    shape: call.geometry.shape,
    x: call.x.memory(),
    epilogue: { gamma, beta: call.beta && vectorMemory(call.beta, call.device), residual: call.residual?.memory() ?? null, relu: call.relu },
    eps: call.eps,
    y: y.memory(),
  };
}

/** Channel indices whose flag in `skipped` (1 per channel, see NativeTrainingForward) is set. */
function skippedIndices(skipped: Float32Array): number[] {
  const indices: number[] = [];
  for (let channel = 0; channel < skipped.length; ++channel) if (skipped[channel] !== 0) indices.push(channel);
  return indices;
}

/** The result object; on CUDA `guardFired` and `skippedChannels` read the device when asked. */
function normResult(y: Tensor, mean: Tensor, variance: Tensor, saved: SavedNormalization): NormResult {
  const stream = saved.call.device.stream;
  const skipped = saved.skipped;
  const readSkipped = (): number[] => {
    if (skipped === null) return [];
    if (skipped instanceof Float32Array) return skippedIndices(skipped);
    const host = new Float32Array(skipped.bytes / 4);
    native().copyToHost!(host, skipped, stream);
    return skippedIndices(host);
  };
  const flag = saved.state.guardFired;
  if (flag instanceof Int32Array) return { y, mean, var: variance, guardFired: flag[0] !== 0, skippedChannels: readSkipped(), saved };
  return {
    y,
    mean,
    var: variance,
    saved,
    get guardFired() {
      return readFlag(flag, stream);
    },
    get skippedChannels() {
      return readSkipped();
    },
  };
}

/** One native call made ready: run it now or on a worker thread, then build its result. */
export interface ReadyCall<Result, Args = unknown> {
  now(): void;
  later(): Promise<void>;
  result(): Result;
  /** The native call's argument (a split call changes its part and sums: merged-run.ts). */
  args: Args;
}

/** The forward pass made ready: allocates the outputs not given and builds the one native call's argument. */
export function readyForward(call: NormCall): ReadyCall<NormResult, Placed<NativeTrainingForward> | Placed<NativeFixedForward>> {
  const device = call.device;
  const y = call.out.y ?? device.like(call.x);
  const mean = call.out.mean ?? device.zeros(posteriorShape(call));
  const variance = call.out.var ?? device.zeros(posteriorShape(call));
  const { state, skipped, reused } = forwardMemory(call);
  const parameters = nativeParameters(call, reused);
  const io = forwardIO(call, y, parameters.gamma);
  const running = call.running;
  const forward = savedCall(call);
  const result = (): NormResult => normResult(y, mean, variance, new SavedNormalization(forward, y, parameters, state, skipped));
  if (call.mode === 'fixed') {
    const args = {
      where: device.placement(),
      io,
      statisticsMean: vectorMemory(running!.mean, device),
      statisticsVar: vectorMemory(running!.var, device),
      state,
      mean: mean.memory(),
      var: variance.memory(),
    };
    return { now: () => native().kalmanNormForwardFixed(args), later: () => native().kalmanNormForwardFixedAsync(args), result, args };
  }
  const args: Placed<NativeTrainingForward> = {
    where: device.placement(),
    io,
    gain: parameters.gain,
    priorMean: parameters.priorMean,
    priorVar: parameters.priorVar,
    guard: call.guard,
    guardStatistic: GUARD_STATISTIC_CODE[call.guardStatistic],
    state,
    mean: mean.memory(),
    var: variance.memory(),
    runningMean: running && vectorMemory(running.mean, device),
    runningVar: running && vectorMemory(running.var, device),
    momentum: running?.momentum ?? 0,
    runningSkipped: skipped,
    part: CALL_PART.whole,
    parts: 1,
    unitMoments: null,
  };
  return { now: () => native().kalmanNormForwardTraining(args), later: () => native().kalmanNormForwardTrainingAsync(args), result, args };
}

/** The backward pass made ready: allocates the gradients not given and builds the one native call's argument. */
export function readyBackward(call: NormBackwardCall): ReadyCall<NormGradients, Placed<NativeBackward>> {
  const { saved, device, out } = call;
  const forward = saved.call;
  const x = forward.x;
  const parameters = saved.parameters;
  const channels = [x.shape[1]];
  const scalarGain = forward.gain.spread === 'scalar';
  const dx = out.dx ?? device.like(x);
  const dResidual = forward.residual ? out.dResidual ?? device.like(x) : null;
  const dGamma = forward.gamma ? out.dGamma ?? device.zeros(channels) : null;
  const dBeta = forward.beta ? out.dBeta ?? device.zeros(channels) : null;
  const prior = parameters.priorMean && forward.prior;
  const dPriorMean = prior ? out.dPriorMean ?? device.zeros(prior.mean.shape) : null;
  const dPriorVar = prior ? out.dPriorVar ?? device.zeros(prior.var.shape) : null;
  const dGain = prior ? (scalarGain ? device.zeros([1]) : out.dGain ?? device.zeros(forward.gain.vector.shape)) : null;
  const args: Placed<NativeBackward> = {
    where: device.placement(),
    shape: forward.geometry.shape,
    x: x.memory(),
    dy: call.dy.memory(),
    reluOutput: forward.relu ? saved.y.memory() : null,
    gamma: parameters.gamma,
    state: saved.state,
    gain: parameters.gain,
    priorMean: parameters.priorMean,
    priorVar: parameters.priorVar,
    constantStatistics: forward.mode === 'fixed',
    dMeanOut: call.dMean && vectorMemory(call.dMean, device),
    dVarOut: call.dVar && vectorMemory(call.dVar, device),
    dx: dx.memory(),
    dResidual: dResidual?.memory() ?? null,
    dGamma: dGamma?.memory() ?? null,
    dBeta: dBeta?.memory() ?? null,
    dPriorMean: dPriorMean?.memory() ?? null,
    dPriorVar: dPriorVar?.memory() ?? null,
    dGain: dGain?.memory() ?? null,
    part: CALL_PART.whole,
    parts: 1,
    unitSums: null,
    unitSize: 0,
  };
  const result = (): NormGradients => {
    const gradients: NormGradients = { dx };
    if (dGamma) gradients.dGamma = dGamma;
    if (dBeta) gradients.dBeta = dBeta;
    if (dPriorMean) gradients.dPriorMean = dPriorMean;
    if (dPriorVar) gradients.dPriorVar = dPriorVar;
    if (dGain && scalarGain) setScalar(gradients, 'dGain', dGain, device);
    else if (dGain) gradients.dGain = dGain;
    if (dResidual) gradients.dResidual = dResidual;
    return gradients;
  };
  return { now: () => native().kalmanNormBackward(args), later: () => native().kalmanNormBackwardAsync(args), result, args };
}

