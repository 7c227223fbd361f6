/**
 * The forward pass of the addon (float32, CPU backend) against the float64 reference of KN-SPEC
 * section 1, and the identities it must satisfy: BN / GN without a prior, K = 1 ignores the prior,
 * ghost batches equal separate calls, NCHW equals NHWC. Then shifted data, NaN, caller-owned
 * outputs and determinism across threads.
 *
 * Every input is drawn in float64 and rounded to float32 once, so the reference and the addon see
 * the same numbers and the comparison measures the addon's arithmetic, not the rounding of x.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import { Tensor, ops } from '../lib';
import type { NormOptions, NormResult, StatVector } from '../lib';
import {
  Layout,
  ReferenceInput,
  forEachElement,
  geometryOf,
  referenceForward,
  unitCount,
} from './reference/kalman-norm-reference';
import { batchNorm, groupNorm } from './reference/plain-norms';
import { assertClose, relativeError } from './util/assert-close';
import { Random, makeRandom, randomArray } from './util/random';

/** The addon (float32) against the float64 reference, normwise. */
const REFERENCE_RTOL = 1e-5;
/** Two addon calls that compute the same function in a different order: float32 rounding only. */
const ROUNDING_RTOL = 1e-6;

type Op = 'kn' | 'gkn';
type Placement = 'per unit' | 'per column';
type VectorType = 'Float32Array' | 'Tensor';
type Epilogue = 'none' | 'residual' | 'relu' | 'relu + residual';

const OPS: readonly Op[] = ['kn', 'gkn'];
const LAYOUTS: readonly Layout[] = ['NCHW', 'NHWC'];
const OP_NAMES: Record<Op, string> = { kn: 'KN', gkn: 'GKN' };

/** Everything that picks one forward call; absent fields take the op's defaults. */
interface CaseSpec {
  op: Op;
  layout: Layout;
  shape: number[]; // logical [N, C, ...spatial]
  virtualBatch?: number; // KN; absent = N
  groups?: number; // GKN, required there
  prior?: { placement: Placement; as: VectorType; varScale?: number };
  gain?: number | 'per column'; // default 0.1
  guard?: number; // default 100
  affine?: boolean; // gamma and beta given
  epilogue?: Epilogue;
  training?: boolean; // false: KN inference with the running estimates
  running?: { as: VectorType; momentum: number }; // KN running estimates
  data?: { mean: number; std: number }; // how x is drawn; default N(2, 3^2)
  seed: number;
}

/** A reference input, and how the addon call receives the vectors the reference does not care about. */
interface Case {
  input: ReferenceInput; // every value exactly representable in float32
  priorAs: VectorType;
  runningAs: VectorType;
}

/** What an addon call returned, and the running estimates it was given (updated in place). */
interface AddonRun {
  result: NormResult;
  runningMean?: Float32Array;
  runningVar?: Float32Array;
}

function product(values: readonly number[]): number {
  return values.reduce((result, value) => result * value, 1);
}

function divisorsOf(value: number): number[] {
  return Array.from({ length: value }, (_, i) => i + 1).filter((d) => value % d === 0);
}

/** [N, C] for S = 1, [N, C, r, r] when S = r^2, else [N, C, S]. */
function shapeOf(batch: number, channels: number, spatial: number): number[] {
  if (spatial === 1) return [batch, channels];
  const side = Math.round(Math.sqrt(spatial));
  return side * side === spatial ? [batch, channels, side, side] : [batch, channels, spatial];
}

/** Rounds to float32 values, kept in a Float64Array for the reference. */
function float32Exact(values: Float64Array): Float64Array {
  return Float64Array.from(Float32Array.from(values));
}

function normalValues(rng: Random, length: number, mean: number, std: number): Float64Array {
  return float32Exact(randomArray(rng, length, { mean, std }));
}

function uniformValues(rng: Random, length: number, low: number, high: number): Float64Array {
  return float32Exact(Float64Array.from({ length }, () => low + (high - low) * rng.uniform()));
}

