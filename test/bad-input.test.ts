// KN-SPEC section 4: every bad input throws, in-process, an error of the right kind whose message
// starts with the argument's name, before anything is written.
import { expect } from 'chai';
import { Tensor, cudaInfo, ops, KalmanNorm, GroupKalmanNorm } from '../lib';
import type { KalmanNormOptions } from '../lib';

const SENTINEL = 7;
const [N, C, H, W] = [4, 6, 3, 3];

function filled(shape: number[], value: number): Tensor {
  return Tensor.fromArray(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), shape);
}

/** A valid KN call's pieces, with outputs that the test checks stay untouched. */
function fixture() {
  const x = Tensor.fromArray(Float32Array.from({ length: N * C * H * W }, (_, i) => Math.sin(i)), [N, C, H, W]);
  const y = filled([N, C, H, W], SENTINEL);
  const runningMean = new Float32Array(C).fill(SENTINEL);
  const runningVar = new Float32Array(C).fill(SENTINEL);
  return { x, y, runningMean, runningVar };
}

type ErrorKind = typeof TypeError | typeof RangeError | typeof Error;

interface ForwardCase {
  what: string;
  options: (f: ReturnType<typeof fixture>) => Record<string, unknown>;
  x?: (f: ReturnType<typeof fixture>) => unknown;
  kind: ErrorKind;
  argument: string;
}

