/**
 * Plain float64 reference of KN-SPEC.md section 1: the Kalman Normalization forward pass, in
 * training and inference, for KN (ghost batch x channel units) and GKN (sample x group units).
 * Written to be obviously right, not fast: every loop runs over the logical indices [n][c][s]
 * and reaches memory through offsetOf. It shares no code with lib/ or csrc/, so it can judge them.
 */

export type Layout = 'NCHW' | 'NHWC';

export interface ReferenceInput {
  kind: 'kn' | 'gkn';
  x: Float64Array; // memory in `layout` order
  shape: number[]; // logical [N, C, ...spatial] regardless of layout; S = product of spatial dims (1 when none)
  layout: Layout;
  training: boolean;
  eps: number;
  virtualBatch?: number; // KN only, default N
  groups?: number; // GKN only, required
  gain: number | Float64Array; // scalar, or per channel (KN) / per group (GKN)
  prior?: { mean: Float64Array; var: Float64Array }; // per unit or per column: decided by length
  guard: number; // tau; Infinity disables
  guardStatistic?: 'geometric' | 'mean'; // default 'geometric'
  gamma?: Float64Array; // [C]; absent = 1
  beta?: Float64Array; // [C]; absent = 0
  residual?: Float64Array; // x's shape and layout
  activation: 'identity' | 'relu';
  runningMean?: Float64Array; // [C], KN only
  runningVar?: Float64Array; // [C], KN only
  momentum: number;
}

export interface ReferenceOutput {
  y: Float64Array; // same layout as x
  mean: Float64Array; // posterior per unit; in KN inference the running mean [C]
  var: Float64Array; // likewise
  guardFired: boolean;
  runningMean?: Float64Array; // KN training with running estimates given: the updated values
  runningVar?: Float64Array;
  skippedChannels?: number[]; // channels whose running estimates stayed unchanged (non-finite posterior)
}

/**
 * Sizes, and the grid of statistic units: unit = row * columns + column.
 * KN: row = ghost batch, column = channel. GKN: row = sample, column = group.
 * Priors and gains given per column broadcast over rows.
 */
export interface Geometry {
  batch: number; // N
  channels: number; // C
  spatial: number; // S
  layout: Layout;
  rows: number;
  columns: number;
  samplesPerRow: number; // v for KN, 1 for GKN
  channelsPerColumn: number; // 1 for KN, C / G for GKN
  unitSize: number; // M, elements in one unit
}

function requireThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`kalman-norm reference: ${message}`);
}

/** Reads the sizes from the input and checks that the units tile the batch. */
export function geometryOf(input: ReferenceInput): Geometry {
  requireThat(input.shape.length >= 2, `shape must be [N, C, ...spatial], got [${input.shape}]`);
  const [batch, channels, ...spatialDims] = input.shape;
  const spatial = spatialDims.reduce((product, dim) => product * dim, 1);
  requireThat(
    input.x.length === batch * channels * spatial,
    `x has ${input.x.length} values for shape [${input.shape}]`,
  );
  if (input.kind === 'kn') {
    const virtualBatch = input.virtualBatch ?? batch;
    requireThat(
      virtualBatch > 0 && batch % virtualBatch === 0,
      `virtualBatch ${virtualBatch} must divide N = ${batch}`,
    );
    return {
      batch, channels, spatial, layout: input.layout,
      rows: batch / virtualBatch, columns: channels,
      samplesPerRow: virtualBatch, channelsPerColumn: 1,
      unitSize: virtualBatch * spatial,
    };
  }
  const groups = input.groups ?? 0;
  requireThat(
    groups > 0 && channels % groups === 0,
    `groups ${input.groups} must be given and divide C = ${channels}`,
  );
  return {
    batch, channels, spatial, layout: input.layout,
    rows: batch, columns: groups,
    samplesPerRow: 1, channelsPerColumn: channels / groups,
    unitSize: (channels / groups) * spatial,
  };
}

export function unitCount(geometry: Geometry): number {
  return geometry.rows * geometry.columns;
}

/** Memory offset of the logical element [n][c][s]. */
export function offsetOf(geometry: Geometry, n: number, c: number, s: number): number {
  const { channels, spatial } = geometry;
  return geometry.layout === 'NCHW' ? (n * channels + c) * spatial + s : (n * spatial + s) * channels + c;
}

