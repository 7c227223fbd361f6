/**
 * The pooling transitions of KN-SPEC.md section 3c (avgPoolMoments, maxPoolMoments and their
 * nodes) against the float64 reference in reference/pool-reference.ts: the reference against
 * 50-digit values, every forward against the reference, every backward against central
 * differences of the reference, both pools against Monte Carlo samples of correlated Gaussians,
 * the limits (u = 0, rho = 1, one tap, NaN), the nodes in a graph, and bad arguments.
 */
import { expect } from 'chai';
import { Tensor, moments, ops } from '../lib';
import { MAX_POOL_TAPS } from '../lib/ops/transitions';
import { avgPoolReference, clarkMaxOf, exactMaxOfStandardNormals, maxPoolReference } from './reference/pool-reference';
import { Moments, affineReference, convTransitionReference, reluReference } from './reference/transition-reference';
import { assertClose } from './util/assert-close';
import { centralDifference } from './util/finite-difference';
import { Random, makeRandom, randomArray } from './util/random';
import { FixedNode } from './util/fixed-node';
import { FORWARD_RTOL, expectMomentsClose, matrix, randomMoments, tensorsOf } from './util/moment-rows';

/** float32 gradient against central differences: normwise relative error. */
const GRADIENT_RTOL = 1e-4;
/** The reference against values computed with 50 significant digits (mpmath). */
const REFERENCE_RTOL = 1e-13;
const MONTE_CARLO_SAMPLES = 200_000;
/** How far a moment may sit from a sample moment, in standard errors (plus Clark's own error). */
const STANDARD_ERRORS = 4;
/**
 * Clark's error for 4 taps against the exact moments (quadrature), in units of sqrt(1 - rho) s
 * for the mean and (1 - rho) u for the variance (docs/LINKED-LAYERS.md); exact for 2 taps.
 */
const CLARK_ERROR: Record<number, { mean: number; var: number }> = { 2: { mean: 0, var: 0 }, 4: { mean: 0.0017, var: 0.0216 } };

// ---- data and checks ---------------------------------------------------------------------------

type Pool = 'avgPool' | 'maxPool';
const forwardOf = { avgPool: ops.avgPoolMoments, maxPool: ops.maxPoolMoments };
const backwardOf = { avgPool: ops.avgPoolMomentsBackward, maxPool: ops.maxPoolMomentsBackward };
const referenceOf = { avgPool: avgPoolReference, maxPool: maxPoolReference };

/** The gradient of sum(dMean * mean') + sum(dVar * var') through the op, and by central differences of the reference. */
function expectBackwardMatches(pool: Pool, x: Moments, taps: number, correlation: number, rng: Random): void {
  const size = x.rows * x.columns;
  const dMean = randomArray(rng, size).map(Math.fround);
  const dVar = randomArray(rng, size).map(Math.fround);
  const forward = forwardOf[pool](...tensorsOf(x), { taps, correlation });
  const gradients = backwardOf[pool](matrix(dMean, x.rows, x.columns), matrix(dVar, x.rows, x.columns), forward.saved);
  const loss = () => {
    const out = referenceOf[pool](x, taps, correlation);
    let sum = 0;
    for (let i = 0; i < size; i++) sum += dMean[i] * out.mean[i] + dVar[i] * out.var[i];
    return sum;
  };
  assertClose(gradients.dMean.toArray(), centralDifference(loss, x.mean), GRADIENT_RTOL, `${pool}: dMean`);
  assertClose(gradients.dVar.toArray(), centralDifference(loss, x.var), GRADIENT_RTOL, `${pool}: dVar`);
}

// ---- the reference -----------------------------------------------------------------------------

