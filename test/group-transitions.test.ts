/**
 * The group transition (groupMoments and moments.groups): per-channel rows [R, C] to the moments
 * of one GKN unit, rows [R, G]. Against the float64 reference in reference/group-reference.ts
 * (forward) and central differences of it (backward); against Monte Carlo draws of GKN units, with
 * independent and with correlated values; the node; a one-row prior broadcast over a GKN layer's
 * samples; a linked chain input node - linear - groups - GKN layer whose gradients match finite
 * differences of the float64 chain; and bad arguments.
 */
import { expect } from 'chai';
import { GroupKalmanNorm, InputStatistics, Tensor, moments, ops } from '../lib';
import { GroupChainInput, groupChainForward, groupChainLoss, groupReference } from './reference/group-reference';
import { geometryOf, guardRatio, unitStatistics } from './reference/kalman-norm-reference';
import { assertClose } from './util/assert-close';
import { centralDifference } from './util/finite-difference';
import { Random, makeRandom, randomArray } from './util/random';
import { FixedNode } from './util/fixed-node';
import { FORWARD_RTOL, expectMomentsClose, matrix, randomMoments, tensorsOf } from './util/moment-rows';

/** float32 gradient against central differences: normwise relative error. */
const GRADIENT_RTOL = 1e-4;
const MONTE_CARLO_UNITS = 200_000;
/** How far a predicted moment may sit from a sample moment, in standard errors. */
const STANDARD_ERRORS = 4;

// ---- data and checks ---------------------------------------------------------------------------

// ---- the reference -----------------------------------------------------------------------------

describe('group reference', () => {
  it('two channels (m, u) = (1, 2) and (3, 4): mean 2, variance 3 + 1 (the spread of the means); one channel per group is the identity', () => {
    const out = groupReference({ rows: 1, columns: 2, mean: Float64Array.from([1, 3]), var: Float64Array.from([2, 4]) }, 1);
    expect(Array.from(out.mean)).to.deep.equal([2]);
    expect(Array.from(out.var)).to.deep.equal([4]);
    const x = randomMoments(makeRandom(1), 2, 3);
    const same = groupReference(x, 3);
    expect(Array.from(same.mean)).to.deep.equal(Array.from(x.mean));
    assertClose(same.var, x.var, 1e-15, 'identity var');
  });
});

// ---- forward and backward ----------------------------------------------------------------------

const CASES: [rows: number, channels: number, groups: number][] = [
  [2, 6, 3],
  [3, 8, 2],
  [1, 5, 5],
  [2, 4, 1],
  [4, 12, 4],
];

describe('groupMoments', () => {
  CASES.forEach(([rows, channels, groups], index) => {
    const label = `[${rows}, ${channels}] in ${groups} groups`;
    it(`forward ${label}`, () => {
      const x = randomMoments(makeRandom(21000 + index), rows, channels);
      expectMomentsClose(ops.groupMoments(...tensorsOf(x), { groups }), groupReference(x, groups), label);
    });
    it(`backward ${label}: dMean and dVar match finite differences`, () => {
      const rng = makeRandom(22000 + index);
      const x = randomMoments(rng, rows, channels);
      const outSize = rows * groups;
      const dMean = randomArray(rng, outSize).map(Math.fround);
      const dVar = randomArray(rng, outSize).map(Math.fround);
      const forward = ops.groupMoments(...tensorsOf(x), { groups });
      const gradients = ops.groupMomentsBackward(matrix(dMean, rows, groups), matrix(dVar, rows, groups), forward.saved);
      const loss = () => {
        const out = groupReference(x, groups);
        let sum = 0;
        for (let i = 0; i < outSize; i++) sum += dMean[i] * out.mean[i] + dVar[i] * out.var[i];
        return sum;
      };
      assertClose(gradients.dMean.toArray(), centralDifference(loss, x.mean), GRADIENT_RTOL, 'dMean');
      assertClose(gradients.dVar.toArray(), centralDifference(loss, x.var), GRADIENT_RTOL, 'dVar');
    });
  });

  it('means around 1e4: the variance keeps float32 precision (the spread is taken around the group mean)', () => {
    const x = randomMoments(makeRandom(23000), 2, 6, 1e4);
    expectMomentsClose(ops.groupMoments(...tensorsOf(x), { groups: 2 }), groupReference(x, 2), 'offset 1e4');
  });

  it('a null dMean or dVar counts as zeros', () => {
    const [mean, variance] = tensorsOf(randomMoments(makeRandom(23001), 2, 6));
    const saved = ops.groupMoments(mean, variance, { groups: 3 }).saved;
    const zeros = matrix(new Float32Array(6), 2, 3);
    const ones = matrix(new Float32Array(6).fill(1), 2, 3);
    const flat = (g: { dMean: Tensor; dVar: Tensor }) => [...g.dMean.toArray(), ...g.dVar.toArray()];
    expect(flat(ops.groupMomentsBackward(null, ones, saved)), 'dMean = null').to.deep.equal(flat(ops.groupMomentsBackward(zeros, ones, saved)));
    expect(flat(ops.groupMomentsBackward(ones, null, saved)), 'dVar = null').to.deep.equal(flat(ops.groupMomentsBackward(ones, zeros, saved)));
  });

  it('NaN in a channel makes its group NaN and leaves the other groups alone', () => {
    const out = ops.groupMoments(matrix([NaN, 1, 2, 4], 1, 4), matrix([1, 1, 1, NaN], 1, 4), { groups: 2 });
    expect(Array.from(out.mean.toArray())).to.deep.equal([NaN, 3]);
    expect(Array.from(out.var.toArray())).to.deep.equal([NaN, NaN]);
    const clean = ops.groupMoments(matrix([0, 1, 2, 4], 1, 4), matrix([1, 1, 1, NaN], 1, 4), { groups: 2 });
    expect(Array.from(clean.var.toArray())).to.deep.equal([1.25, NaN]);
  });
});