/** [rows, columns] of the statistic units: [B, C] for KN, [N, G] for GKN. */
function unitShapeOf(spec: Pick<CaseSpec, 'op' | 'shape' | 'virtualBatch' | 'groups'>): [number, number] {
  const [batch, channels] = spec.shape;
  return spec.op === 'kn' ? [batch / (spec.virtualBatch ?? batch), channels] : [batch, spec.groups!];
}

function makeCase(spec: CaseSpec): Case {
  const rng = makeRandom(spec.seed);
  const [batch, channels] = spec.shape;
  const [rows, columns] = unitShapeOf(spec);
  const size = product(spec.shape);
  const data = spec.data ?? { mean: 2, std: 3 };
  const epilogue = spec.epilogue ?? 'none';
  const priorLength = spec.prior?.placement === 'per unit' ? rows * columns : columns;
  const varScale = spec.prior?.varScale ?? 1;
  const input: ReferenceInput = {
    kind: spec.op,
    x: normalValues(rng, size, data.mean, data.std),
    shape: spec.shape,
    layout: spec.layout,
    training: spec.training ?? true,
    eps: 1e-5,
    virtualBatch: spec.op === 'kn' ? spec.virtualBatch ?? batch : undefined,
    groups: spec.groups,
    gain: spec.gain === 'per column' ? uniformValues(rng, columns, 0, 1) : spec.gain ?? 0.1,
    // The prior mean sits away from the data mean, so the innovation d is far from zero.
    prior: spec.prior && {
      mean: normalValues(rng, priorLength, -1, 2),
      var: uniformValues(rng, priorLength, varScale, 10 * varScale),
    },
    guard: spec.guard ?? 100,
    gamma: spec.affine ? normalValues(rng, channels, 1, 0.5) : undefined,
    beta: spec.affine ? normalValues(rng, channels, 0.5, 1) : undefined,
    residual: epilogue.includes('residual') ? normalValues(rng, size, -1, 2) : undefined,
    activation: epilogue.includes('relu') ? 'relu' : 'identity',
    runningMean: spec.running && normalValues(rng, channels, 0, 1),
    runningVar: spec.running && uniformValues(rng, channels, 0.5, 2),
    momentum: spec.running?.momentum ?? 0.1,
  };
  return { input, priorAs: spec.prior?.as ?? 'Float32Array', runningAs: spec.running?.as ?? 'Float32Array' };
}

function caseName(spec: CaseSpec): string {
  const parts = [`${OP_NAMES[spec.op]} ${spec.layout} [${spec.shape.join(', ')}]`];
  if (spec.op === 'kn') parts.push(spec.virtualBatch === undefined ? 'v = N' : `v = ${spec.virtualBatch}`);
  else parts.push(`G = ${spec.groups}`);
  if (spec.training === false) parts.push(`inference, running estimates as ${spec.running?.as}`);
  else if (spec.running) parts.push(`running estimates as ${spec.running.as}, momentum ${spec.running.momentum}`);
  parts.push(spec.prior ? `prior ${spec.prior.placement} as ${spec.prior.as}` : 'no prior');
  parts.push(`gain ${spec.gain ?? 0.1}`, `guard ${spec.guard ?? 100}`);
  parts.push(spec.affine ? 'affine' : 'no affine', `epilogue ${spec.epilogue ?? 'none'}`);
  return parts.join(', ');
}

function tensorOf(values: Float64Array, shape: readonly number[], layout: Layout = 'NCHW'): Tensor {
  return Tensor.fromArray(Float32Array.from(values), shape, { layout });
}

function vectorOf(values: Float64Array, as: VectorType, shape: readonly number[]): StatVector {
  return as === 'Tensor' ? tensorOf(values, shape) : Float32Array.from(values);
}