describe('pool reference', () => {
  it("Clark's recursion matches 50-digit values (k, rho) = (4, 0), (4, 0.5), (9, 0.25), (3, 0.9), scaled by (m, u) = (0.7, 2.25)", () => {
    const digits: [number, number, number, number][] = [
      [4, 0, 1.030993122643040114, 0.47022962759858284548],
      [4, 0.5, 0.7290222283775875218, 0.73511481379929142274],
      [9, 0.25, 1.2848915348733836986, 0.48784086312134175601],
      [3, 0.9, 0.26804951341152062681, 0.95470202694540347728],
    ];
    for (const [taps, rho, gain, spread] of digits) {
      const unit = clarkMaxOf(0, 1, taps, rho);
      assertClose([unit.mean, unit.var], [gain, spread], REFERENCE_RTOL, `k = ${taps}, rho = ${rho}: unit`);
      const scaled = clarkMaxOf(0.7, 2.25, taps, rho);
      assertClose([scaled.mean, scaled.var], [0.7 + 1.5 * gain, 2.25 * spread], REFERENCE_RTOL, `k = ${taps}, rho = ${rho}: scaled`);
    }
  });

  it('the exact max of 4 and 9 standard normals matches 50-digit values; rho scales it as sqrt(rho) Z0 + sqrt(1 - rho) max', () => {
    assertClose(Object.values(exactMaxOfStandardNormals(4, 0)), [1.0293753730039641321, 0.49171523687474176068], 1e-11, 'k = 4');
    assertClose(Object.values(exactMaxOfStandardNormals(9, 0)), [1.4850131622092370063, 0.35735332635781334373], 1e-11, 'k = 9');
    const correlated = exactMaxOfStandardNormals(4, 0.36);
    assertClose([correlated.mean, correlated.var], [0.8 * 1.0293753730039641321, 0.36 + 0.64 * 0.49171523687474176068], 1e-11, 'rho = 0.36');
  });

  it('for 2 taps Clark is exact: m + s sqrt((1 - rho) / pi), u (1 - (1 - rho) / pi)', () => {
    for (const rho of [0, 0.3, 0.9]) {
      const actual = clarkMaxOf(-0.4, 4, 2, rho);
      assertClose([actual.mean, actual.var], [-0.4 + 2 * Math.sqrt((1 - rho) / Math.PI), 4 * (1 - (1 - rho) / Math.PI)], 1e-14, `rho = ${rho}`);
    }
  });
});

// ---- forward and backward ----------------------------------------------------------------------

const CASES: [rows: number, columns: number, taps: number, correlation: number][] = [
  [2, 3, 4, 0],
  [3, 4, 4, 0.5],
  [1, 5, 9, 0.9],
  [2, 2, 2, 0.25],
  [4, 3, 1, 0.5],
  [2, 3, 4, 1],
];

for (const pool of ['avgPool', 'maxPool'] as const) {
  describe(`${pool}Moments`, () => {
    CASES.forEach(([rows, columns, taps, correlation], index) => {
      const label = `[${rows}, ${columns}], ${taps} taps, rho ${correlation}`;
      it(`forward ${label}`, () => {
        const x = randomMoments(makeRandom(11000 + index), rows, columns);
        expectMomentsClose(forwardOf[pool](...tensorsOf(x), { taps, correlation }), referenceOf[pool](x, taps, correlation), label);
      });
      it(`backward ${label}: dMean and dVar match finite differences`, () => {
        const rng = makeRandom(12000 + index);
        expectBackwardMatches(pool, randomMoments(rng, rows, columns), taps, correlation, rng);
      });
    });

    it('the default correlation is 0.5', () => {
      const x = randomMoments(makeRandom(13000), 2, 3);
      const defaulted = forwardOf[pool](...tensorsOf(x), { taps: 4 });
      expectMomentsClose(defaulted, referenceOf[pool](x, 4, 0.5), 'default');
    });

    it('a null dMean or dVar counts as zeros', () => {
      const [mean, variance] = tensorsOf(randomMoments(makeRandom(13001), 2, 3));
      const saved = forwardOf[pool](mean, variance, { taps: 4, correlation: 0.3 }).saved;
      const zeros = matrix(new Float32Array(6), 2, 3);
      const ones = matrix(new Float32Array(6).fill(1), 2, 3);
      const flat = (g: { dMean: Tensor; dVar: Tensor }) => [...g.dMean.toArray(), ...g.dVar.toArray()];
      expect(flat(backwardOf[pool](null, ones, saved)), 'dMean = null').to.deep.equal(flat(backwardOf[pool](zeros, ones, saved)));
      expect(flat(backwardOf[pool](ones, null, saved)), 'dVar = null').to.deep.equal(flat(backwardOf[pool](ones, zeros, saved)));
    });
  });
}

// ---- Monte Carlo -------------------------------------------------------------------------------

/** Mean and variance of samples with their standard errors, sqrt(var / n) and sqrt((mu4 - var^2) / n). */
function sampleMoments(samples: Float64Array) {
  const n = samples.length;
  const mean = samples.reduce((sum, value) => sum + value, 0) / n;
  let second = 0;
  let fourth = 0;
  for (const value of samples) {
    const squared = (value - mean) ** 2;
    second += squared;
    fourth += squared * squared;
  }
  const variance = second / n;
  return { mean, var: variance, meanError: Math.sqrt(variance / n), varError: Math.sqrt((fourth / n - variance * variance) / n) };
}