const forwardCases: ForwardCase[] = [
  { what: 'x is not a tensor', x: () => new Float32Array(4), options: () => ({}), kind: TypeError, argument: 'x' },
  { what: 'x has one dimension', x: () => filled([8], 1), options: () => ({}), kind: RangeError, argument: 'x' },
  { what: 'x is disposed', x: (f) => { const t = Tensor.fromArray(f.x.toArray().slice(), [N, C, H, W]); t.dispose(); return t; }, options: () => ({}), kind: Error, argument: 'x' },
  { what: 'virtualBatch does not divide N', options: () => ({ virtualBatch: 3 }), kind: RangeError, argument: 'virtualBatch' },
  { what: 'virtualBatch is not an integer', options: () => ({ virtualBatch: 1.5 }), kind: RangeError, argument: 'virtualBatch' },
  { what: 'gain above 1', options: () => ({ gain: 1.5 }), kind: RangeError, argument: 'gain' },
  { what: 'gain below 0', options: () => ({ gain: -0.1 }), kind: RangeError, argument: 'gain' },
  { what: 'gain NaN', options: () => ({ gain: NaN }), kind: RangeError, argument: 'gain' },
  { what: 'per-channel gain outside [0, 1]', options: () => ({ gain: new Float32Array(C).fill(0.5).fill(2, 3) }), kind: RangeError, argument: 'gain' },
  { what: 'per-channel gain of the wrong length', options: () => ({ gain: new Float32Array(C + 1) }), kind: RangeError, argument: 'gain' },
  { what: 'gain of the wrong type', options: () => ({ gain: '0.1' }), kind: TypeError, argument: 'gain' },
  { what: 'eps = 0', options: () => ({ eps: 0 }), kind: RangeError, argument: 'eps' },
  { what: 'eps < 0', options: () => ({ eps: -1e-5 }), kind: RangeError, argument: 'eps' },
  { what: 'eps that is 0 in float32 (1e-46)', options: () => ({ eps: 1e-46 }), kind: RangeError, argument: 'eps' },
  { what: 'eps below the smallest normal float32 (1e-39)', options: () => ({ eps: 1e-39 }), kind: RangeError, argument: 'eps' },
  { what: 'negative prior variance', options: () => ({ prior: { mean: new Float32Array(C), var: new Float32Array(C).fill(1).fill(-1, 2, 3) } }), kind: RangeError, argument: 'prior.var' },
  { what: 'prior mean of the wrong length', options: () => ({ prior: { mean: new Float32Array(C + 2), var: new Float32Array(C) } }), kind: RangeError, argument: 'prior.mean' },
  { what: 'prior without var', options: () => ({ prior: { mean: new Float32Array(C) } }), kind: TypeError, argument: 'prior.var' },
  { what: 'prior var as a Float64Array (wrong dtype)', options: () => ({ prior: { mean: new Float32Array(C), var: new Float64Array(C) } }), kind: TypeError, argument: 'prior.var' },
  { what: 'gamma as a plain array (wrong dtype)', options: () => ({ gamma: [1, 1, 1, 1, 1, 1] }), kind: TypeError, argument: 'gamma' },
  { what: 'beta of the wrong length', options: () => ({ beta: new Float32Array(C - 1) }), kind: RangeError, argument: 'beta' },
  { what: 'residual of another shape', options: () => ({ residual: filled([N, C, H, W + 1], 0) }), kind: RangeError, argument: 'residual' },
  { what: 'residual in another layout', options: () => ({ residual: Tensor.zeros([N, C, H, W], { layout: 'NHWC' }) }), kind: RangeError, argument: 'residual' },
  { what: 'disposed residual', options: () => { const r = filled([N, C, H, W], 0); r.dispose(); return { residual: r }; }, kind: Error, argument: 'residual' },
  { what: 'unknown activation', options: () => ({ activation: 'gelu' }), kind: RangeError, argument: 'activation' },
  { what: 'guard = 0', options: () => ({ guard: 0 }), kind: RangeError, argument: 'guard' },
  { what: 'unknown guard statistic', options: () => ({ guardStatistic: 'median' }), kind: RangeError, argument: 'guardStatistic' },
  { what: 'momentum above 1', options: (f) => ({ runningMean: f.runningMean, runningVar: f.runningVar, momentum: 2 }), kind: RangeError, argument: 'momentum' },
  { what: 'runningMean without runningVar', options: (f) => ({ runningMean: f.runningMean, runningVar: undefined }), kind: TypeError, argument: 'runningVar' },
  { what: 'negative running variance', options: (f) => ({ runningMean: f.runningMean, runningVar: new Float32Array(C).fill(-1) }), kind: RangeError, argument: 'runningVar' },
  { what: 'inference without running estimates', options: () => ({ training: false, runningMean: undefined, runningVar: undefined }), kind: TypeError, argument: 'runningMean' },
  { what: 'training not a boolean', options: () => ({ training: 'yes' }), kind: TypeError, argument: 'training' },
  { what: 'a misspelt option', options: () => ({ virtualbatch: 2 }), kind: TypeError, argument: 'options.virtualbatch' },
  { what: 'out.mean of the wrong size', options: () => ({ out: { mean: filled([C + 1], 0) } }), kind: RangeError, argument: 'out.mean' },
  { what: 'out.y aliasing x', options: (f) => ({ out: { y: f.x } }), kind: RangeError, argument: 'out.y' },
  // One parse for every mode: inference checks the options it does not use too.
  { what: 'inference with a gain of the wrong type', options: () => ({ training: false, gain: 'x' }), kind: TypeError, argument: 'gain' },
  { what: 'inference with guard NaN', options: () => ({ training: false, guard: NaN }), kind: RangeError, argument: 'guard' },
  { what: 'inference with a prior that is a number', options: () => ({ training: false, prior: 42 }), kind: TypeError, argument: 'prior' },
  { what: 'momentum above 1 without running estimates', options: () => ({ runningMean: undefined, runningVar: undefined, momentum: 2 }), kind: RangeError, argument: 'momentum' },
];

