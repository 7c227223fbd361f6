/**
 * The CUDA runtime around the ops: copies to and from the GPU, wrapping another library's device
 * memory, arguments left on the CPU, a caller's stream, and the device list.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../../lib';
import {
  CaseSpec, DType, HostArray, caseName, firstBitwiseDifference, makeCase, readTensor, runCase, tensorOf, valuesOf,
} from './gpu-cases';
import { cuda, describeGpu } from './gpu-suite';

const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const SHAPE = [2, 3, 5, 7];
const SIZE = 2 * 3 * 5 * 7;

/** Distinct values, each exactly representable in all three dtypes. */
function sampleValues(): Float32Array {
  return Float32Array.from({ length: SIZE }, (_, i) => (i - SIZE / 2) / 8);
}

function expectSameBits(actual: HostArray, expected: HostArray, label: string): void {
  expect(firstBitwiseDifference(actual, expected), `${label}: first index that differs`).to.equal(-1);
}

describeGpu('CUDA runtime: tensors, device pointers, device checks, streams', function () {
  it('lists at least one device with a name and a compute capability', function () {
    expect(cuda.devices, 'devices').to.not.be.empty;
    for (const device of cuda.devices) {
      expect(device.name, 'name').to.be.a('string').that.is.not.empty;
      expect(device.computeCapability, 'computeCapability').to.match(/^\d+\.\d+$/);
    }
  });

  for (const dtype of DTYPES) {
    it(`fromArray copies ${dtype} data to the GPU and toArrayAsync brings the same bits back`, async function () {
      const sent = tensorOf(sampleValues(), SHAPE, { device: 'cuda', dtype, layout: 'NHWC' });
      expect(sent.device).to.equal('cuda');
      expect(sent.dtype).to.equal(dtype);
      expect(sent.layout).to.equal('NHWC');
      const back = await readTensor(sent);
      expect(back.data).to.be.instanceOf(dtype === 'float32' ? Float32Array : Uint16Array);
      expect(Array.from(valuesOf(back))).to.deep.equal(Array.from(sampleValues()));
    });

    it(`zeros makes a ${dtype} GPU tensor that reads back as zeros`, async function () {
      const zeros = await readTensor(Tensor.zeros(SHAPE, { device: 'cuda', dtype }));
      expect(Array.from(valuesOf(zeros))).to.deep.equal(new Array(SIZE).fill(0));
    });
  }

  it('toArray on a GPU tensor throws and points to toArrayAsync', function () {
    const tensor = Tensor.zeros(SHAPE, { device: 'cuda' });
    expect(() => tensor.toArray()).to.throw(Error, 'tensor: on the GPU; use await tensor.toArrayAsync()');
  });

  it('fromDevicePointer aliases another tensor\'s memory: same values, writes seen by both, dispose frees nothing', async function () {
    const owner = Tensor.fromArray(sampleValues(), SHAPE, { device: 'cuda' });
    const alias = Tensor.fromDevicePointer(owner.devicePointer, SHAPE, { dtype: 'float32', device: 'cuda' });
    expect(alias.devicePointer).to.equal(owner.devicePointer);
    expectSameBits(await readTensor(alias), await readTensor(owner), 'alias before the write');

    // An op writing into the alias writes into the owner's memory.
    const x = Tensor.fromArray(Float32Array.from(sampleValues(), (v, i) => v * v + i), SHAPE, { device: 'cuda' });
    const { y } = ops.kalmanNorm(x, { out: { y: alias } });
    expect(y).to.equal(alias);
    const written = await readTensor(owner);
    expect(Array.from(written.data)).to.not.deep.equal(Array.from(sampleValues()));
    expectSameBits(await readTensor(alias), written, 'alias after the write');

    alias.dispose();
    expectSameBits(await readTensor(owner), written, 'owner after the alias is disposed');
  });

  describe('with x on the GPU, a tensor argument on the CPU is a RangeError naming it', function () {
    const x = () => Tensor.zeros(SHAPE, { device: 'cuda' });
    const onCpu = (shape: number[]) => Tensor.zeros(shape);
    const channels = SHAPE[1];
    const forwardCases: [string, () => unknown][] = [
      ['residual', () => ops.kalmanNorm(x(), { residual: onCpu(SHAPE) })],
      ['gamma', () => ops.kalmanNorm(x(), { gamma: onCpu([channels]) })],
      ['prior.mean', () => ops.kalmanNorm(x(), { prior: { mean: onCpu([channels]), var: new Float32Array(channels).fill(1) } })],
      ['gain', () => ops.groupKalmanNorm(x(), { groups: 3, gain: onCpu([3]) })],
      ['runningMean', () => ops.kalmanNorm(x(), { runningMean: onCpu([channels]), runningVar: Tensor.zeros([channels], { device: 'cuda' }) })],
    ];
    for (const [name, call] of forwardCases)
      it(name, function () {
        expect(call).to.throw(RangeError, new RegExp(`^${name.replace('.', '\\.')}: `));
      });

    it('dy in backward', function () {
      const forward = ops.kalmanNorm(x());
      expect(() => ops.kalmanNormBackward(onCpu(SHAPE), forward.saved)).to.throw(RangeError, /^dy: /);
    });
  });

  const streamSpec: CaseSpec = {
    op: 'kn', layout: 'NHWC', shape: [4, 5, 7, 7], virtualBatch: 2, prior: { placement: 'per unit', as: 'Tensor' },
    gain: 'per column', affine: true, epilogue: 'relu + residual', statisticGradients: true, seed: 5000,
  };
  it(`stream: 0n (the default stream) gives bitwise the results of no stream option: ${caseName(streamSpec)}`, async function () {
    const testCase = makeCase(streamSpec);
    const withStream = await runCase(testCase, 'cuda', 0n);
    const without = await runCase(testCase, 'cuda');
    expect([...withStream.arrays.keys()]).to.deep.equal([...without.arrays.keys()]);
    for (const [name, array] of without.arrays) expectSameBits(withStream.arrays.get(name)!, array, name);
  });
});