// ---- Monte Carlo -------------------------------------------------------------------------------

/** The sample mean of `values` and its standard error. */
function sampleMean(values: Float64Array): { mean: number; error: number } {
  const n = values.length;
  const mean = values.reduce((sum, value) => sum + value, 0) / n;
  const second = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / n;
  return { mean, error: Math.sqrt(second / n) };
}

/**
 * GKN units of one sample's `positions` values in each of the group's channels, channel c
 * N(m_c, u_c), with correlation rho between any two values of the unit (a factor shared by the
 * unit: m_c + sqrt(u_c) (sqrt(rho) z0 + sqrt(1 - rho) z)). Per unit: xbar, the biased s2, and the
 * mean squared deviation from m_g, s2 + (xbar - m_g)^2.
 */
function sampleUnits(rng: Random, m: number[], u: number[], positions: number, rho: number, groupMean: number) {
  const size = m.length * positions;
  const xbar = new Float64Array(MONTE_CARLO_UNITS);
  const s2 = new Float64Array(MONTE_CARLO_UNITS);
  const deviation = new Float64Array(MONTE_CARLO_UNITS);
  const values = new Float64Array(size);
  for (let draw = 0; draw < MONTE_CARLO_UNITS; draw++) {
    const shared = Math.sqrt(rho) * rng.normal();
    for (let i = 0; i < size; i++) {
      const c = Math.floor(i / positions);
      values[i] = m[c] + Math.sqrt(u[c]) * (shared + Math.sqrt(1 - rho) * rng.normal());
    }
    const mean = values.reduce((sum, value) => sum + value, 0) / size;
    const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / size;
    xbar[draw] = mean;
    s2[draw] = variance;
    deviation[draw] = variance + (mean - groupMean) ** 2;
  }
  return { xbar: sampleMean(xbar), s2: sampleMean(s2), deviation: sampleMean(deviation) };
}

