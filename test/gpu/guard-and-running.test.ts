/**
 * The guard statistics and the non-finite skip of the running estimates (KN-SPEC 1.4, 1.8) on the
 * GPU: the same decisions and values as the CPU backend.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../../lib';
import type { Device, GuardStatistic } from '../../lib';
import { assertClose } from '../util/assert-close';
import { makeRandom } from '../util/random';
import { describeGpu } from './gpu-suite';

const [N, C, S] = [4, 16, 9];

function data(seed: number): Float32Array {
  const random = makeRandom(seed);
  return Float32Array.from({ length: N * C * S }, () => 1 + random.normal());
}

async function run(device: Device, x: Float32Array, guardStatistic: GuardStatistic, priorScale: number) {
  const onDevice = (values: Float32Array, shape: number[]) => Tensor.fromArray(values, shape, { device });
  const runningMean = onDevice(Float32Array.from({ length: C }, (_, c) => 0.1 * c), [C]);
  const runningVar = onDevice(new Float32Array(C).fill(2), [C]);
  const result = ops.kalmanNorm(onDevice(x, [N, C, S]), {
    virtualBatch: 2, guardStatistic, runningMean, runningVar,
    prior: { mean: new Float32Array(C).fill(1), var: new Float32Array(C).fill(priorScale) },
  });
  return {
    guardFired: result.guardFired,
    skipped: result.skippedChannels,
    y: await result.y.toArrayAsync(),
    runningMean: await runningMean.toArrayAsync(),
    runningVar: await runningVar.toArrayAsync(),
  };
}

describeGpu('GPU guard statistics and running-estimate skip', function () {
  for (const guardStatistic of ['geometric', 'mean'] as const)
    for (const priorScale of [1, 1e4]) {
      it(`${guardStatistic} guard, prior variance ${priorScale}: same decision and outputs as the CPU`, async function () {
        const x = data(priorScale);
        const cpu = await run('cpu', x, guardStatistic, priorScale);
        const gpu = await run('cuda', x, guardStatistic, priorScale);
        expect(gpu.guardFired, 'guardFired').to.equal(cpu.guardFired);
        expect(cpu.guardFired, 'the case exercises the guard').to.equal(priorScale > 1);
        assertClose(gpu.y, cpu.y, 1e-5, 'y');
        assertClose(gpu.runningMean, cpu.runningMean, 1e-6, 'runningMean');
        assertClose(gpu.runningVar, cpu.runningVar, 1e-6, 'runningVar');
      });
    }

  it('NaN in channel 5 and Inf in channel 11: skipped on the GPU as on the CPU, the rest updated', async function () {
    const x = data(9);
    x[(1 * C + 5) * S + 2] = NaN;
    x[(2 * C + 11) * S + 7] = -Infinity;
    const cpu = await run('cpu', x, 'geometric', 1);
    const gpu = await run('cuda', x, 'geometric', 1);
    expect(cpu.skipped).to.deep.equal([5, 11]);
    expect(gpu.skipped).to.deep.equal([5, 11]);
    expect(gpu.runningMean[5]).to.equal(Math.fround(0.5));
    expect(gpu.runningVar[11]).to.equal(2);
    assertClose(gpu.runningMean, cpu.runningMean, 1e-6, 'runningMean');
    assertClose(gpu.runningVar, cpu.runningVar, 1e-6, 'runningVar');
  });
});
