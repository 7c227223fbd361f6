/**
 * Plain float64 reference of KN-SPEC.md section 3: the transitions that carry a layer's posterior
 * (mean, variance) rows to the next layer's prior. Forward only; the tests take gradients from
 * finite differences of these functions. Matrices are row-major Float64Arrays of `rows` x
 * `columns`; every loop is written over logical indices. It shares no code with lib/ or csrc/.
 */

/** Means and variances of R rows of C independent Gaussians: element [r][c] at r * C + c. */
export interface Moments {
  rows: number;
  columns: number;
  mean: Float64Array;
  var: Float64Array;
}

export interface AffineReferenceOptions {
  weight: Float64Array; // [Cout, Cin]
  weightSq?: Float64Array; // [Cout, Cin]; default weight o weight
  bias?: Float64Array; // [Cout]
  noise?: number | Float64Array; // scalar or [Cout]
}

export interface NormalizeReferenceOptions {
  eps: number;
  gamma?: Float64Array; // [C]; absent = 1
  beta?: Float64Array; // [C]; absent = 0
}

function requireThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`transition reference: ${message}`);
}

function emptyMoments(rows: number, columns: number): Moments {
  return { rows, columns, mean: new Float64Array(rows * columns), var: new Float64Array(rows * columns) };
}

function checkMoments(name: string, x: Moments): void {
  const size = x.rows * x.columns;
  requireThat(x.mean.length === size && x.var.length === size, `${name} must hold ${x.rows} x ${x.columns} means and variances`);
}

/** A scalar, or entry `column` of a per-column vector; `fallback` when absent. */
function columnValue(value: number | Float64Array | undefined, column: number, fallback: number): number {
  if (value === undefined) return fallback;
  return typeof value === 'number' ? value : value[column];
}

/** identity: mean = mean, var = var + noise. */
export function identityReference(x: Moments, noise: number | Float64Array): Moments {
  checkMoments('x', x);
  const out = emptyMoments(x.rows, x.columns);
  for (let r = 0; r < x.rows; r++) {
    for (let c = 0; c < x.columns; c++) {
      const at = r * x.columns + c;
      out.mean[at] = x.mean[at];
      out.var[at] = x.var[at] + columnValue(noise, c, 0);
    }
  }
  return out;
}

/** affine: mean = A mean + bias, var = A2 var + noise, per row; A2 = A o A unless given. */
export function affineReference(x: Moments, options: AffineReferenceOptions): Moments {
  checkMoments('x', x);
  const inputs = x.columns;
  const outputs = options.weight.length / inputs;
  requireThat(Number.isInteger(outputs), `weight has ${options.weight.length} entries, not a multiple of Cin = ${inputs}`);
  const weightSq = options.weightSq ?? options.weight.map((w) => w * w);
  requireThat(weightSq.length === options.weight.length, 'weightSq must have the shape of weight');
  const out = emptyMoments(x.rows, outputs);
  for (let r = 0; r < x.rows; r++) {
    for (let o = 0; o < outputs; o++) {
      let mean = columnValue(options.bias, o, 0);
      let variance = columnValue(options.noise, o, 0);
      for (let i = 0; i < inputs; i++) {
        mean += options.weight[o * inputs + i] * x.mean[r * inputs + i];
        variance += weightSq[o * inputs + i] * x.var[r * inputs + i];
      }
      out.mean[r * outputs + o] = mean;
      out.var[r * outputs + o] = variance;
    }
  }
  return out;
}

/** A convolution's transition matrices: A[o][i] = sum over taps of W[o][i][t], A2 = sum of W^2. */
export function convTransitionReference(
  kernel: Float64Array,
  shape: readonly [number, number, number, number],
): { weight: Float64Array; weightSq: Float64Array } {
  const [outputs, inputs, kernelHeight, kernelWidth] = shape;
  const taps = kernelHeight * kernelWidth;
  requireThat(kernel.length === outputs * inputs * taps, `kernel has ${kernel.length} entries for shape [${shape}]`);
  const weight = new Float64Array(outputs * inputs);
  const weightSq = new Float64Array(outputs * inputs);
  for (let o = 0; o < outputs; o++) {
    for (let i = 0; i < inputs; i++) {
      for (let t = 0; t < taps; t++) {
        const w = kernel[(o * inputs + i) * taps + t];
        weight[o * inputs + i] += w;
        weightSq[o * inputs + i] += w * w;
      }
    }
  }
  return { weight, weightSq };
}