/** Windows of `taps` draws of N(m, s^2) with pairwise correlation rho: m + s (sqrt(rho) z0 + sqrt(1 - rho) z_i). */
function sampleWindows(rng: Random, m: number, s: number, taps: number, rho: number, combine: (window: Float64Array) => number): Float64Array {
  const window = new Float64Array(taps);
  return Float64Array.from({ length: MONTE_CARLO_SAMPLES }, () => {
    const shared = Math.sqrt(rho) * rng.normal();
    for (let i = 0; i < taps; i++) window[i] = m + s * (shared + Math.sqrt(1 - rho) * rng.normal());
    return combine(window);
  });
}

const largest = (window: Float64Array) => Math.max(...window);
const average = (window: Float64Array) => window.reduce((sum, value) => sum + value, 0) / window.length;

describe(`Monte Carlo: pooled moments against ${MONTE_CARLO_SAMPLES} windows of correlated Gaussians`, () => {
  const s = 1.5;
  let seed = 14000;
  for (const taps of [2, 4]) {
    for (const rho of [0, 0.5, 0.9]) {
      it(`max of ${taps} taps, rho ${rho}, t = m / s in {-2, 0, 2}: exact within ${STANDARD_ERRORS} SE, the op within ${STANDARD_ERRORS} SE + Clark's error`, () => {
        const rng = makeRandom(seed++);
        const exact = exactMaxOfStandardNormals(taps, rho);
        const bound = CLARK_ERROR[taps];
        for (const t of [-2, 0, 2]) {
          const m = t * s;
          const sample = sampleMoments(sampleWindows(rng, m, s, taps, rho, largest));
          const op = ops.maxPoolMoments(matrix([m], 1, 1), matrix([s * s], 1, 1), { taps, correlation: rho });
          const where = `t = ${t}`;
          expect(Math.abs(m + s * exact.mean - sample.mean), `${where}: exact mean`).to.be.at.most(STANDARD_ERRORS * sample.meanError);
          expect(Math.abs(s * s * exact.var - sample.var), `${where}: exact var`).to.be.at.most(STANDARD_ERRORS * sample.varError);
          const meanSlack = STANDARD_ERRORS * sample.meanError + bound.mean * Math.sqrt(1 - rho) * s;
          const varSlack = STANDARD_ERRORS * sample.varError + bound.var * (1 - rho) * s * s;
          expect(Math.abs(op.mean.toArray()[0] - sample.mean), `${where}: op mean ${op.mean.toArray()[0]} vs ${sample.mean}`).to.be.at.most(meanSlack);
          expect(Math.abs(op.var.toArray()[0] - sample.var), `${where}: op var ${op.var.toArray()[0]} vs ${sample.var}`).to.be.at.most(varSlack);
        }
      });
    }
  }

  it('after a relu, pooling first is the closer link: relu(maxPool) within 0.03 u of max_i relu(z_i), maxPool(relu) 0.2 u off (t = 0, rho 0.5)', () => {
    // max and relu commute exactly, so both describe the same network (docs/LINKED-LAYERS.md).
    const sample = sampleMoments(sampleWindows(makeRandom(14200), 0, 1, 4, 0.5, (window) => Math.max(0, largest(window))));
    const [zeroMean, unitVar] = [matrix([0], 1, 1), matrix([1], 1, 1)];
    const pooled = ops.maxPoolMoments(zeroMean, unitVar, { taps: 4, correlation: 0.5 });
    const poolFirst = ops.reluMoments(pooled.mean, pooled.var);
    const rectified = ops.reluMoments(zeroMean, unitVar);
    const reluFirst = ops.maxPoolMoments(rectified.mean, rectified.var, { taps: 4, correlation: 0.5 });
    expect(Math.abs(poolFirst.mean.toArray()[0] - sample.mean), 'relu(maxPool) mean').to.be.at.most(0.01);
    expect(Math.abs(poolFirst.var.toArray()[0] - sample.var), 'relu(maxPool) var').to.be.at.most(0.03);
    expect(Math.abs(reluFirst.var.toArray()[0] - sample.var), 'maxPool(relu) var').to.be.at.least(0.2);
  });

  it('the average of 4 taps at rho 0, 0.5, 0.9', () => {
    const rng = makeRandom(14100);
    for (const rho of [0, 0.5, 0.9]) {
      const sample = sampleMoments(sampleWindows(rng, 0.5, s, 4, rho, average));
      const op = ops.avgPoolMoments(matrix([0.5], 1, 1), matrix([s * s], 1, 1), { taps: 4, correlation: rho });
      expect(Math.abs(op.mean.toArray()[0] - sample.mean), `rho ${rho}: mean`).to.be.at.most(STANDARD_ERRORS * sample.meanError);
      expect(Math.abs(op.var.toArray()[0] - sample.var), `rho ${rho}: var`).to.be.at.most(STANDARD_ERRORS * sample.varError);
    }
  });
});