/** Calls `visit` once per element with its memory offset, its statistic unit and its channel. */
export function forEachElement(
  geometry: Geometry,
  visit: (offset: number, unit: number, channel: number) => void,
): void {
  for (let n = 0; n < geometry.batch; n++) {
    const row = Math.floor(n / geometry.samplesPerRow);
    for (let c = 0; c < geometry.channels; c++) {
      const unit = row * geometry.columns + Math.floor(c / geometry.channelsPerColumn);
      for (let s = 0; s < geometry.spatial; s++) visit(offsetOf(geometry, n, c, s), unit, c);
    }
  }
}

/**
 * Spreads a scalar (length 1), per-column or per-unit array over the units. Since
 * unit = row * columns + column, `unit % length` picks the right entry for each of the three.
 */
function broadcastToUnits(values: ArrayLike<number>, geometry: Geometry): Float64Array {
  const perUnit = new Float64Array(unitCount(geometry));
  for (let unit = 0; unit < perUnit.length; unit++) perUnit[unit] = values[unit % values.length];
  return perUnit;
}

export function gainValues(input: ReferenceInput): ArrayLike<number> {
  return typeof input.gain === 'number' ? [input.gain] : input.gain;
}

export function gammaOf(input: ReferenceInput, channel: number): number {
  return input.gamma ? input.gamma[channel] : 1;
}

function betaOf(input: ReferenceInput, channel: number): number {
  return input.beta ? input.beta[channel] : 0;
}

/** Checks every optional array's length, so a mistyped test input fails loudly instead of reading undefined. */
function checkLengths(input: ReferenceInput, geometry: Geometry): void {
  const { channels, columns } = geometry;
  const units = unitCount(geometry);
  if (input.gamma) requireThat(input.gamma.length === channels, `gamma must have C = ${channels} values`);
  if (input.beta) requireThat(input.beta.length === channels, `beta must have C = ${channels} values`);
  if (input.residual) requireThat(input.residual.length === input.x.length, 'residual must have x\'s length');
  if (typeof input.gain !== 'number') {
    requireThat(input.gain.length === columns, `gain must be a number or have ${columns} values`);
  }
  if (input.prior) {
    const { mean, var: variance } = input.prior;
    requireThat(mean.length === variance.length, 'prior mean and var must have the same length');
    requireThat(
      mean.length === units || mean.length === columns,
      `prior must have ${units} (per unit) or ${columns} (per column) values`,
    );
  }
  for (const running of [input.runningMean, input.runningVar]) {
    if (!running) continue;
    requireThat(input.kind === 'kn', 'running estimates are KN only');
    requireThat(running.length === channels, `running estimates must have C = ${channels} values`);
  }
}

/** Everything section 1 computes per unit before the element pass. */
export interface UnitStatistics {
  observedMean: Float64Array; // xbar
  observedVar: Float64Array; // s2, biased
  priorMean?: Float64Array; // m, broadcast to units; absent without a prior
  priorVar?: Float64Array; // u
  gain: Float64Array; // K per unit, as given
  guardFired: boolean; // when true the fusion ignored the prior
  mean: Float64Array; // posterior mu
  var: Float64Array; // posterior var
}

/**
 * Step 4's statistic r over the units: 'geometric' exp(mean log((u + eps) / (s2 + eps))), or
 * 'mean' mean u / (s2 + eps).
 */
export function guardRatio(
  priorVar: Float64Array,
  observedVar: Float64Array,
  input: Pick<ReferenceInput, 'eps' | 'guardStatistic'>,
): number {
  let sum = 0;
  for (let unit = 0; unit < priorVar.length; unit++) {
    const observed = observedVar[unit] + input.eps;
    sum += input.guardStatistic === 'mean' ? priorVar[unit] / observed : Math.log((priorVar[unit] + input.eps) / observed);
  }
  const average = sum / priorVar.length;
  return input.guardStatistic === 'mean' ? average : Math.exp(average);
}

