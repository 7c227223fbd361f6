/**
 * Plain float64 reference of KN-SPEC.md section 3c: the pooling transitions. A window holds `taps`
 * activations, each N(m, u), with one pairwise correlation rho. The max pool runs Clark's (1961)
 * recursion on the raw moments (means, variances and covariances in the units of m and u), not on
 * standard normals as the op does, so the two agree only if the op's scaling argument holds. The
 * exact moments of the max come from quadrature. It shares no code with lib/ or csrc/.
 */
import { Moments, normalDensity, normalTail } from './transition-reference';

function requireThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`pool reference: ${message}`);
}

function mapMoments(x: Moments, f: (m: number, u: number) => { mean: number; var: number }): Moments {
  requireThat(x.mean.length === x.rows * x.columns && x.var.length === x.rows * x.columns, 'x must hold rows x columns values');
  const out: Moments = { rows: x.rows, columns: x.columns, mean: new Float64Array(x.mean.length), var: new Float64Array(x.var.length) };
  for (let at = 0; at < x.mean.length; at++) {
    const moments = f(x.mean[at], x.var[at]);
    out.mean[at] = moments.mean;
    out.var[at] = moments.var;
  }
  return out;
}

/** The mean of k taps: Var = (sum of the k^2 covariances) / k^2 = u (k + k (k - 1) rho) / k^2. */
export function avgPoolReference(x: Moments, taps: number, correlation: number): Moments {
  return mapMoments(x, (m, u) => {
    let covarianceSum = 0;
    for (let i = 0; i < taps; i++) for (let j = 0; j < taps; j++) covarianceSum += i === j ? u : correlation * u;
    return { mean: m, var: covarianceSum / (taps * taps) };
  });
}

/**
 * Clark's moments of the max of `taps` taps N(m, u) with pairwise correlation rho. The running max
 * Y (mean M, variance V) meets tap X (mean m, variance u) with Cov(Y, X) = C; then, with
 * a^2 = V + u - 2C and alpha = (M - m) / a,
 *   E max = M Phi(alpha) + m Phi(-alpha) + a phi(alpha),
 *   E max^2 = (M^2 + V) Phi(alpha) + (m^2 + u) Phi(-alpha) + (M + m) a phi(alpha),
 * and Cov(max, Z) = C Phi(alpha) + rho u Phi(-alpha) for a later tap Z. When a = 0 (rho = 1, or
 * u = 0) Y - X is constant and the max is the one with the larger mean.
 */
export function clarkMaxOf(m: number, u: number, taps: number, correlation: number): { mean: number; var: number } {
  requireThat(u >= 0 && Number.isInteger(taps) && taps >= 1, `needs u >= 0 and a positive integer taps, got ${u}, ${taps}`);
  let M = m;
  let V = u;
  let C = correlation * u;
  for (let i = 1; i < taps; i++) {
    const a2 = V + u - 2 * C;
    if (a2 <= 0) {
      if (m > M) [M, V, C] = [m, u, correlation * u];
      continue;
    }
    const a = Math.sqrt(a2);
    const alpha = (M - m) / a;
    const upper = normalTail(-alpha); // Phi(alpha)
    const lower = normalTail(alpha); // Phi(-alpha)
    const density = normalDensity(alpha);
    const mean = M * upper + m * lower + a * density;
    const second = (M * M + V) * upper + (m * m + u) * lower + (M + m) * a * density;
    C = C * upper + correlation * u * lower;
    V = second - mean * mean;
    M = mean;
  }
  return { mean: M, var: V };
}

export function maxPoolReference(x: Moments, taps: number, correlation: number): Moments {
  return mapMoments(x, (m, u) => clarkMaxOf(m, u, taps, correlation));
}

/**
 * The exact mean and variance of the max of `taps` standard normals with pairwise correlation
 * rho >= 0. Such taps are sqrt(rho) Z0 + sqrt(1 - rho) Z_i with independent Z, so the max is
 * sqrt(rho) Z0 + sqrt(1 - rho) max_i Z_i, and the moments of max_i Z_i are
 * integral of x^j k phi(x) Phi(x)^(k-1) dx (composite Simpson on [-12, 12], error below 1e-12).
 */
export function exactMaxOfStandardNormals(taps: number, correlation: number): { mean: number; var: number } {
  const intervals = 6000;
  const h = 24 / intervals;
  let first = 0;
  let second = 0;
  for (let i = 0; i <= intervals; i++) {
    const x = -12 + i * h;
    const weight = i === 0 || i === intervals ? 1 : i % 2 === 1 ? 4 : 2;
    const density = taps * normalDensity(x) * Math.pow(1 - normalTail(x), taps - 1);
    first += weight * x * density;
    second += weight * x * x * density;
  }
  first *= h / 3;
  second *= h / 3;
  return { mean: Math.sqrt(1 - correlation) * first, var: correlation + (1 - correlation) * (second - first * first) };
}