describe('bad input (KN-SPEC section 4)', () => {
  describe('kalmanNorm', () => {
    for (const c of forwardCases) {
      it(`${c.what}: ${c.kind.name} naming ${c.argument}, nothing written`, () => {
        const f = fixture();
        const options = c.options(f);
        const x = c.x ? c.x(f) : f.x;
        const out = (options.out as object | undefined) ?? { y: f.y };
        const call = () => ops.kalmanNorm(x as Tensor, { runningMean: f.runningMean, runningVar: f.runningVar, ...options, out } as KalmanNormOptions);
        expect(call).to.throw(c.kind, new RegExp(`^${c.argument.replace('.', '\\.')}: `));
        try {
          call();
        } catch (error) {
          if (c.kind !== Error) expect(error).to.be.instanceOf(c.kind);
          else expect(error).to.not.be.instanceOf(TypeError).and.not.be.instanceOf(RangeError);
        }
        expect(Array.from(f.y.toArray()).every((v) => v === SENTINEL), 'out.y untouched').to.equal(true);
        expect(Array.from(f.runningMean).every((v) => v === SENTINEL), 'runningMean untouched').to.equal(true);
        expect(Array.from(f.runningVar).every((v) => v === SENTINEL), 'runningVar untouched').to.equal(true);
      });
    }
  });

  describe('groupKalmanNorm', () => {
    it('groups not dividing C: RangeError naming groups', () => {
      expect(() => ops.groupKalmanNorm(fixture().x, { groups: 4 })).to.throw(RangeError, /^groups: must divide/);
    });
    it('groups missing: TypeError naming groups', () => {
      expect(() => ops.groupKalmanNorm(fixture().x, {} as { groups: number })).to.throw(TypeError, /^groups: /);
    });
    it('a KN-only option: TypeError naming it', () => {
      const options = { groups: 2, virtualBatch: 2 } as unknown as { groups: number };
      expect(() => ops.groupKalmanNorm(fixture().x, options)).to.throw(TypeError, /^options\.virtualBatch: /);
    });
    it('per-group gain of the wrong length: RangeError naming gain', () => {
      expect(() => ops.groupKalmanNorm(fixture().x, { groups: 2, gain: new Float32Array(C) })).to.throw(RangeError, /^gain: /);
    });
  });

  describe('backward', () => {
    it('dy of another shape: RangeError naming dy, dx not written', () => {
      const f = fixture();
      const { saved } = ops.kalmanNorm(f.x);
      const dx = filled([N, C, H, W], SENTINEL);
      expect(() => ops.kalmanNormBackward(filled([N, C, H, H + 1], 1), saved, { out: { dx } })).to.throw(RangeError, /^dy: /);
      expect(Array.from(dx.toArray()).every((v) => v === SENTINEL)).to.equal(true);
    });
    it('dMean of the wrong length: RangeError naming dMean', () => {
      const f = fixture();
      const { saved } = ops.kalmanNorm(f.x, { virtualBatch: 2 });
      expect(() => ops.kalmanNormBackward(filled([N, C, H, W], 1), saved, { dMean: new Float32Array(C) })).to.throw(RangeError, /^dMean: /);
    });
    it('saved state that is not one: TypeError naming saved', () => {
      expect(() => ops.kalmanNormBackward(fixture().x, {} as never)).to.throw(TypeError, /^saved: /);
    });
    it('x disposed before backward: Error naming saved.x', () => {
      const x = Tensor.fromArray(fixture().x.toArray().slice(), [N, C, H, W]);
      const { saved } = ops.kalmanNorm(x);
      x.dispose();
      expect(() => ops.kalmanNormBackward(filled([N, C, H, W], 1), saved)).to.throw(Error, /^saved\.x: /);
    });
  });

  describe('tensors', () => {
    it('data of the wrong dtype: TypeError naming data', () => {
      expect(() => Tensor.fromArray(new Float64Array(4) as unknown as Float32Array, [4])).to.throw(TypeError, /^data: /);
    });
    it('shape not matching the data: RangeError naming data', () => {
      expect(() => Tensor.fromArray(new Float32Array(6), [2, 2])).to.throw(RangeError, /^data: expected 4 elements/);
    });
    it('a non-integer dimension: RangeError naming it', () => {
      expect(() => Tensor.fromArray(new Float32Array(6), [2, 3.5])).to.throw(RangeError, /^shape\[1\]: /);
    });
    it('an unknown layout: RangeError naming layout', () => {
      expect(() => Tensor.fromArray(new Float32Array(4), [1, 4], { layout: 'NWHC' as never })).to.throw(RangeError, /^layout: /);
    });
    it("device 'cuda' where no GPU is usable: Error naming device and saying why", function () {
      if (cudaInfo().available) this.skip(); // the GPU suite covers CUDA tensors
      expect(() => Tensor.fromArray(new Float32Array(4), [1, 4], { device: 'cuda' })).to.throw(Error, new RegExp(`^device: .*${cudaInfo().reason}`));
    });
    it('a 16-bit dtype on the CPU: RangeError naming dtype', () => {
      expect(() => Tensor.fromArray(new Uint16Array(4), [1, 4], { dtype: 'float16' })).to.throw(RangeError, /^dtype: /);
    });
    it('toArray after dispose: Error', () => {
      const t = filled([2], 1);
      t.dispose();
      expect(() => t.toArray()).to.throw(Error, /disposed|dispose/);
    });
  });

  describe('transitions: negative variances (NaN is data and passes)', () => {
    const rows = (values: number[]) => Tensor.fromArray(Float32Array.from(values), [1, values.length]);
    const negative = () => rows([1, -0.5, 2]);
    const mean = () => rows([0, 1, 2]);
    const cases: { what: string; call: () => unknown; argument: string }[] = [
      { what: 'affineMoments', call: () => ops.affineMoments(mean(), negative(), { weight: Tensor.fromArray(new Float32Array(6).fill(1), [2, 3]) }), argument: 'variance' },
      { what: 'reluMoments', call: () => ops.reluMoments(mean(), negative()), argument: 'variance' },
      { what: 'avgPoolMoments', call: () => ops.avgPoolMoments(mean(), negative(), { taps: 4 }), argument: 'variance' },
      { what: 'maxPoolMoments', call: () => ops.maxPoolMoments(mean(), negative(), { taps: 4 }), argument: 'variance' },
      { what: 'groupMoments', call: () => ops.groupMoments(mean(), negative(), { groups: 3 }), argument: 'variance' },
      { what: 'identityMoments', call: () => ops.identityMoments(mean(), negative(), { noise: 0.1 }), argument: 'variance' },
      { what: 'addMoments (a)', call: () => ops.addMoments({ mean: mean(), var: negative() }, { mean: mean(), var: rows([1, 1, 1]) }), argument: 'a.var' },
      { what: 'addMoments (b)', call: () => ops.addMoments({ mean: mean(), var: rows([1, 1, 1]) }, { mean: mean(), var: negative() }), argument: 'b.var' },
      { what: 'normalizeMoments (x)', call: () => ops.normalizeMoments({ mean: mean(), var: negative() }, { mean: mean(), var: rows([1, 1, 1]) }), argument: 'x.var' },
      { what: 'normalizeMoments (stats)', call: () => ops.normalizeMoments({ mean: mean(), var: rows([1, 1, 1]) }, { mean: mean(), var: negative() }), argument: 'stats.var' },
    ];
    for (const c of cases)
      it(`${c.what} with a negative variance: RangeError naming ${c.argument}`, () => {
        expect(c.call).to.throw(RangeError, new RegExp(`^${c.argument.replace('.', '\\.')}: `));
      });
    it('NaN variances pass through as data', () => {
      const result = ops.reluMoments(rows([0, 1]), rows([NaN, 1]));
      expect(Number.isNaN(result.var.toArray()[0])).to.equal(true);
    });
  });

  describe('layers', () => {
    it('GroupKalmanNorm with groups not dividing channels: RangeError naming groups', () => {
      expect(() => new GroupKalmanNorm(6, 4)).to.throw(RangeError, /^groups: /);
    });
    it('KalmanNorm with a gain above 1: RangeError naming gain', () => {
      expect(() => new KalmanNorm(6, { gain: 3 })).to.throw(RangeError, /^gain: /);
    });
    it('KalmanNorm with an unknown guard statistic: RangeError naming guardStatistic', () => {
      expect(() => new KalmanNorm(6, { guardStatistic: 'max' as 'mean' })).to.throw(RangeError, /^guardStatistic: /);
    });
    it('backward before forward: Error naming backward', () => {
      expect(() => new KalmanNorm(C).backward(fixture().x)).to.throw(Error, /^backward: /);
    });
    it('loadStateDict with an unknown key or a wrong length: RangeError naming the entry', () => {
      const layer = new KalmanNorm(C);
      expect(() => layer.loadStateDict({ ...layer.stateDict(), bias: new Float32Array(C) })).to.throw(RangeError, /^state\.bias: /);
      expect(() => layer.loadStateDict({ ...layer.stateDict(), gamma: new Float32Array(2) })).to.throw(RangeError, /^state\.gamma: /);
    });
  });
});