describe(`Monte Carlo: groupMoments against ${MONTE_CARLO_UNITS} GKN units of 4 channels x 3 positions`, () => {
  const m = [-1, 0.5, 2, 0.2];
  const u = [0.5, 1, 2, 0.25];
  const positions = 3;
  const size = m.length * positions;
  const meanOfU = u.reduce((a, b) => a + b, 0) / u.length;
  const op = ops.groupMoments(matrix(m, 1, 4), matrix(u, 1, 4), { groups: 1 });
  const [mg, ug] = [op.mean.toArray()[0], op.var.toArray()[0]];
  const within = (actual: number, sample: { mean: number; error: number }, label: string) =>
    expect(Math.abs(actual - sample.mean), `${label}: ${actual} vs ${sample.mean} +- ${sample.error}`).to.be.at.most(STANDARD_ERRORS * sample.error);

  it('independent values: E xbar = m_g, E[s2 + (xbar - m_g)^2] = u_g, E s2 = u_g - mean_c(u_c) / M; mean_c(u_c) alone is far off', () => {
    const sample = sampleUnits(makeRandom(24000), m, u, positions, 0, mg);
    within(mg, sample.xbar, 'mean');
    within(ug, sample.deviation, 'variance around m_g');
    within(ug - meanOfU / size, sample.s2, 's2');
    expect(Math.abs(meanOfU - sample.deviation.mean), 'without the spread of the channel means').to.be.at.least(100 * sample.deviation.error);
  });

  it('correlation rho = 0.5 within the unit: u_g still the variance around m_g; E s2 = u_g - Var(xbar), lower than with independence', () => {
    const rho = 0.5;
    const sample = sampleUnits(makeRandom(24001), m, u, positions, rho, mg);
    within(mg, sample.xbar, 'mean');
    within(ug, sample.deviation, 'variance around m_g');
    // Var(xbar) = ((1 - rho) sum_i u_i + rho (sum_i sqrt(u_i))^2) / M^2 over the unit's M values.
    const sumU = positions * u.reduce((a, b) => a + b, 0);
    const sumS = positions * u.reduce((a, b) => a + Math.sqrt(b), 0);
    within(ug - ((1 - rho) * sumU + rho * sumS * sumS) / (size * size), sample.s2, 's2');
    expect(ug - meanOfU / size - sample.s2.mean, 'independent prediction of s2 too high').to.be.at.least(20 * sample.s2.error);
  });
});

// ---- the node ----------------------------------------------------------------------------------

describe('moments.groups', () => {
  it("evaluate gives the op's moments and backward delivers the op's gradients to the input", () => {
    const rng = makeRandom(25000);
    const [mean, variance] = tensorsOf(randomMoments(rng, 2, 6));
    const input = new FixedNode({ mean, var: variance });
    const node = moments.groups(input, 3);
    const op = ops.groupMoments(mean, variance, { groups: 3 });
    const rows = node.evaluate();
    expect(Array.from(rows.mean.toArray()), 'mean').to.deep.equal(Array.from(op.mean.toArray()));
    expect(Array.from(rows.var.toArray()), 'var').to.deep.equal(Array.from(op.var.toArray()));
    const upstream = matrix(randomArray(rng, 6), 2, 3);
    node.backward({ dMean: upstream, dVar: upstream });
    const expected = ops.groupMomentsBackward(upstream, upstream, op.saved);
    expect(Array.from(input.received!.dMean!.toArray()), 'dMean').to.deep.equal(Array.from(expected.dMean.toArray()));
    expect(Array.from(input.received!.dVar!.toArray()), 'dVar').to.deep.equal(Array.from(expected.dVar.toArray()));
  });
});

// ---- a GKN layer with a one-row prior ------------------------------------------------------------

describe('GroupKalmanNorm linked to one row [1, G]', () => {
  const [N, C, G] = [4, 6, 2];
  const h = () => Tensor.fromArray(Float32Array.from(randomArray(makeRandom(26000), N * C * 3)), [N, C, 3]);
  const priorRow = { mean: [0.3, -0.2], var: [1.4, 0.8] };
  const dy = () => Tensor.fromArray(Float32Array.from(randomArray(makeRandom(26001), N * C * 3)), [N, C, 3]);

  it('broadcasts over the N samples: the same output as the per-unit prior [N, G], and the prior gradient summed over samples', () => {
    const linked = new GroupKalmanNorm(C, G, { gain: 0.3 });
    const source = new FixedNode({ mean: matrix(priorRow.mean, 1, G), var: matrix(priorRow.var, 1, G) });
    linked.linkPrior(source);
    const y = linked.forward(h()).y.toArray().slice();
    linked.backward(dy());

    const perUnit = new GroupKalmanNorm(C, G, { gain: 0.3 });
    const repeat = (row: number[]) => Float32Array.from({ length: N * G }, (_, i) => row[i % G]);
    const given = perUnit.forward(h(), { prior: { mean: repeat(priorRow.mean), var: repeat(priorRow.var) } });
    assertClose(y, given.y.toArray(), 0, 'y');
    const gradients = perUnit.backward(dy());
    const sumOverSamples = (values: Float32Array) => Array.from({ length: G }, (_, g) => values.filter((_, i) => i % G === g).reduce((a, b) => a + b, 0));
    expect(source.received!.dMean!.shape, 'the gradient has the row shape').to.deep.equal([1, G]);
    assertClose(source.received!.dMean!.toArray(), sumOverSamples(gradients.dPriorMean!.toArray()), 1e-6, 'dPriorMean');
    assertClose(source.received!.dVar!.toArray(), sumOverSamples(gradients.dPriorVar!.toArray()), 1e-6, 'dPriorVar');
  });
});