/** Steps 1-5 of section 1: observation, guard and fusion, for every unit. */
export function unitStatistics(input: ReferenceInput, geometry: Geometry): UnitStatistics {
  const units = unitCount(geometry);
  const size = geometry.unitSize;

  const observedMean = new Float64Array(units);
  forEachElement(geometry, (offset, unit) => {
    observedMean[unit] += input.x[offset];
  });
  for (let unit = 0; unit < units; unit++) observedMean[unit] /= size;

  // Second pass over deviations from the mean: a one-pass sum of squares cancels on shifted data.
  const observedVar = new Float64Array(units);
  forEachElement(geometry, (offset, unit) => {
    observedVar[unit] += (input.x[offset] - observedMean[unit]) ** 2;
  });
  for (let unit = 0; unit < units; unit++) observedVar[unit] /= size;

  const gain = broadcastToUnits(gainValues(input), geometry);
  const priorMean = input.prior && broadcastToUnits(input.prior.mean, geometry);
  const priorVar = input.prior && broadcastToUnits(input.prior.var, geometry);

  let guardFired = false;
  if (priorVar) {
    // Checked explicitly so that an infinite prior variance cannot fire a disabled guard.
    guardFired = input.guard !== Infinity && guardRatio(priorVar, observedVar, input) >= input.guard;
  }

  // Without a prior, or with the guard fired, the posterior is the observation: plain BN / GN.
  const mean = observedMean.slice();
  const variance = observedVar.slice();
  if (priorMean && priorVar && !guardFired) {
    for (let unit = 0; unit < units; unit++) {
      const k = gain[unit];
      const innovation = observedMean[unit] - priorMean[unit];
      mean[unit] = priorMean[unit] + k * innovation;
      variance[unit] = (1 - k) * priorVar[unit] + k * observedVar[unit] + k * (1 - k) * innovation ** 2;
    }
  }
  return { observedMean, observedVar, priorMean, priorVar, gain, guardFired, mean, var: variance };
}

/**
 * Step 6: y = act(gamma_c (x - mean) / sqrt(var + eps) + beta_c + z). The statistics are looked up
 * per unit (training, GKN inference) or per channel (KN inference with running estimates).
 */
function normalize(
  input: ReferenceInput,
  geometry: Geometry,
  mean: Float64Array,
  variance: Float64Array,
  statisticsPer: 'unit' | 'channel',
): Float64Array {
  const y = new Float64Array(input.x.length);
  forEachElement(geometry, (offset, unit, channel) => {
    const index = statisticsPer === 'unit' ? unit : channel;
    const xhat = (input.x[offset] - mean[index]) / Math.sqrt(variance[index] + input.eps);
    const residual = input.residual ? input.residual[offset] : 0;
    const preActivation = gammaOf(input, channel) * xhat + betaOf(input, channel) + residual;
    y[offset] = input.activation === 'relu' ? Math.max(0, preActivation) : preActivation;
  });
  return y;
}

/**
 * Step 8: running = (1 - a) running + a * (posterior averaged over ghost batches), new arrays; a
 * channel whose posterior is not finite in some ghost batch keeps its running estimates.
 */
function updateRunning(
  running: { mean: Float64Array; var: Float64Array },
  posterior: { mean: Float64Array; var: Float64Array },
  geometry: Geometry,
  momentum: number,
): { mean: Float64Array; var: Float64Array; skipped: number[] } {
  const updated = { mean: running.mean.slice(), var: running.var.slice(), skipped: [] as number[] };
  for (let c = 0; c < geometry.channels; c++) {
    let meanSum = 0;
    let varSum = 0;
    for (let row = 0; row < geometry.rows; row++) {
      meanSum += posterior.mean[row * geometry.columns + c];
      varSum += posterior.var[row * geometry.columns + c];
    }
    if (!Number.isFinite(meanSum) || !Number.isFinite(varSum)) {
      updated.skipped.push(c);
      continue;
    }
    updated.mean[c] = (1 - momentum) * running.mean[c] + momentum * (meanSum / geometry.rows);
    updated.var[c] = (1 - momentum) * running.var[c] + momentum * (varSum / geometry.rows);
  }
  return updated;
}

export function referenceForward(input: ReferenceInput): ReferenceOutput {
  const geometry = geometryOf(input);
  checkLengths(input, geometry);

  if (input.kind === 'kn' && !input.training) {
    const { runningMean, runningVar } = input;
    requireThat(runningMean !== undefined && runningVar !== undefined, 'KN inference needs runningMean and runningVar');
    const y = normalize(input, geometry, runningMean, runningVar, 'channel');
    return { y, mean: runningMean.slice(), var: runningVar.slice(), guardFired: false };
  }

  // GKN inference is the same computation as training: per-sample statistics exist at inference.
  const statistics = unitStatistics(input, geometry);
  const output: ReferenceOutput = {
    y: normalize(input, geometry, statistics.mean, statistics.var, 'unit'),
    mean: statistics.mean,
    var: statistics.var,
    guardFired: statistics.guardFired,
  };
  if (input.kind === 'kn' && input.runningMean && input.runningVar) {
    const running = updateRunning({ mean: input.runningMean, var: input.runningVar }, statistics, geometry, input.momentum);
    output.runningMean = running.mean;
    output.runningVar = running.var;
    output.skippedChannels = running.skipped;
  }
  return output;
}