// ---- limits ------------------------------------------------------------------------------------

describe('pool limits', () => {
  /** maxPool's local derivatives, read back through the backward with unit upstreams. */
  function maxPoolPartials(mean: number[], variance: number[], taps: number, correlation: number) {
    const n = mean.length;
    const saved = ops.maxPoolMoments(matrix(mean, 1, n), matrix(variance, 1, n), { taps, correlation }).saved;
    const ones = matrix(new Float32Array(n).fill(1), 1, n);
    const byMean = ops.maxPoolMomentsBackward(ones, null, saved);
    const byVar = ops.maxPoolMomentsBackward(null, ones, saved);
    return { meanByM: byMean.dMean.toArray(), meanByU: byMean.dVar.toArray(), varByM: byVar.dMean.toArray(), varByU: byVar.dVar.toArray() };
  }

  it('max at u = 0: (m, 0); dmean/dm = 1, dmean/du = 0 (decided, the true one is +infinity), dvar/du = the limit from above', () => {
    const mean = [-2, 0, 3];
    const forward = ops.maxPoolMoments(matrix(mean, 1, 3), matrix([0, 0, 0], 1, 3), { taps: 4, correlation: 0.5 });
    expect(Array.from(forward.mean.toArray())).to.deep.equal(mean);
    expect(Array.from(forward.var.toArray())).to.deep.equal([0, 0, 0]);
    const partials = maxPoolPartials(mean, [0, 0, 0], 4, 0.5);
    const spread = clarkMaxOf(0, 1, 4, 0.5).var;
    expect(Array.from(partials.meanByM)).to.deep.equal([1, 1, 1]);
    expect(Array.from(partials.meanByU)).to.deep.equal([0, 0, 0]);
    expect(Array.from(partials.varByM)).to.deep.equal([0, 0, 0]);
    assertClose(partials.varByU, [spread, spread, spread], 1e-6, 'dvar/du');
  });

  it('max at u = 1e-30 and at t = +-1e4: finite, m + s gain and u spread to float32 precision', () => {
    // The raw-unit reference cancels catastrophically here (m^2 + u with u = 1e-30 m^2); the unit one does not.
    const mean = [1, -1, 1e4, -1e4];
    const variance = [1e-30, 1e-30, 1, 1].map(Math.fround);
    const forward = ops.maxPoolMoments(matrix(mean, 1, 4), matrix(variance, 1, 4), { taps: 4, correlation: 0.2 });
    const unit = clarkMaxOf(0, 1, 4, Math.fround(0.2));
    for (let i = 0; i < 4; i++) {
      assertClose([forward.mean.toArray()[i]], [mean[i] + Math.sqrt(variance[i]) * unit.mean], FORWARD_RTOL, `mean[${i}]`);
      assertClose([forward.var.toArray()[i]], [variance[i] * unit.var], FORWARD_RTOL, `var[${i}]`);
    }
    for (const [name, values] of Object.entries(maxPoolPartials(mean, variance, 4, 0.2)))
      expect(Array.from(values).every(Number.isFinite), `${name}: ${Array.from(values)}`).to.equal(true);
  });

  it('rho = 1 and one tap leave the moments unchanged; avgPool of one tap too', () => {
    const x = randomMoments(makeRandom(15000), 2, 3);
    for (const [taps, correlation] of [[4, 1], [1, 0], [1, 0.7]]) {
      const [mean, variance] = tensorsOf(x);
      expectMomentsClose(ops.maxPoolMoments(mean, variance, { taps, correlation }), x, `max, ${taps} taps, rho ${correlation}`);
    }
    expectMomentsClose(ops.avgPoolMoments(...tensorsOf(x), { taps: 1, correlation: 0 }), x, 'avg, 1 tap');
  });

  it('NaN propagates: NaN in u gives NaN moments, NaN in m a NaN mean; Inf in u an infinite mean and variance', () => {
    const mean = [NaN, 0.5, 0.5];
    const variance = [1, NaN, Infinity];
    const max = ops.maxPoolMoments(matrix(mean, 1, 3), matrix(variance, 1, 3), { taps: 4, correlation: 0.5 });
    const avg = ops.avgPoolMoments(matrix(mean, 1, 3), matrix(variance, 1, 3), { taps: 4, correlation: 0.5 });
    const clark = clarkMaxOf(0, 1, 4, 0.5);
    expect(Array.from(max.mean.toArray()), 'max mean').to.deep.equal([NaN, NaN, Infinity]);
    expect(Array.from(max.var.toArray()), 'max var').to.deep.equal([Math.fround(clark.var), NaN, Infinity]);
    expect(Array.from(avg.mean.toArray()), 'avg mean').to.deep.equal([NaN, 0.5, 0.5]);
    expect(Array.from(avg.var.toArray()), 'avg var').to.deep.equal([0.625, NaN, Infinity]);
  });
});

