// Running one parsed KN/GKN call (norm-call.ts): make the memory the call writes, put its
// parameters where the device reads them, and make the one native call
// (csrc/addon/kalman_norm_binding.cpp), whose argument mirrors the C++ struct field for field.
import {
  GUARD_STATISTIC_CODE,
  Memory,
  NativeForwardIO,
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
import { NativeParameters, SavedNormalization } from './saved-state';

/**
 * The vector where the forward and its backward read it: a copy on both backends (uploaded on
 * CUDA, copied on the CPU), so that changing the caller's array between forward and backward
 * cannot change the gradient. A CUDA tensor is read in place (copying it would cost a launch).
 */
function keptMemory(vector: Vector, device: CallDevice): Memory {
  return device.onGpu ? vectorMemory(vector, device) : vector.host!.slice();
}

function unitValues(vector: Vector, spread: Spread, device: CallDevice): NativeUnitValues {
  return { values: keptMemory(vector, device), spread: SPREAD_CODE[spread] };
}

/** The gamma, gain and prior of the call on its device, kept for the backward. Inference ignores the prior. */
function nativeParameters(call: NormCall): NativeParameters {
  const device = call.device;
  const prior = call.mode === 'training' ? call.prior : null;
  return {
    gamma: call.gamma && keptMemory(call.gamma, device),
    gain: unitValues(call.gain.vector, call.gain.spread, device),
    priorMean: prior && unitValues(prior.mean, prior.mean.spread, device),
    priorVar: prior && unitValues(prior.var, prior.var.spread, device),
  };
}

/**
 * Per-unit state: out.saved's when it has the right size and device and still owns it (its
 * backward then throws: the state it needs is this call's now); otherwise new memory.
 */
function unitState(call: NormCall, units: number): NativeUnitState {
  const reuse = call.out.saved;
  const device = call.device;
  if (reuse && !reuse.reused && reuse.units === units && reuse.call.device.device === device.device) {
    reuse.reused = true;
    return reuse.state;
  }
  return {
    observedMean: device.floats(units),
    observedVar: device.floats(units),
    posteriorMean: device.floats(units),
    rstd: device.floats(units),
    guardFired: device.flag(),
  };
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
  skipped.forEach((flag, channel) => flag !== 0 && indices.push(channel));
  return indices;
}

/** The result object; on CUDA `guardFired` and `skippedChannels` read the device when asked. */
function normResult(y: Tensor, mean: Tensor, variance: Tensor, saved: SavedNormalization, skipped: Memory | null): NormResult {
  const stream = saved.call.device.stream;
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

/** The forward pass: allocates the outputs not given, then one native call. */
export function runNormForward(call: NormCall): NormResult {
  const device = call.device;
  const [rows, cols] = call.geometry.unitShape;
  const units = rows * cols;
  const perUnit = call.mode === 'fixed' ? [cols] : [rows, cols];
  const y = call.out.y ?? device.like(call.x);
  const mean = call.out.mean ?? device.zeros(perUnit);
  const variance = call.out.var ?? device.zeros(perUnit);
  const state = unitState(call, units);
  const parameters = nativeParameters(call);
  const io = forwardIO(call, y, parameters.gamma);
  const running = call.running;
  let skipped: Memory | null = null;
  if (call.mode === 'fixed') {
    native().kalmanNormForwardFixed({
      ...device.placement(),
      io,
      statisticsMean: vectorMemory(running!.mean, device),
      statisticsVar: vectorMemory(running!.var, device),
      state,
      mean: mean.memory(),
      var: variance.memory(),
    });
  } else {
    skipped = running ? device.floats(cols) : null;
    native().kalmanNormForwardTraining({
      ...device.placement(),
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
    });
  }
  const { out: _outputs, ...forward } = call;
  return normResult(y, mean, variance, new SavedNormalization(forward, y, parameters, state), skipped);
}

/** The backward pass: allocates the gradients not given, then one native call. */
export function runNormBackward(call: NormBackwardCall): NormGradients {
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
  native().kalmanNormBackward({
    ...device.placement(),
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
  });
  const gradients: NormGradients = { dx };
  if (dGamma) gradients.dGamma = dGamma;
  if (dBeta) gradients.dBeta = dBeta;
  if (dPriorMean) gradients.dPriorMean = dPriorMean;
  if (dPriorVar) gradients.dPriorVar = dPriorVar;
  if (dGain && scalarGain) setScalar(gradients, 'dGain', dGain, device);
  else if (dGain) gradients.dGain = dGain;
  if (dResidual) gradients.dResidual = dResidual;
  return gradients;
}