/** Runs the addon on the float32 copy of a case's input. */
function runAddon(testCase: Case, out?: NormOptions['out']): AddonRun {
  const { input, priorAs, runningAs } = testCase;
  const geometry = geometryOf(input);
  const { rows, columns, channels } = geometry;
  const priorShape = (values: Float64Array) => (values.length === columns ? [columns] : [rows, columns]);
  const common: NormOptions = {
    training: input.training,
    eps: input.eps,
    gain: typeof input.gain === 'number' ? input.gain : Float32Array.from(input.gain),
    prior: input.prior && {
      mean: vectorOf(input.prior.mean, priorAs, priorShape(input.prior.mean)),
      var: vectorOf(input.prior.var, priorAs, priorShape(input.prior.var)),
    },
    guard: input.guard,
    gamma: input.gamma && Float32Array.from(input.gamma),
    beta: input.beta && Float32Array.from(input.beta),
    residual: input.residual && tensorOf(input.residual, input.shape, input.layout),
    activation: input.activation,
    out,
  };
  const x = tensorOf(input.x, input.shape, input.layout);
  if (input.kind === 'gkn') return { result: ops.groupKalmanNorm(x, { ...common, groups: input.groups! }) };
  const runningMean = input.runningMean && vectorOf(input.runningMean, runningAs, [channels]);
  const runningVar = input.runningVar && vectorOf(input.runningVar, runningAs, [channels]);
  const result = ops.kalmanNorm(x, {
    ...common,
    virtualBatch: input.virtualBatch,
    runningMean,
    runningVar,
    momentum: input.momentum,
  });
  const memory = (vector: StatVector | undefined) => (vector instanceof Tensor ? vector.toArray() : vector);
  return { result, runningMean: memory(runningMean), runningVar: memory(runningVar) };
}

/** y, the posterior (or the running estimates in KN inference), the guard flag and the running updates. */
function expectMatchesReference(run: AddonRun, input: ReferenceInput): void {
  const expected = referenceForward(input);
  const geometry = geometryOf(input);
  const { y, mean, var: variance, guardFired } = run.result;
  expect(y.shape).to.deep.equal(input.shape);
  expect(y.layout).to.equal(input.layout);
  const statisticShape = input.kind === 'kn' && !input.training ? [geometry.channels] : [geometry.rows, geometry.columns];
  expect(product(mean.shape), 'mean size').to.equal(product(statisticShape));
  expect(product(variance.shape), 'var size').to.equal(product(statisticShape));
  assertClose(y.toArray(), expected.y, REFERENCE_RTOL, 'y');
  assertClose(mean.toArray(), expected.mean, REFERENCE_RTOL, 'mean');
  assertClose(variance.toArray(), expected.var, REFERENCE_RTOL, 'var');
  expect(guardFired, 'guardFired').to.equal(expected.guardFired);
  if (expected.runningMean) assertClose(run.runningMean!, expected.runningMean, REFERENCE_RTOL, 'runningMean');
  if (expected.runningVar) assertClose(run.runningVar!, expected.runningVar, REFERENCE_RTOL, 'runningVar');
}

/** y, mean and var of two addon calls agree to float32 rounding. */
function expectSameOutputs(actual: NormResult, expected: NormResult, label: string): void {
  assertClose(actual.y.toArray(), expected.y.toArray(), ROUNDING_RTOL, `${label}: y`);
  assertClose(actual.mean.toArray(), expected.mean.toArray(), ROUNDING_RTOL, `${label}: mean`);
  assertClose(actual.var.toArray(), expected.var.toArray(), ROUNDING_RTOL, `${label}: var`);
}

function withoutPrior(testCase: Case): Case {
  return { ...testCase, input: { ...testCase.input, prior: undefined } };
}

/** Memory offset of the logical element [n][c][s]. */
function offsetIn(layout: Layout, channels: number, spatial: number, n: number, c: number, s: number): number {
  return layout === 'NCHW' ? (n * channels + c) * spatial + s : (n * spatial + s) * channels + c;
}

