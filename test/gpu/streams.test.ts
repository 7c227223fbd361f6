/**
 * Ordering between the package's stream and a caller's: an op queued on another stream must see
 * the memory the package's stream allocated, zeroed and uploaded for it, and the package's stream
 * must not copy back or free that memory before the op is done; toArrayAsync must copy what the
 * tensor holds when it is called. On the emulated build the package's stream is slowed down
 * (each of its operations waits 20 ms), so that any missing order shows as wrong values.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../../lib';
import { native } from '../../lib/binding';
import { CaseSpec, caseName, firstBitwiseDifference, makeCase, runCase } from './gpu-cases';
import { cuda, describeGpu } from './gpu-suite';

const PACKAGE_STREAM = 0n;
const SLOW_MICROSECONDS = 20000;

/** Runs `body` with the package's stream slowed down where the emulator allows it. */
async function withSlowPackageStream<T>(body: () => Promise<T>): Promise<T> {
  if (cuda.emulated) native().emulatorStreamDelay!(PACKAGE_STREAM, SLOW_MICROSECONDS);
  try {
    return await body();
  } finally {
    if (cuda.emulated) native().emulatorStreamDelay!(PACKAGE_STREAM, 0);
  }
}

function distinctValues(size: number, offset: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => offset + i / 4);
}

describeGpu('CUDA streams: a caller\'s stream, toArrayAsync', function () {
  const spec: CaseSpec = {
    op: 'kn', layout: 'NCHW', shape: [4, 6, 5, 5], virtualBatch: 2, prior: { placement: 'per unit', as: 'Float32Array' },
    gain: 'per column', affine: true, epilogue: 'relu + residual', statisticGradients: true, seed: 5100,
  };

  it(`an op on a non-default stream the package made gives bitwise the package stream's results: ${caseName(spec)}`, async function () {
    const testCase = makeCase(spec);
    const expected = await runCase(testCase, 'cuda');
    const stream = native().streamCreate!();
    try {
      const actual = await withSlowPackageStream(() => runCase(testCase, 'cuda', stream));
      expect([...actual.arrays.keys()]).to.deep.equal([...expected.arrays.keys()]);
      for (const [name, array] of expected.arrays)
        expect(firstBitwiseDifference(actual.arrays.get(name)!, array), `${name}: first index that differs`).to.equal(-1);
    } finally {
      native().streamDestroy!(stream);
    }
  });

  it('an op on another stream writes y after the package stream zero-filled it (y is all normalized values, not zeros)', async function () {
    const stream = native().streamCreate!();
    try {
      const y = await withSlowPackageStream(async () => {
        const x = Tensor.fromArray(distinctValues(2 * 3 * 16, 1), [2, 3, 16], { device: 'cuda' });
        const out = ops.kalmanNorm(x, { stream }).y;
        return out.toArrayAsync();
      });
      expect(Array.from(y).every((value) => Number.isFinite(value)), 'every y finite').to.equal(true);
      expect(Array.from(y).filter((value) => value === 0), 'zeros in y').to.have.length(0);
    } finally {
      native().streamDestroy!(stream);
    }
  });

  it('toArrayAsync returns the values at the call, not a write queued right after it', async function () {
    const before = distinctValues(4096, 1), after = distinctValues(4096, -5000);
    for (let round = 0; round < 5; ++round) {
      const tensor = Tensor.fromArray(before, [1, 4096], { device: 'cuda' });
      const pending = tensor.toArrayAsync();
      tensor.writeSync(after);
      expect(Array.from(await pending), `round ${round}`).to.deep.equal(Array.from(before));
      expect(Array.from(await tensor.toArrayAsync()), `round ${round}, read again`).to.deep.equal(Array.from(after));
    }
  });

  it('toArrayAsync followed by dispose still resolves to the values', async function () {
    const values = distinctValues(4096, 3);
    for (let round = 0; round < 5; ++round) {
      const tensor = Tensor.fromArray(values, [1, 4096], { device: 'cuda' });
      const pending = tensor.toArrayAsync();
      tensor.dispose();
      expect(Array.from(await pending), `round ${round}`).to.deep.equal(Array.from(values));
    }
  });
});