// ---- the nodes ---------------------------------------------------------------------------------

describe('moments.avgPool and moments.maxPool', () => {
  for (const pool of ['avgPool', 'maxPool'] as const) {
    it(`${pool}: evaluate gives the op's moments and backward delivers the op's gradients to the input`, () => {
      const rng = makeRandom(16000);
      const x = randomMoments(rng, 2, 3);
      const [mean, variance] = tensorsOf(x);
      const input = new FixedNode({ mean, var: variance });
      const node = moments[pool](input, { taps: 4, correlation: 0.25 });
      const op = forwardOf[pool](mean, variance, { taps: 4, correlation: 0.25 });
      const rows = node.evaluate();
      expect(Array.from(rows.mean.toArray()), 'mean').to.deep.equal(Array.from(op.mean.toArray()));
      expect(Array.from(rows.var.toArray()), 'var').to.deep.equal(Array.from(op.var.toArray()));
      const upstream = matrix(randomArray(rng, 6), 2, 3);
      node.backward({ dMean: upstream, dVar: upstream });
      const expected = backwardOf[pool](upstream, upstream, op.saved);
      expect(Array.from(input.received!.dMean!.toArray()), 'dMean').to.deep.equal(Array.from(expected.dMean.toArray()));
      expect(Array.from(input.received!.dVar!.toArray()), 'dVar').to.deep.equal(Array.from(expected.dVar.toArray()));
    });
  }
});

describe('the convnet link through a max pool: conv(relu(maxPool(x))) as nodes', () => {
  it('forward matches the composed references, and backward gives dMean, dVar and the kernel gradient of finite differences', () => {
    const rng = makeRandom(17000);
    const [rows, inputs, outputs] = [2, 3, 2];
    const x = randomMoments(rng, rows, inputs);
    const kernel = randomArray(rng, outputs * inputs * 4, { std: 0.5 }).map(Math.fround);
    const upstream = [randomArray(rng, rows * outputs).map(Math.fround), randomArray(rng, rows * outputs).map(Math.fround)];
    const reference = () => {
      const { weight, weightSq } = convTransitionReference(kernel, [outputs, inputs, 2, 2]);
      return affineReference(reluReference(maxPoolReference(x, 4, 0.5)), { weight, weightSq });
    };

    const input = new FixedNode({ mean: matrix(x.mean, rows, inputs), var: matrix(x.var, rows, inputs) });
    const grad = Tensor.zeros([outputs, inputs, 2, 2]);
    const tied = { value: Tensor.fromArray(new Float32Array(kernel), [outputs, inputs, 2, 2]), grad };
    const link = moments.conv(moments.relu(moments.maxPool(input, { taps: 4 })), tied);
    expectMomentsClose(link.evaluate(), reference(), 'conv(relu(maxPool))');

    link.backward({ dMean: matrix(upstream[0], rows, outputs), dVar: matrix(upstream[1], rows, outputs) });
    const loss = () => {
      const out = reference();
      let sum = 0;
      for (let i = 0; i < out.mean.length; i++) sum += upstream[0][i] * out.mean[i] + upstream[1][i] * out.var[i];
      return sum;
    };
    assertClose(input.received!.dMean!.toArray(), centralDifference(loss, x.mean), GRADIENT_RTOL, 'dMean');
    assertClose(input.received!.dVar!.toArray(), centralDifference(loss, x.var), GRADIENT_RTOL, 'dVar');
    assertClose(grad.toArray(), centralDifference(loss, kernel), GRADIENT_RTOL, 'dKernel');
  });
});

