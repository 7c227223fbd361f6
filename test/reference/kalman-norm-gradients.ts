/**
 * Plain float64 reference of KN-SPEC.md section 2: the backward pass of referenceForward, written
 * formula by formula so it can be cross-checked against finite differences and then used on
 * shapes too large for them.
 */
import {
  Geometry,
  ReferenceInput,
  forEachElement,
  gainValues,
  gammaOf,
  geometryOf,
  referenceForward,
  unitCount,
  unitStatistics,
} from './kalman-norm-reference';

export interface ReferenceGradients {
  dx: Float64Array;
  dGamma: Float64Array; // [C]
  dBeta: Float64Array; // [C]
  dPriorMean?: Float64Array; // the prior's own length; present when a prior was given (KN training, GKN)
  dPriorVar?: Float64Array;
  dGain?: Float64Array; // in the gain's shape: length 1 for a scalar gain
  dResidual?: Float64Array; // present when a residual was given
}

/**
 * Sums per-unit values into `length` entries: 1 (scalar), columns (broadcast over rows) or units.
 * Since unit = row * columns + column, `unit % length` is the entry each unit was broadcast from.
 */
function sumToLength(perUnit: Float64Array, length: number): Float64Array {
  const summed = new Float64Array(length);
  for (let unit = 0; unit < perUnit.length; unit++) summed[unit % length] += perUnit[unit];
  return summed;
}

/** With the relu epilogue the gradient passes only where the output was positive. */
function maskedUpstream(input: ReferenceInput, dy: Float64Array, y: Float64Array): Float64Array {
  if (input.activation === 'identity') return dy.slice();
  return dy.map((gradient, i) => (y[i] > 0 ? gradient : 0));
}

/** dgamma_c = sum dy_i xhat_i and dbeta_c = sum dy_i over all elements of channel c. */
function affineGradients(
  geometry: Geometry,
  upstream: Float64Array,
  xhatOf: (offset: number, unit: number, channel: number) => number,
): { dGamma: Float64Array; dBeta: Float64Array } {
  const dGamma = new Float64Array(geometry.channels);
  const dBeta = new Float64Array(geometry.channels);
  forEachElement(geometry, (offset, unit, channel) => {
    dGamma[channel] += upstream[offset] * xhatOf(offset, unit, channel);
    dBeta[channel] += upstream[offset];
  });
  return { dGamma, dBeta };
}

/** KN inference: the running estimates are constants, so x only passes through the affine map. */
function inferenceBackward(
  input: ReferenceInput,
  geometry: Geometry,
  upstream: Float64Array,
  runningMean: Float64Array,
  runningVar: Float64Array,
): ReferenceGradients {
  const xhatOf = (offset: number, _unit: number, channel: number): number =>
    (input.x[offset] - runningMean[channel]) / Math.sqrt(runningVar[channel] + input.eps);
  const dx = new Float64Array(input.x.length);
  forEachElement(geometry, (offset, _unit, channel) => {
    dx[offset] = (gammaOf(input, channel) * upstream[offset]) / Math.sqrt(runningVar[channel] + input.eps);
  });
  const gradients: ReferenceGradients = { dx, ...affineGradients(geometry, upstream, xhatOf) };
  if (input.residual) gradients.dResidual = upstream;
  return gradients;
}

/**
 * Gradients of L = sum(dy * y) + sum(dMean * mean) + sum(dVar * var) with respect to x, gamma,
 * beta, the prior, the gain and the residual. dMean and dVar are per unit (absent = 0) and are
 * ignored in KN inference, where the reported mean and var are the constant running estimates.
 */
export function referenceBackward(
  input: ReferenceInput,
  dy: Float64Array,
  dMean?: Float64Array,
  dVar?: Float64Array,
): ReferenceGradients {
  const geometry = geometryOf(input);
  const forward = referenceForward(input); // also validates the input
  if (dy.length !== input.x.length) throw new Error('kalman-norm reference: dy must have x\'s length');
  const upstream = maskedUpstream(input, dy, forward.y);
  if (input.kind === 'kn' && !input.training) {
    // In KN inference the forward pass reports the running estimates as its mean and var.
    return inferenceBackward(input, geometry, upstream, forward.mean, forward.var);
  }

  const units = unitCount(geometry);
  for (const gradient of [dMean, dVar]) {
    if (gradient && gradient.length !== units) {
      throw new Error(`kalman-norm reference: dMean and dVar must have ${units} values`);
    }
  }
  const statistics = unitStatistics(input, geometry);
  const size = geometry.unitSize;
  const sigma = statistics.var.map((variance) => Math.sqrt(variance + input.eps));
  const xhatOf = (offset: number, unit: number): number => (input.x[offset] - statistics.mean[unit]) / sigma[unit];

  // Per-unit sums of g_i = gamma_c dy_i and of g_i xhat_i.
  const sumG = new Float64Array(units);
  const sumGXhat = new Float64Array(units);
  forEachElement(geometry, (offset, unit, channel) => {
    const g = gammaOf(input, channel) * upstream[offset];
    sumG[unit] += g;
    sumGXhat[unit] += g * xhatOf(offset, unit);
  });

  // Per-unit chain rule through the fusion. Without a used prior K = 1 and the innovation
  // terms vanish, which leaves BN / GN backward, and the prior and gain get no gradient.
  const gradObservedMean = new Float64Array(units);
  const gradObservedVar = new Float64Array(units);
  const gradPriorMean = new Float64Array(units);
  const gradPriorVar = new Float64Array(units);
  const gradGain = new Float64Array(units);
  for (let unit = 0; unit < units; unit++) {
    const gradMean = -sumG[unit] / sigma[unit] + (dMean ? dMean[unit] : 0);
    const gradVar = -sumGXhat[unit] / (2 * sigma[unit] ** 2) + (dVar ? dVar[unit] : 0);
    if (statistics.priorMean && statistics.priorVar && !statistics.guardFired) {
      const k = statistics.gain[unit];
      const innovation = statistics.observedMean[unit] - statistics.priorMean[unit];
      gradObservedMean[unit] = k * gradMean + 2 * k * (1 - k) * innovation * gradVar;
      gradObservedVar[unit] = k * gradVar;
      gradPriorMean[unit] = (1 - k) * gradMean - 2 * k * (1 - k) * innovation * gradVar;
      gradPriorVar[unit] = (1 - k) * gradVar;
      gradGain[unit] =
        innovation * gradMean +
        (statistics.observedVar[unit] - statistics.priorVar[unit] + (1 - 2 * k) * innovation ** 2) * gradVar;
    } else {
      gradObservedMean[unit] = gradMean;
      gradObservedVar[unit] = gradVar;
    }
  }

  // xbar and s2 depend on x_i through d xbar / d x_i = 1/M and d s2 / d x_i = 2 (x_i - xbar) / M.
  const dx = new Float64Array(input.x.length);
  forEachElement(geometry, (offset, unit, channel) => {
    const g = gammaOf(input, channel) * upstream[offset];
    dx[offset] =
      g / sigma[unit] +
      gradObservedMean[unit] / size +
      (2 * gradObservedVar[unit] * (input.x[offset] - statistics.observedMean[unit])) / size;
  });

  const gradients: ReferenceGradients = { dx, ...affineGradients(geometry, upstream, xhatOf) };
  if (input.prior) {
    gradients.dPriorMean = sumToLength(gradPriorMean, input.prior.mean.length);
    gradients.dPriorVar = sumToLength(gradPriorVar, input.prior.var.length);
    gradients.dGain = sumToLength(gradGain, gainValues(input).length);
  }
  if (input.residual) gradients.dResidual = upstream;
  return gradients;
}