/** add: means add and variances add; b's columns sit in the middle of a's, zero-padded around. */
export function addReference(a: Moments, b: Moments): Moments {
  checkMoments('a', a);
  checkMoments('b', b);
  requireThat(a.rows === b.rows, 'a and b must have the same rows');
  const padding = a.columns - b.columns;
  requireThat(padding >= 0 && padding % 2 === 0, 'a must have b\'s columns plus an even number more');
  const first = padding / 2;
  const out = emptyMoments(a.rows, a.columns);
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < a.columns; c++) {
      const at = r * a.columns + c;
      const inB = c >= first && c < first + b.columns;
      out.mean[at] = a.mean[at] + (inB ? b.mean[r * b.columns + c - first] : 0);
      out.var[at] = a.var[at] + (inB ? b.var[r * b.columns + c - first] : 0);
    }
  }
  return out;
}

/** normalize: moments of gamma (x - mu) / sqrt(v + eps) + beta for x ~ N(x.mean, x.var). */
export function normalizeReference(x: Moments, stats: Moments, options: NormalizeReferenceOptions): Moments {
  checkMoments('x', x);
  checkMoments('stats', stats);
  requireThat(x.rows === stats.rows && x.columns === stats.columns, 'x and stats must have the same shape');
  const out = emptyMoments(x.rows, x.columns);
  for (let r = 0; r < x.rows; r++) {
    for (let c = 0; c < x.columns; c++) {
      const at = r * x.columns + c;
      const gamma = columnValue(options.gamma, c, 1);
      const scale = gamma / Math.sqrt(stats.var[at] + options.eps);
      out.mean[at] = scale * (x.mean[at] - stats.mean[at]) + columnValue(options.beta, c, 0);
      out.var[at] = scale * scale * x.var[at];
    }
  }
  return out;
}

// ---- relu -------------------------------------------------------------------------------------
//
// Everything is written with t = m / s and the standard normal: the spec's
// Phi(t) = erfc(-t / sqrt 2) / 2 is evaluated through Mills' ratio R(a) = Q(a) / phi(a), where
// Q(a) = 1 - Phi(a) is the upper tail, so that no t / sqrt 2 is rounded and phi's exponential
// stays out of the hard part. With g = E / s and h = E2 / u the moments of the unit-scale relu,
// E = s g and var = u V with V = h - g^2.

const SQRT_TWO_PI = Math.sqrt(2 * Math.PI);
/** Below this Mills' ratio comes from a series; from here on from a continued fraction. */
const SERIES_LIMIT = 1;

/**
 * The standard normal density phi(t). Rounding t * t would cost phi a relative error of about
 * t^2 * 1e-16 (5e-14 at t = 22), so t is split as hi + lo with hi a multiple of 1/16: hi^2 is then
 * exact, and exp(-t^2 / 2) = exp(-hi^2 / 2) * exp(-lo (hi + lo / 2)) with a small second exponent.
 */
export function normalDensity(t: number): number {
  const hi = Math.round(t * 16) / 16;
  const lo = t - hi;
  return (Math.exp(-0.5 * hi * hi) * Math.exp(-lo * (hi + 0.5 * lo))) / SQRT_TWO_PI;
}

/**
 * Laplace's continued fraction for a >= SERIES_LIMIT: R(a) = 1 / F0 with
 * F_k = a + (k + 1) / F_(k+1), evaluated from the bottom up (no rounding error accumulates that
 * way; the positive terms make it stable). Truncation costs about exp(-2 a sqrt(terms)), below
 * 1e-19 with the terms taken here. Returns F0, F1, F2: the moments below need all three.
 */
