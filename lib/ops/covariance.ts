// The covariance transition (KN-SPEC section 3b) from one row of input statistics (the input node,
// section 3a) through a weight: m_o = w_o . mu + bias, u_o = w_o^T Sigma w_o + noise, exact for a
// linear map of correlated inputs, with its backward into the weight. The per-element math is
// csrc/common/covariance_math.h, run on the tensors' device.
import { Memory, SPREAD_CODE, native } from '../binding';
import { rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import { StatVector, checkVector, vectorMemory } from './arguments';
import { CallDevice, setScalar } from './call-device';
import { Noise, checkNoise, gradient, matrix, sameShape } from './transitions';

/**
 * An input covariance over D features: the full matrix, only its diagonal, or a low-rank factor
 * plus a diagonal, Sigma = L L^T + diag(d) (memory and time linear in D). A full matrix must be
 * symmetric (the gradient 2 Sigma w assumes it; InputStatistics' always is).
 */
export type Covariance =
  | { kind: 'full'; matrix: Tensor }
  | { kind: 'diagonal'; diagonal: Tensor }
  | { kind: 'lowRank'; factor: Tensor; diagonal: Tensor };

/** The checked covariance as the addon reads it. */
interface CovarianceForm {
  covariance: Memory | null;
  factor: Memory | null;
  rank: number;
  diagonal: Memory | null;
}

function checkCovariance(value: unknown, features: number, device: CallDevice): CovarianceForm {
  if (typeof value !== 'object' || value === null) throw typeError('covariance', "an object { kind: 'full' | 'diagonal' | 'lowRank', ... }", value);
  const form = value as Record<string, unknown>;
  const diagonal = () => {
    const vector = checkVector('covariance.diagonal', form.diagonal, features, `one variance per feature [${features}]`, device);
    return vectorMemory(vector, device);
  };
  switch (form.kind) {
    case 'full':
      return { covariance: sameShape('covariance.matrix', form.matrix, [features, features], device).memory(), factor: null, rank: 0, diagonal: null };
    case 'diagonal':
      return { covariance: null, factor: null, rank: 0, diagonal: diagonal() };
    case 'lowRank': {
      const [rows, rank] = matrix('covariance.factor', form.factor, device);
      if (rows !== features) throw rangeError('covariance.factor', `expected [${features}, rank] (one row per feature), got [${rows}, ${rank}]`);
      return { covariance: null, factor: (form.factor as Tensor).memory(), rank, diagonal: diagonal() };
    }
    default:
      throw rangeError('covariance.kind', `expected one of 'full', 'diagonal', 'lowRank', got ${String(form.kind)}`);
  }
}

class QuadraticSaved {
  constructor(
    readonly device: CallDevice,
    readonly mean: Tensor,
    readonly weight: Tensor,
    readonly form: CovarianceForm,
    /** W Sigma [Cout, D] (full), or scratch for Z L^T (low rank); null for a diagonal. */
    readonly sigmaW: Tensor | null,
    /** Z = W L [Cout, rank] (low rank). */
    readonly projected: Tensor | null,
    readonly hasBias: boolean,
    readonly noise: Noise | null,
  ) {}
}

export interface QuadraticOptions {
  /** W [Cout, D]: a fully connected weight, or a kernel [Cout, Cin, kh, kw] viewed as [Cout, Cin*kh*kw]. */
  weight: Tensor;
  bias?: StatVector;
  /** Process noise r >= 0: a number or one per output. */
  noise?: number | StatVector;
}

/** One row [1, D] of means with its covariance through W: mean' = W mean + bias, var'_o = w_o^T Sigma w_o + noise. */
export function quadraticMoments(mean: Tensor, covariance: Covariance, options: QuadraticOptions) {
  const [rows, features] = matrix('mean', mean);
  if (rows !== 1) throw rangeError('mean', `expected one row [1, D], got [${rows}, ${features}]`);
  const device = new CallDevice(mean, undefined);
  const form = checkCovariance(covariance, features, device);
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object { weight, ... }', options);
  const [outputs, inputs] = matrix('weight', options.weight, device);
  if (inputs !== features) throw rangeError('weight', `expected [Cout, ${features}] (D = the statistics' features), got [${outputs}, ${inputs}]`);
  const bias = options.bias === undefined ? null : checkVector('bias', options.bias, outputs, `one value per output [${outputs}]`, device);
  const noise = checkNoise(options.noise, outputs, device);
  const sigmaW = form.covariance || form.rank ? device.zeros([outputs, features]) : null;
  const projected = form.rank ? device.zeros([outputs, form.rank]) : null;
  const out = { mean: device.zeros([1, outputs]), var: device.zeros([1, outputs]) };
  native().quadraticMoments({
    where: device.placement(), ...form, inputs: features, outputs,
    mean: mean.memory(), weight: options.weight.memory(),
    sigmaW: form.covariance ? sigmaW!.memory() : null, projected: projected?.memory() ?? null,
    bias: bias && vectorMemory(bias, device),
    noise: noise && vectorMemory(noise.vector, device), noiseSpread: noise ? SPREAD_CODE[noise.spread] : null,
    outMean: out.mean.memory(), outVar: out.var.memory(),
  });
  return { ...out, saved: new QuadraticSaved(device, mean, options.weight, form, sigmaW, projected, bias !== null, noise) };
}

export interface QuadraticGradients {
  /** dW_o = dMean_o mean^T + 2 dVar_o (Sigma w_o)^T. The statistics themselves get no gradient. */
  dWeight: Tensor;
  dBias?: Tensor;
  dNoise?: number | Tensor;
}

export function quadraticMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown): QuadraticGradients {
  if (!(saved instanceof QuadraticSaved)) throw typeError('saved', 'the saved state returned by quadraticMoments', saved);
  const { device, mean, weight, form, noise } = saved;
  const [outputs, features] = weight.shape;
  const incomingMean = gradient('dMean', dMean, [1, outputs], device);
  const incomingVar = gradient('dVar', dVar, [1, outputs], device);
  const result: QuadraticGradients = { dWeight: device.zeros([outputs, features]) };
  if (saved.hasBias) result.dBias = device.zeros([outputs]);
  const dNoise = noise ? device.zeros(noise.spread === 'scalar' ? [1] : [outputs]) : null;
  native().quadraticMomentsBackward({
    where: device.placement(), ...form, inputs: features, outputs,
    mean: mean.memory(), weight: weight.memory(),
    sigmaW: saved.sigmaW?.memory() ?? null, projected: saved.projected?.memory() ?? null,
    dMeanOut: incomingMean, dVarOut: incomingVar,
    dWeight: result.dWeight.memory(), dBias: result.dBias?.memory() ?? null,
    dNoise: dNoise?.memory() ?? null, dNoiseSpread: noise ? SPREAD_CODE[noise.spread] : null,
  });
  if (dNoise && noise?.spread === 'scalar') setScalar(result, 'dNoise', dNoise, device);
  else if (dNoise) result.dNoise = dNoise;
  return result;
}