// ---- a chain from an input node ------------------------------------------------------------------

describe('linked chain: input node - linear - groups - GKN', () => {
  const [N, D, C, G] = [4, 3, 6, 2];
  const EPS = 1e-5;
  const GUARD = 100;

  function observedStatistics(seed: number): InputStatistics {
    const rng = makeRandom(seed);
    const statistics = new InputStatistics([D], { covariance: 'full', momentum: 0.2 });
    for (let batch = 0; batch < 3; batch++) {
      const values = new Float32Array(6 * D);
      for (let n = 0; n < 6; n++) {
        const common = rng.normal();
        for (let i = 0; i < D; i++) values[n * D + i] = 0.5 + 0.4 * common + 0.9 * rng.normal();
      }
      statistics.observe(Tensor.fromArray(values, [6, D]));
    }
    return statistics;
  }

  function chainInput(statistics: InputStatistics, seed: number): GroupChainInput {
    const rng = makeRandom(seed);
    const form = statistics.covariance();
    if (form.kind !== 'full') throw new Error('expected a full covariance');
    const normal = (length: number, std: number, mean = 0) => randomArray(rng, length, { mean, std }).map(Math.fround);
    return {
      batch: N, features: D, channels: C, groups: G, eps: EPS, guard: GUARD,
      x: normal(N * D, 1, 0.5),
      weight: normal(C * D, 1 / Math.sqrt(D)),
      gamma: Float64Array.from({ length: C }, () => Math.fround(0.6 + 0.9 * rng.uniform())),
      beta: normal(C, 0.3, 0.2),
      gain: Float64Array.from({ length: G }, () => Math.fround(0.15 + 0.7 * rng.uniform())),
      statistics: { mean: Float64Array.from(statistics.mean.toArray()), covariance: Float64Array.from(form.matrix.toArray()) },
    };
  }

  it('y matches the float64 chain; dW (data path plus the prior through w^T Sigma w and groups), dx, dGamma, dBeta, dGain match finite differences', () => {
    const statistics = observedStatistics(27000);
    const input = chainInput(statistics, 27001);
    const dOutput = randomArray(makeRandom(27002), N * C).map(Math.fround);
    const reference = groupChainForward(input);
    expect(reference.output.guardFired, 'guard').to.equal(false);
    const units = unitStatistics(reference.layer, geometryOf(reference.layer));
    expect(guardRatio(units.priorVar!, units.observedVar, { eps: EPS }), 'guard ratio far below the guard').to.be.below(10);

    // The package: h = x W^T in float32, the layer linked through the statistics graph.
    const weight = Tensor.fromArray(Float32Array.from(input.weight), [C, D]);
    const weightGrad = Tensor.zeros([C, D]);
    const layer = new GroupKalmanNorm(C, G, { eps: EPS, guard: GUARD });
    layer.gamma!.toArray().set(input.gamma);
    layer.beta!.toArray().set(input.beta);
    layer.gain.toArray().set(input.gain);
    layer.linkPrior(moments.groups(moments.affine(moments.input(statistics), { value: weight, grad: weightGrad }), G));
    const x = Float32Array.from(input.x);
    const w = weight.toArray();
    const h = new Float32Array(N * C);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) for (let i = 0; i < D; i++) h[n * C + c] += x[n * D + i] * w[c * D + i];
    const result = layer.forward(Tensor.fromArray(h, [N, C]));
    expect(result.guardFired).to.equal(false);
    assertClose(result.y.toArray(), reference.output.y, FORWARD_RTOL, 'y');

    const dh = layer.backward(Tensor.fromArray(Float32Array.from(dOutput), [N, C])).dx.toArray();
    const dW = weightGrad.toArray(); // the statistics path is already there; add the data path dh^T x
    const dx = new Float32Array(N * D);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let i = 0; i < D; i++) {
          dW[c * D + i] += dh[n * C + c] * x[n * D + i];
          dx[n * D + i] += dh[n * C + c] * w[c * D + i];
        }
    const loss = () => groupChainLoss(input, dOutput);
    assertClose(dW, centralDifference(loss, input.weight), GRADIENT_RTOL, 'dW');
    assertClose(dx, centralDifference(loss, input.x), GRADIENT_RTOL, 'dx');
    assertClose(layer.grad.gamma!.toArray(), centralDifference(loss, input.gamma), GRADIENT_RTOL, 'dGamma');
    assertClose(layer.grad.beta!.toArray(), centralDifference(loss, input.beta), GRADIENT_RTOL, 'dBeta');
    assertClose(layer.grad.gain.toArray(), centralDifference(loss, input.gain), GRADIENT_RTOL, 'dGain');
  });
});