// ---- bad input ---------------------------------------------------------------------------------

describe('pool bad input: RangeError or TypeError naming the argument first, inputs untouched', () => {
  const mean = matrix([0.5, -1, 2, 0, 1, 3], 2, 3);
  const variance = matrix([1, 2, 0.5, 1, 1, 1], 2, 3);
  const relu = () => ops.reluMoments(mean, variance).saved;
  const cases: { what: string; kind: typeof RangeError | typeof TypeError; argument: RegExp; call: (pool: Pool) => unknown }[] = [
    { what: 'taps = 0', kind: RangeError, argument: /^taps: /, call: (pool) => forwardOf[pool](mean, variance, { taps: 0 }) },
    { what: 'taps = 2.5', kind: RangeError, argument: /^taps: /, call: (pool) => forwardOf[pool](mean, variance, { taps: 2.5 }) },
    { what: `taps above ${MAX_POOL_TAPS}`, kind: RangeError, argument: /^taps: /, call: (pool) => forwardOf[pool](mean, variance, { taps: MAX_POOL_TAPS + 1 }) },
    { what: 'taps a string', kind: TypeError, argument: /^taps: /, call: (pool) => forwardOf[pool](mean, variance, { taps: '4' as never }) },
    { what: 'taps missing', kind: TypeError, argument: /^taps: /, call: (pool) => forwardOf[pool](mean, variance, {} as never) },
    { what: 'correlation -0.1', kind: RangeError, argument: /^correlation: /, call: (pool) => forwardOf[pool](mean, variance, { taps: 4, correlation: -0.1 }) },
    { what: 'correlation 1.5', kind: RangeError, argument: /^correlation: /, call: (pool) => forwardOf[pool](mean, variance, { taps: 4, correlation: 1.5 }) },
    { what: 'correlation NaN', kind: RangeError, argument: /^correlation: /, call: (pool) => forwardOf[pool](mean, variance, { taps: 4, correlation: NaN }) },
    { what: 'correlation a string', kind: TypeError, argument: /^correlation: /, call: (pool) => forwardOf[pool](mean, variance, { taps: 4, correlation: '0.5' as never }) },
    { what: 'options missing', kind: TypeError, argument: /^options: /, call: (pool) => forwardOf[pool](mean, variance, undefined as never) },
    { what: 'an unknown option', kind: TypeError, argument: /^options\.corelation: /, call: (pool) => forwardOf[pool](mean, variance, { taps: 4, corelation: 0.5 } as never) },
    { what: 'variance of another shape than mean', kind: RangeError, argument: /^variance: /, call: (pool) => forwardOf[pool](mean, matrix([1, 1, 1], 1, 3), { taps: 4 }) },
    { what: 'mean not a tensor', kind: TypeError, argument: /^mean: /, call: (pool) => forwardOf[pool](new Float32Array(6) as never, variance, { taps: 4 }) },
    { what: 'backward: dMean of the wrong shape', kind: RangeError, argument: /^dMean: /, call: (pool) => backwardOf[pool](matrix([1, 1], 1, 2), null, forwardOf[pool](mean, variance, { taps: 4 }).saved) },
    { what: "backward: relu's saved state", kind: TypeError, argument: /^saved: /, call: (pool) => backwardOf[pool](null, null, relu()) },
    { what: 'node: taps = 0 when built', kind: RangeError, argument: /^taps: /, call: (pool) => moments[pool](new FixedNode({ mean, var: variance }), { taps: 0 }) },
  ];
  for (const pool of ['avgPool', 'maxPool'] as const) {
    for (const c of cases) {
      it(`${pool}: ${c.what}: ${c.kind.name} ${c.argument.source}`, () => {
        const before = [...mean.toArray(), ...variance.toArray()];
        expect(() => c.call(pool)).to.throw(c.kind, c.argument);
        expect([...mean.toArray(), ...variance.toArray()], 'inputs untouched').to.deep.equal(before);
      });
    }
  }
  it("maxPool's saved state is refused by the relu backward", () => {
    expect(() => ops.reluMomentsBackward(null, null, ops.maxPoolMoments(mean, variance, { taps: 4 }).saved)).to.throw(TypeError, /^saved: /);
  });
});