function millsDenominators(a: number): [number, number, number] {
  const terms = Math.ceil(500 / (a * a)) + 20;
  const denominators: [number, number, number] = [0, 0, 0];
  let f = a; // the truncated tail
  for (let k = terms; k >= 0; k--) {
    f = a + (k + 1) / f; // F_k
    if (k < 3) denominators[k] = f;
  }
  return denominators;
}

/**
 * Mills' ratio R(a) = Q(a) / phi(a) for a >= 0. Below SERIES_LIMIT from
 * Phi(a) - 1/2 = phi(a) * sum a^(2n+1) / (1 * 3 * ... * (2n+1)) (all terms positive), so
 * R = 1 / (2 phi(a)) - that sum, losing at most a factor 3 at a = 1; above it 1 / F0.
 */
export function millsRatio(a: number): number {
  requireThat(a >= 0, `millsRatio takes a >= 0, got ${a}`);
  if (a >= SERIES_LIMIT) return 1 / millsDenominators(a)[0];
  let term = a;
  let sum = a;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= (a * a) / (2 * n + 1);
    sum += term;
  }
  return 0.5 / normalDensity(a) - sum;
}

/** Q(a) = 1 - Phi(a) = erfc(a / sqrt 2) / 2, the upper tail, for any a. */
export function normalTail(a: number): number {
  return a >= 0 ? normalDensity(a) * millsRatio(a) : 1 - normalDensity(a) * millsRatio(-a);
}

/**
 * g = t Phi + phi and h = (t^2 + 1) Phi + t phi for t <= 0, where both are tiny differences of
 * large terms once t is far below 0. With a = -t >= SERIES_LIMIT the continued fraction cancels
 * them exactly: g / phi = 1 - a / F0 = 1 / (F0 F1) and h / phi = (a^2 + 1) / F0 - a = 2 / (F0 F1 F2).
 */
function lowerReluMoments(t: number): { g: number; h: number } {
  const phi = normalDensity(t);
  if (-t >= SERIES_LIMIT) {
    const [f0, f1, f2] = millsDenominators(-t);
    return { g: phi / (f0 * f1), h: (2 * phi) / (f0 * f1 * f2) };
  }
  const Phi = phi * millsRatio(-t);
  return { g: t * Phi + phi, h: (t * t + 1) * Phi + t * phi };
}

/**
 * E / s = g and Var / u = V of max(0, z), z ~ N(t, 1), with nothing cancelling badly:
 * - t <= 0: V = h - g^2, where g^2 << h in the tail.
 * - t > 0: with Q = Phi(-t), h - g^2 expands to
 *   V = 1 + (t^2 - 1) Q - t phi - t^2 Q^2 + 2 t Q phi - phi^2, every correction to 1 being small.
 */
function unitReluMoments(t: number): { g: number; V: number } {
  if (t <= 0) {
    const { g, h } = lowerReluMoments(t);
    return { g, V: h - g * g };
  }
  const phi = normalDensity(t);
  const Q = phi * millsRatio(t);
  return {
    g: t * (1 - Q) + phi,
    V: 1 + (t * t - 1) * Q - t * phi - t * t * Q * Q + 2 * t * Q * phi - phi * phi,
  };
}

/** Mean and variance of max(0, z) for z ~ N(m, u); u = 0 is the deterministic limit. */
export function reluMomentsOf(m: number, u: number): { mean: number; var: number } {
  requireThat(u >= 0, `relu variance must be >= 0, got ${u}`);
  if (u === 0) return { mean: Math.max(m, 0), var: 0 };
  const s = Math.sqrt(u);
  const { g, V } = unitReluMoments(m / s);
  return { mean: s * g, var: u * V };
}

/** relu: the moments of max(0, z) elementwise. */
export function reluReference(x: Moments): Moments {
  checkMoments('x', x);
  const out = emptyMoments(x.rows, x.columns);
  for (let at = 0; at < x.rows * x.columns; at++) {
    const moments = reluMomentsOf(x.mean[at], x.var[at]);
    out.mean[at] = moments.mean;
    out.var[at] = moments.var;
  }
  return out;
}
