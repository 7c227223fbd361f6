/**
 * Issue 12: the layers and link helpers reject bad input at the call that received it (the
 * constructor, loadStateDict, linkFeedForward), naming the argument, before anything is written;
 * and one bad batch does not poison a KN layer's inference (KN-SPEC 1.8).
 */
import { expect } from 'chai';
import { GroupKalmanNorm, InputStatistics, KalmanNorm, Tensor, linkFeedForward, linkStack, ops } from '../lib';
import { makeRandom } from './util/random';

type ErrorKind = typeof TypeError | typeof RangeError | typeof Error;

/** Runs `call`, which must throw exactly `kind` with a message starting with `argument:`. */
function expectRejected(call: () => unknown, kind: ErrorKind, argument: string): void {
  let caught: unknown;
  try {
    call();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'nothing thrown').to.be.instanceOf(Error);
  expect((caught as Error).constructor.name).to.equal(kind.name);
  expect((caught as Error).message.startsWith(`${argument}:`), (caught as Error).message).to.equal(true);
}

const random = makeRandom(1213);
const values = (length: number, scale = 1, offset = 0) => Float32Array.from({ length }, () => offset + scale * random.normal());
const smallestNormal = 2 ** -126;

describe('layer and link input (issue 12)', () => {
  describe('eps below float32', () => {
    const tiny = [1e-46, 1e-40, smallestNormal / 2];
    for (const eps of tiny) {
      it(`kalmanNorm with eps = ${eps}: RangeError naming eps, y not written`, () => {
        const x = Tensor.fromArray(new Float32Array(2 * 2 * 2).fill(3), [2, 2, 2]);
        const y = Tensor.fromArray(new Float32Array(8).fill(7), [2, 2, 2]);
        expectRejected(() => ops.kalmanNorm(x, { eps, out: { y } }), RangeError, 'eps');
        expect(Array.from(y.toArray()).every((v) => v === 7)).to.equal(true);
      });
    }
    it('normalizeMoments with eps = 1e-46: RangeError naming eps', () => {
      const rows = { mean: Tensor.zeros([1, 2]), var: Tensor.zeros([1, 2]) };
      expectRejected(() => ops.normalizeMoments(rows, rows, { eps: 1e-46 }), RangeError, 'eps');
    });
    it('eps above float32 (1e39, Infinity once rounded): RangeError naming eps', () => {
      expectRejected(() => new KalmanNorm(2, { eps: 1e39 }), RangeError, 'eps');
    });
    it('the smallest normal float32 is accepted, and a constant input gives finite y', () => {
      const x = Tensor.fromArray(new Float32Array(8).fill(3), [2, 2, 2]);
      const { y } = ops.kalmanNorm(x, { eps: smallestNormal });
      expect(Array.from(y.toArray()).every(Number.isFinite)).to.equal(true);
    });
  });

  describe('layer constructors', () => {
    const cases: { what: string; make: () => unknown; kind: ErrorKind; argument: string }[] = [
      { what: 'KalmanNorm(2**32)', make: () => new KalmanNorm(2 ** 32), kind: RangeError, argument: 'channels' },
      { what: 'KalmanNorm(2**24 + 1)', make: () => new KalmanNorm(2 ** 24 + 1), kind: RangeError, argument: 'channels' },
      { what: 'GroupKalmanNorm(2**32, 1)', make: () => new GroupKalmanNorm(2 ** 32, 1), kind: RangeError, argument: 'channels' },
      { what: 'GroupKalmanNorm(4, 2**32)', make: () => new GroupKalmanNorm(4, 2 ** 32), kind: RangeError, argument: 'groups' },
      { what: 'InputStatistics([2**32])', make: () => new InputStatistics([2 ** 32]), kind: RangeError, argument: 'featureShape[0]' },
      { what: 'InputStatistics([2**12, 2**12, 2], diagonal)', make: () => new InputStatistics([2 ** 12, 2 ** 12, 2], { covariance: 'diagonal' }), kind: RangeError, argument: 'featureShape' },
      { what: 'InputStatistics([2**16]) full', make: () => new InputStatistics([2 ** 16]), kind: RangeError, argument: 'covariance' },
      { what: 'KalmanNorm eps 0', make: () => new KalmanNorm(2, { eps: 0 }), kind: RangeError, argument: 'eps' },
      { what: 'KalmanNorm eps 1e-46', make: () => new KalmanNorm(2, { eps: 1e-46 }), kind: RangeError, argument: 'eps' },
      { what: 'KalmanNorm eps a string', make: () => new KalmanNorm(2, { eps: '1e-5' as unknown as number }), kind: TypeError, argument: 'eps' },
      { what: 'KalmanNorm guard 0', make: () => new KalmanNorm(2, { guard: 0 }), kind: RangeError, argument: 'guard' },
      { what: 'KalmanNorm guard NaN', make: () => new KalmanNorm(2, { guard: NaN }), kind: RangeError, argument: 'guard' },
      { what: 'KalmanNorm activation gelu', make: () => new KalmanNorm(2, { activation: 'gelu' as 'relu' }), kind: RangeError, argument: 'activation' },
      { what: 'KalmanNorm activation a number', make: () => new KalmanNorm(2, { activation: 1 as unknown as 'relu' }), kind: TypeError, argument: 'activation' },
      { what: 'KalmanNorm gain NaN', make: () => new KalmanNorm(2, { gain: NaN }), kind: RangeError, argument: 'gain' },
      { what: 'KalmanNorm gain a string', make: () => new KalmanNorm(2, { gain: '0.1' as unknown as number }), kind: TypeError, argument: 'gain' },
      { what: 'KalmanNorm momentum 2', make: () => new KalmanNorm(2, { momentum: 2 }), kind: RangeError, argument: 'momentum' },
      { what: 'KalmanNorm momentum NaN', make: () => new KalmanNorm(2, { momentum: NaN }), kind: RangeError, argument: 'momentum' },
      { what: 'GroupKalmanNorm eps -1', make: () => new GroupKalmanNorm(4, 2, { eps: -1 }), kind: RangeError, argument: 'eps' },
      { what: 'GroupKalmanNorm guard -1', make: () => new GroupKalmanNorm(4, 2, { guard: -1 }), kind: RangeError, argument: 'guard' },
      { what: 'GroupKalmanNorm activation sigmoid', make: () => new GroupKalmanNorm(4, 2, { activation: 'sigmoid' as 'relu' }), kind: RangeError, argument: 'activation' },
      { what: 'options null', make: () => new GroupKalmanNorm(4, 2, null as never), kind: TypeError, argument: 'options' },
      { what: "KalmanNorm device 'gpu'", make: () => new KalmanNorm(2, { device: 'gpu' as 'cuda' }), kind: RangeError, argument: 'device' },
      { what: 'GroupKalmanNorm device a number', make: () => new GroupKalmanNorm(4, 2, { device: 0 as unknown as 'cuda' }), kind: TypeError, argument: 'device' },
    ];
    for (const c of cases) it(`${c.what}: ${c.kind.name} naming ${c.argument}`, () => expectRejected(c.make, c.kind, c.argument));

    it('2**24 channels is accepted (the bound is what allocation can satisfy)', () => {
      expect(new KalmanNorm(2 ** 24, { affine: false }).channels).to.equal(2 ** 24);
    });
  });

  describe('loadStateDict', () => {
    const cases: { what: string; key: string; value: (c: number) => Float32Array }[] = [
      { what: 'a negative running variance', key: 'runningVar', value: (c) => new Float32Array(c).fill(1).fill(-0.5, 1, 2) },
      { what: 'a gain above 1', key: 'gain', value: (c) => new Float32Array(c).fill(0.1).fill(1.5, 2, 3) },
      { what: 'a negative gain', key: 'gain', value: (c) => new Float32Array(c).fill(-0.1) },
      { what: 'a NaN gain', key: 'gain', value: (c) => new Float32Array(c).fill(NaN) },
      { what: 'a NaN running mean', key: 'runningMean', value: (c) => new Float32Array(c).fill(0).fill(NaN, 0, 1) },
      { what: 'a NaN running variance', key: 'runningVar', value: (c) => new Float32Array(c).fill(NaN) },
      { what: 'an infinite gamma', key: 'gamma', value: (c) => new Float32Array(c).fill(Infinity) },
      { what: 'a NaN beta', key: 'beta', value: (c) => new Float32Array(c).fill(NaN) },
    ];
    for (const c of cases) {
      it(`KalmanNorm with ${c.what}: RangeError naming state.${c.key}, nothing loaded`, () => {
        const layer = new KalmanNorm(3);
        const before = layer.stateDict();
        const state = { ...layer.stateDict(), runningMean: new Float32Array(3).fill(4), [c.key]: c.value(3) };
        expectRejected(() => layer.loadStateDict(state), RangeError, `state.${c.key}`);
        expect(layer.stateDict()).to.deep.equal(before);
      });
    }
    it('GroupKalmanNorm with a gain above 1: RangeError naming state.gain', () => {
      const layer = new GroupKalmanNorm(4, 2);
      expectRejected(() => layer.loadStateDict({ ...layer.stateDict(), gain: new Float32Array([0.5, 2]) }), RangeError, 'state.gain');
    });
  });

  describe('linkFeedForward', () => {
    const tied = (shape: number[]) => ({ value: Tensor.fromArray(values(shape[0] * shape[1]), shape), grad: Tensor.zeros(shape) });
    it("an unknown kind: RangeError naming kind, nothing linked", () => {
      const layers = [new KalmanNorm(3), new KalmanNorm(2)];
      expectRejected(() => linkFeedForward(layers, [tied([2, 3])], 'convolution' as 'conv'), RangeError, 'kind');
      layers[1].forward(Tensor.fromArray(values(8), [4, 2]));  // no prior linked: runs without one
    });
    it('a null map: TypeError naming maps[0]', () => {
      expectRejected(() => linkFeedForward([new KalmanNorm(3), new KalmanNorm(2)], [null as never]), TypeError, 'maps[0]');
    });
    it('maps null: TypeError naming maps', () => {
      expectRejected(() => linkFeedForward([new KalmanNorm(3), new KalmanNorm(2)], null as never), TypeError, 'maps');
    });
    it('a map without a value tensor: TypeError naming maps[0].value', () => {
      expectRejected(() => linkFeedForward([new KalmanNorm(3), new KalmanNorm(2)], [{ value: new Float32Array(6) } as never]), TypeError, 'maps[0].value');
    });
    it("a tied weight's grad of the wrong size: RangeError naming maps[0].grad at link time", () => {
      const map = { value: Tensor.fromArray(values(6), [2, 3]), grad: Tensor.zeros([3, 3]) };
      expectRejected(() => linkFeedForward([new KalmanNorm(3), new KalmanNorm(2)], [map]), RangeError, 'maps[0].grad');
    });
    it("linkStack with a tied weight's grad of the wrong size: RangeError naming stack.maps[1].grad", () => {
      const maps = [tied([3, 4]), { value: Tensor.fromArray(values(6), [2, 3]), grad: Tensor.zeros([5]) }];
      expectRejected(() => linkStack({ layers: [new KalmanNorm(3), new KalmanNorm(2)], maps }), RangeError, 'stack.maps[1].grad');
    });
  });

  describe('one bad batch does not poison inference (KN-SPEC 1.8), through the layer', () => {
    const [N, C, H, W] = [4, 3, 2, 2];
    const bad = 1;
    const count = N * C * H * W;
    /** A batch with values offset per channel; `nan` puts one NaN into channel `bad`. */
    const batch = (data: Float32Array, nan: boolean) => {
      const copy = data.slice();
      if (nan) copy[(2 * C + bad) * H * W + 3] = NaN;
      return Tensor.fromArray(copy, [N, C, H, W]);
    };
    const first = values(count, 2, 1);
    const second = values(count, 3, -2);
    const probe = Tensor.fromArray(values(count), [N, C, H, W]);
    const channelValues = (tensor: Tensor, channel: number) =>
      Array.from(tensor.toArray()).filter((_, i) => Math.floor(i / (H * W)) % C === channel);

    /** Two layers trained on the first batch, then on the second: clean for one, with a NaN for the other. */
    function trained() {
      const clean = new KalmanNorm(C, { momentum: 0.5 });
      const poisoned = new KalmanNorm(C, { momentum: 0.5 });
      clean.forward(batch(first, false));
      poisoned.forward(batch(first, false));
      const before = poisoned.stateDict();
      clean.forward(batch(second, false));
      const result = poisoned.forward(batch(second, true));
      return { clean, poisoned, before, skipped: result.skippedChannels };
    }

    it("reports the bad channel skipped; its running estimates stay; the others' update as without the NaN", () => {
      const { clean, poisoned, before, skipped } = trained();
      expect(skipped).to.deep.equal([bad]);
      const after = poisoned.stateDict();
      const reference = clean.stateDict();
      for (const key of ['runningMean', 'runningVar']) {
        expect(after[key][bad], key).to.equal(before[key][bad]);
        for (let c = 0; c < C; ++c) if (c !== bad) expect(after[key][c], `${key}[${c}]`).to.equal(reference[key][c]);
        expect(after[key][0], `${key} changed by the batch`).not.to.equal(before[key][0]);
      }
    });

    it("eval after the bad batch: every channel finite, the others' output unchanged", () => {
      const { clean, poisoned } = trained();
      const y = poisoned.eval().forward(probe).y;
      const reference = clean.eval().forward(probe).y;
      expect(Array.from(y.toArray()).every(Number.isFinite)).to.equal(true);
      for (let c = 0; c < C; ++c) if (c !== bad) expect(channelValues(y, c), `channel ${c}`).to.deep.equal(channelValues(reference, c));
    });

    it('the stateDict after the bad batch is finite and round-trips into a layer with the same inference', () => {
      const { poisoned } = trained();
      const state = poisoned.stateDict();
      for (const [key, entry] of Object.entries(state)) expect(Array.from(entry).every(Number.isFinite), key).to.equal(true);
      const loaded = new KalmanNorm(C, { momentum: 0.5 });
      loaded.loadStateDict(state);
      expect(loaded.stateDict()).to.deep.equal(state);
      const expected = Array.from(poisoned.eval().forward(probe).y.toArray());
      expect(Array.from(loaded.eval().forward(probe).y.toArray())).to.deep.equal(expected);
    });
  });
});