/** The same logical tensor stored in the other layout. */
function changeLayout<T extends Float32Array | Float64Array>(values: T, shape: readonly number[], from: Layout): T {
  const [batch, channels] = shape;
  const spatial = product(shape.slice(2));
  const to: Layout = from === 'NCHW' ? 'NHWC' : 'NCHW';
  const result = values.slice() as T;
  for (let n = 0; n < batch; n++)
    for (let c = 0; c < channels; c++)
      for (let s = 0; s < spatial; s++)
        result[offsetIn(to, channels, spatial, n, c, s)] = values[offsetIn(from, channels, spatial, n, c, s)];
  return result;
}

/** -1 when the two arrays hold the same bits, else the first index where they differ. */
function firstBitwiseDifference(a: Float32Array, b: Float32Array): number {
  const aBits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const bBits = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (aBits.length !== bBits.length) return 0;
  return aBits.findIndex((bits, i) => bits !== bBits[i]);
}

describe('kalmanNorm / groupKalmanNorm forward', function () {
  describe('addon (float32) vs float64 reference: combinatorial sweep', function () {
    const BATCH_SIZES = [1, 2, 3, 4, 8];
    const SPATIAL_SIZES = [1, 7, 49, 3136];
    const CHANNEL_COUNTS = [3, 5, 6, 12];
    const PRIORS: CaseSpec['prior'][] = [
      undefined,
      { placement: 'per unit', as: 'Float32Array' },
      { placement: 'per column', as: 'Tensor' },
      { placement: 'per unit', as: 'Tensor' },
      { placement: 'per column', as: 'Float32Array' },
    ];
    const GAINS: CaseSpec['gain'][] = [0, 0.1, 1, 'per column'];
    const GUARDS = [Infinity, 100]; // 100 with priors that never reach it: the guard is on and does not fire
    const AFFINE = [true, false];
    const EPILOGUES: Epilogue[] = ['none', 'relu + residual', 'residual', 'relu'];
    const ROWS = 8; // at least as many as the longest factor list, so each list is covered

    OPS.forEach((op, opIndex) =>
      LAYOUTS.forEach((layout, layoutIndex) => {
        const shift = 2 * opIndex + layoutIndex;
        for (let row = 0; row < ROWS; row++) {
          // Each factor steps through all its values as the rows advance; its own offset, different
          // for each (op, layout) pair, changes which values meet in one case.
          let factor = 0;
          const pick = <T>(values: readonly T[]): T => values[(row + shift * ++factor) % values.length];
          const batch = pick(BATCH_SIZES);
          const channels = pick(CHANNEL_COUNTS);
          const spec: CaseSpec = {
            op,
            layout,
            shape: shapeOf(batch, channels, pick(SPATIAL_SIZES)),
            prior: pick(PRIORS),
            gain: pick(GAINS),
            guard: pick(GUARDS),
            affine: pick(AFFINE),
            epilogue: pick(EPILOGUES),
            seed: 100 * shift + row,
          };
          if (op === 'kn') {
            const ghostBatch = pick(divisorsOf(batch));
            spec.virtualBatch = ghostBatch === batch ? undefined : ghostBatch;
          } else {
            spec.groups = pick(divisorsOf(channels));
          }
          it(caseName(spec), function () {
            const testCase = makeCase(spec);
            expectMatchesReference(runAddon(testCase), testCase.input);
          });
        }
      }),
    );
  });

  describe('KN ghost batches vs float64 reference', function () {
    for (const layout of LAYOUTS)
      for (const [batch, ghostBatches] of [[4, [1, 2]], [8, [1, 2, 4]]] as const)
        for (const virtualBatch of ghostBatches) {
          const spec: CaseSpec = {
            op: 'kn', layout, shape: [batch, 5, 7, 7], virtualBatch,
            prior: { placement: 'per unit', as: 'Float32Array' }, gain: 'per column',
            affine: true, epilogue: 'relu + residual', seed: 10 * batch + virtualBatch,
          };
          it(caseName(spec), function () {
            const testCase = makeCase(spec);
            expectMatchesReference(runAddon(testCase), testCase.input);
          });
        }
  });

  describe('guard firing: a prior variance far above the observed one', function () {
    for (const op of OPS)
      for (const layout of LAYOUTS)
        for (const placement of ['per unit', 'per column'] as const) {
          const spec: CaseSpec = {
            op, layout, shape: [4, 6, 7, 7], virtualBatch: op === 'kn' ? 2 : undefined, groups: op === 'gkn' ? 3 : undefined,
            prior: { placement, as: 'Tensor', varScale: 1e6 }, gain: 0.5, guard: 100,
            affine: true, epilogue: 'relu + residual', seed: 7,
          };
          it(`${caseName(spec)}: guardFired, and y equals the no-prior result`, function () {
            const testCase = makeCase(spec);
            const run = runAddon(testCase);
            expect(run.result.guardFired).to.equal(true);
            expectMatchesReference(run, testCase.input);
            expectSameOutputs(run.result, runAddon(withoutPrior(testCase)).result, 'fired vs no prior');
          });
        }
  });

  describe('KN inference with running estimates', function () {
    for (const layout of LAYOUTS)
      for (const as of ['Float32Array', 'Tensor'] as const) {
        const spec: CaseSpec = {
          op: 'kn', layout, shape: [3, 5, 7, 7], training: false, running: { as, momentum: 0.1 },
          affine: as === 'Tensor', epilogue: as === 'Tensor' ? 'relu + residual' : 'none', seed: 3,
        };
        it(`${caseName(spec)}: returns the running estimates as mean / var [C] and leaves them alone`, function () {
          const testCase = makeCase(spec);
          const run = runAddon(testCase);
          expect(run.result.mean.shape).to.deep.equal([5]);
          expect(run.result.var.shape).to.deep.equal([5]);
          expectMatchesReference(run, testCase.input);
          expect(Array.from(run.runningMean!)).to.deep.equal(Array.from(testCase.input.runningMean!));
          expect(Array.from(run.runningVar!)).to.deep.equal(Array.from(testCase.input.runningVar!));
        });
      }
  });

  describe('KN training: running estimates updated in place', function () {
    for (const layout of LAYOUTS)
      for (const momentum of [0.3, 1])
        for (const as of ['Float32Array', 'Tensor'] as const) {
          const spec: CaseSpec = {
            op: 'kn', layout, shape: [4, 3, 7], virtualBatch: 2, running: { as, momentum },
            prior: { placement: 'per unit', as: 'Float32Array' }, gain: 0.3, seed: 11,
          };
          it(caseName(spec), function () {
            const testCase = makeCase(spec);
            const run = runAddon(testCase);
            expectMatchesReference(run, testCase.input);
            // Running estimates start near N(0, 1) and the batch is N(2, 9): an ignored momentum shows.
            const other = referenceForward({ ...testCase.input, momentum: momentum === 1 ? 0.3 : 1 });
            expect(relativeError(run.runningMean!, other.runningMean!)).to.be.above(1e-2);
          });
        }
  });

  describe('identities', function () {
    for (const layout of LAYOUTS) {
      const knSpec: CaseSpec = { op: 'kn', layout, shape: [4, 5, 7, 7], virtualBatch: 2, affine: true, seed: 21 };
      it(`${caseName(knSpec)}: equals batchNorm (plain-norms)`, function () {
        const testCase = makeCase(knSpec);
        const { input } = testCase;
        const expected = batchNorm(input.x, input.shape, layout, input.eps, 2, input.gamma, input.beta);
        assertClose(runAddon(testCase).result.y.toArray(), expected, REFERENCE_RTOL, 'y');
      });

      const gknSpec: CaseSpec = { op: 'gkn', layout, shape: [3, 6, 7, 7], groups: 3, affine: true, seed: 22 };
      it(`${caseName(gknSpec)}: equals groupNorm (plain-norms)`, function () {
        const testCase = makeCase(gknSpec);
        const { input } = testCase;
        const expected = groupNorm(input.x, input.shape, layout, 3, input.eps, input.gamma, input.beta);
        assertClose(runAddon(testCase).result.y.toArray(), expected, REFERENCE_RTOL, 'y');
      });
    }

    for (const op of OPS)
      for (const layout of LAYOUTS) {
        const spec: CaseSpec = {
          op, layout, shape: [4, 6, 7], virtualBatch: op === 'kn' ? 2 : undefined, groups: op === 'gkn' ? 2 : undefined,
          prior: { placement: 'per unit', as: 'Float32Array' }, gain: 1, affine: true, epilogue: 'relu + residual', seed: 23,
        };
        it(`${caseName(spec)}: K = 1 equals no prior`, function () {
          const testCase = makeCase(spec);
          const run = runAddon(testCase);
          expect(run.result.guardFired).to.equal(false);
          expectSameOutputs(run.result, runAddon(withoutPrior(testCase)).result, 'K = 1 vs no prior');
        });
      }

    for (const layout of LAYOUTS)
      for (const placement of ['per unit', 'per column'] as const) {
        const virtualBatch = 2;
        // Guard off: it averages over all units of a call, so slices would each take their own decision.
        const spec: CaseSpec = {
          op: 'kn', layout, shape: [8, 5, 7, 7], virtualBatch, prior: { placement, as: 'Float32Array' },
          gain: 'per column', guard: Infinity, affine: true, epilogue: 'relu + residual', seed: 24,
        };
        it(`${caseName(spec)}: equals one call per ghost batch`, function () {
          const testCase = makeCase(spec);
          const { input } = testCase;
          const whole = runAddon(testCase).result;
          const [batch, channels, ...spatialDims] = input.shape;
          const sliceSize = product(input.shape) / (batch / virtualBatch);
          for (let ghost = 0; ghost < batch / virtualBatch; ghost++) {
            // Samples are outermost in both layouts, so a ghost batch is one contiguous run of memory.
            const elements = (values: Float64Array) => values.subarray(ghost * sliceSize, (ghost + 1) * sliceSize);
            const priorRow = (values: Float64Array) =>
              placement === 'per unit' ? values.subarray(ghost * channels, (ghost + 1) * channels) : values;
            const sliceInput: ReferenceInput = {
              ...input,
              shape: [virtualBatch, channels, ...spatialDims],
              virtualBatch: undefined,
              x: elements(input.x),
              residual: elements(input.residual!),
              prior: { mean: priorRow(input.prior!.mean), var: priorRow(input.prior!.var) },
            };
            const slice = runAddon({ ...testCase, input: sliceInput }).result;
            const label = `ghost batch ${ghost}`;
            const rows = (values: Float32Array) => values.subarray(ghost * channels, (ghost + 1) * channels);
            assertClose(whole.y.toArray().subarray(ghost * sliceSize, (ghost + 1) * sliceSize), slice.y.toArray(), ROUNDING_RTOL, `${label}: y`);
            assertClose(rows(whole.mean.toArray()), slice.mean.toArray(), ROUNDING_RTOL, `${label}: mean`);
            assertClose(rows(whole.var.toArray()), slice.var.toArray(), ROUNDING_RTOL, `${label}: var`);
          }
        });
      }

    for (const op of OPS) {
      const spec: CaseSpec = {
        op, layout: 'NCHW', shape: [4, 6, 7, 7], virtualBatch: op === 'kn' ? 2 : undefined, groups: op === 'gkn' ? 3 : undefined,
        prior: { placement: 'per unit', as: 'Float32Array' }, gain: 'per column', affine: true, epilogue: 'relu + residual', seed: 25,
      };
      it(`${OP_NAMES[op]} [4, 6, 7, 7], prior, relu + residual: NCHW equals NHWC`, function () {
        const channelsFirst = makeCase(spec);
        const { input } = channelsFirst;
        const channelsLast: Case = {
          ...channelsFirst,
          input: {
            ...input,
            layout: 'NHWC',
            x: changeLayout(input.x, input.shape, 'NCHW'),
            residual: changeLayout(input.residual!, input.shape, 'NCHW'),
          },
        };
        const first = runAddon(channelsFirst).result;
        const last = runAddon(channelsLast).result;
        expect(last.y.layout).to.equal('NHWC');
        assertClose(changeLayout(last.y.toArray(), input.shape, 'NHWC'), first.y.toArray(), ROUNDING_RTOL, 'y');
        assertClose(last.mean.toArray(), first.mean.toArray(), ROUNDING_RTOL, 'mean');
        assertClose(last.var.toArray(), first.var.toArray(), ROUNDING_RTOL, 'var');
      });
    }
  });

  describe('shifted data: x = 1e4 + N(0, 1)', function () {
    const CONTRACT_RTOL = 1e-3; // KN-SPEC 1.1
    // The CPU backend measured at most 4.1e-7 (8 seeds, these shapes); about 10x that, so a
    // regression toward a one-pass sum of squares shows long before the contract is broken.
    const MEASURED_RTOL = 4e-6;
    for (const op of OPS)
      for (const layout of LAYOUTS)
        for (const spatial of [3136, 7]) {
          const spec: CaseSpec = {
            op, layout, shape: shapeOf(2, 6, spatial), groups: op === 'gkn' ? 2 : undefined,
            data: { mean: 1e4, std: 1 }, seed: 31,
          };
          it(`${caseName(spec)}: posterior variance within the contract (1e-3) and the measured bound (4e-6)`, function () {
            const testCase = makeCase(spec);
            const expected = referenceForward(testCase.input);
            const actual = runAddon(testCase).result;
            assertClose(actual.var.toArray(), expected.var, CONTRACT_RTOL, 'var (contract)');
            assertClose(actual.var.toArray(), expected.var, MEASURED_RTOL, 'var (measured bound)');
            assertClose(actual.mean.toArray(), expected.mean, REFERENCE_RTOL, 'mean');
          });
        }
  });

  describe('NaN in x', function () {
    for (const op of OPS)
      for (const layout of LAYOUTS) {
        const spec: CaseSpec = {
          op, layout, shape: [4, 6, 7], virtualBatch: op === 'kn' ? 2 : undefined, groups: op === 'gkn' ? 3 : undefined,
          prior: { placement: 'per column', as: 'Float32Array' }, affine: true, epilogue: 'relu + residual', seed: 41,
        };
        it(`${caseName(spec)}: NaN fills its unit's y and posterior, other units stay finite`, function () {
          const testCase = makeCase(spec);
          const { input } = testCase;
          const poisoned = 37;
          input.x[poisoned] = NaN;
          const run = runAddon(testCase);
          const geometry = geometryOf(input);
          let poisonedUnit = -1;
          forEachElement(geometry, (offset, unit) => {
            if (offset === poisoned) poisonedUnit = unit;
          });
          const y = run.result.y.toArray();
          forEachElement(geometry, (offset, unit) => {
            expect(Number.isNaN(y[offset]), `y[${offset}] in unit ${unit}`).to.equal(unit === poisonedUnit);
          });
          const [mean, variance] = [run.result.mean.toArray(), run.result.var.toArray()];
          for (let unit = 0; unit < unitCount(geometry); unit++) {
            expect(Number.isNaN(mean[unit]), `mean of unit ${unit}`).to.equal(unit === poisonedUnit);
            expect(Number.isNaN(variance[unit]), `var of unit ${unit}`).to.equal(unit === poisonedUnit);
          }
          expectMatchesReference(run, input);
        });
      }

    it('NaN and Inf in x: both ops return, checked in a child process so that a hang fails instead of stalling', function () {
      const script = `
        const { Tensor, ops } = require(${JSON.stringify(require.resolve('../lib'))});
        const prior = { mean: new Float32Array(6), var: new Float32Array(6).fill(1) };
        for (const layout of ['NCHW', 'NHWC']) {
          const data = new Float32Array(4 * 6 * 49).fill(1);
          data[5] = NaN;
          data[100] = Infinity;
          const x = Tensor.fromArray(data, [4, 6, 7, 7], { layout });
          ops.kalmanNorm(x, { virtualBatch: 2, prior });
          ops.groupKalmanNorm(x, { groups: 6, prior });
        }`;
      const child = spawnSync(process.execPath, ['-e', script], { timeout: 20000, encoding: 'utf8' });
      expect(child.signal, 'killed by the timeout or a crash').to.equal(null);
      expect(child.status, child.stderr).to.equal(0);
    });
  });

  describe('out options', function () {
    for (const op of OPS) {
      const spec: CaseSpec = {
        op, layout: 'NHWC', shape: [4, 6, 7], virtualBatch: op === 'kn' ? 2 : undefined, groups: op === 'gkn' ? 3 : undefined,
        prior: { placement: 'per unit', as: 'Float32Array' }, affine: true, seed: 51,
      };
      it(`${caseName(spec)}: writes y, mean and var into the caller's tensors and returns them`, function () {
        const testCase = makeCase(spec);
        const { input } = testCase;
        const unitShape = unitShapeOf(spec);
        const out = {
          y: Tensor.zeros(input.shape, { layout: input.layout }),
          mean: Tensor.zeros(unitShape),
          var: Tensor.zeros(unitShape),
        };
        const { result } = runAddon(testCase, out);
        expect(result.y).to.equal(out.y);
        expect(result.mean).to.equal(out.mean);
        expect(result.var).to.equal(out.var);
        expectMatchesReference({ result }, input);
      });

      it(`${OP_NAMES[op]}: out.y sharing memory with x is a RangeError naming out.y, and nothing is written`, function () {
        const { input } = makeCase(spec);
        const size = product(input.shape);
        const memory = new Float32Array(size + 3);
        memory.set(Float32Array.from(input.x));
        const x = Tensor.fromArray(memory.subarray(0, size), input.shape, { layout: input.layout });
        const forward = (out: NormOptions['out']) =>
          op === 'kn' ? ops.kalmanNorm(x, { out }) : ops.groupKalmanNorm(x, { groups: 3, out });
        const overlapping = Tensor.fromArray(memory.subarray(3, size + 3), input.shape, { layout: input.layout });
        for (const y of [x, overlapping]) {
          const mean = Tensor.fromArray(new Float32Array(unitCount(geometryOf(input))).fill(-7), unitShapeOf(spec));
          expect(() => forward({ y, mean })).to.throw(RangeError, /^out\.y/);
          expect(mean.toArray().every((value) => value === -7), 'out.mean untouched').to.equal(true);
        }
        expect(Array.from(x.toArray())).to.deep.equal(Array.from(Float32Array.from(input.x)));
      });
    }
  });

  describe('determinism across threads', function () {
    for (const op of OPS)
      for (const layout of LAYOUTS) {
        const spec: CaseSpec = {
          op, layout, shape: [4, 64, 56, 56], virtualBatch: op === 'kn' ? 2 : undefined, groups: op === 'gkn' ? 8 : undefined,
          prior: { placement: 'per unit', as: 'Float32Array' }, affine: true, epilogue: 'relu + residual', seed: 61,
        };
        it(`${caseName(spec)}: two calls give bitwise identical outputs`, function () {
          const testCase = makeCase(spec);
          const first = runAddon(testCase).result;
          const second = runAddon(testCase).result;
          for (const key of ['y', 'mean', 'var'] as const)
            expect(firstBitwiseDifference(first[key].toArray(), second[key].toArray()), `first differing index of ${key}`).to.equal(-1);
        });
      }
  });
});