// ---- bad input ---------------------------------------------------------------------------------

describe('groupMoments bad input: RangeError or TypeError naming the argument first, inputs untouched', () => {
  const mean = matrix([0.5, -1, 2, 0, 1, 3], 1, 6);
  const variance = matrix([1, 2, 0.5, 1, 1, 1], 1, 6);
  const fixed = () => new FixedNode({ mean, var: variance });
  const cases: { what: string; kind: typeof RangeError | typeof TypeError; argument: RegExp; call: () => unknown }[] = [
    { what: 'groups = 0', kind: RangeError, argument: /^groups: /, call: () => ops.groupMoments(mean, variance, { groups: 0 }) },
    { what: 'groups = 1.5', kind: RangeError, argument: /^groups: /, call: () => ops.groupMoments(mean, variance, { groups: 1.5 }) },
    { what: 'groups = 4 does not divide C = 6', kind: RangeError, argument: /^groups: .*C = 6/, call: () => ops.groupMoments(mean, variance, { groups: 4 }) },
    { what: 'groups a string', kind: TypeError, argument: /^groups: /, call: () => ops.groupMoments(mean, variance, { groups: '2' as never }) },
    { what: 'groups missing', kind: TypeError, argument: /^groups: /, call: () => ops.groupMoments(mean, variance, {} as never) },
    { what: 'options missing', kind: TypeError, argument: /^options: /, call: () => ops.groupMoments(mean, variance, undefined as never) },
    { what: 'an unknown option', kind: TypeError, argument: /^options\.group: /, call: () => ops.groupMoments(mean, variance, { groups: 2, group: 2 } as never) },
    { what: 'variance of another shape than mean', kind: RangeError, argument: /^variance: /, call: () => ops.groupMoments(mean, matrix([1, 1, 1], 1, 3), { groups: 3 }) },
    { what: 'mean not a tensor', kind: TypeError, argument: /^mean: /, call: () => ops.groupMoments(new Float32Array(6) as never, variance, { groups: 3 }) },
    { what: 'backward: dMean of the wrong shape', kind: RangeError, argument: /^dMean: /, call: () => ops.groupMomentsBackward(matrix([1, 1], 1, 2), null, ops.groupMoments(mean, variance, { groups: 3 }).saved) },
    { what: "backward: relu's saved state", kind: TypeError, argument: /^saved: /, call: () => ops.groupMomentsBackward(null, null, ops.reluMoments(mean, variance).saved) },
    { what: 'node: groups = 0 when built', kind: RangeError, argument: /^groups: /, call: () => moments.groups(fixed(), 0) },
    { what: 'node: groups = 4 not dividing C = 6, when evaluated', kind: RangeError, argument: /^groups: /, call: () => moments.groups(fixed(), 4).evaluate() },
  ];
  for (const c of cases) {
    it(`${c.what}: ${c.kind.name} ${c.argument.source}`, () => {
      const before = [...mean.toArray(), ...variance.toArray()];
      expect(c.call).to.throw(c.kind, c.argument);
      expect([...mean.toArray(), ...variance.toArray()], 'inputs untouched').to.deep.equal(before);
    });
  }

  it("groupMoments' saved state is refused by the relu backward", () => {
    expect(() => ops.reluMomentsBackward(null, null, ops.groupMoments(mean, variance, { groups: 3 }).saved)).to.throw(TypeError, /^saved: /);
  });

  it('a GKN layer linked to rows of the wrong group count: RangeError naming prior.mean, its output untouched', () => {
    const layer = new GroupKalmanNorm(6, 2);
    const x = Tensor.fromArray(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)), [2, 6]);
    const y = layer.forward(x).y; // unlinked: the layer's output tensor, reused by the next forward
    const before = y.toArray().slice();
    layer.linkPrior(moments.groups(fixed(), 3));
    expect(() => layer.forward(x)).to.throw(RangeError, /^prior\.mean: /);
    expect(Array.from(y.toArray()), 'output untouched').to.deep.equal(Array.from(before));
  });
});
