/**
 * The persistent passes (cuda/persistent_pass.cuh): a training forward or backward whose inputs fit
 * on chip runs as one cooperative launch that reads them once, and gives bitwise the outputs,
 * statistics and gradients of the two-launch pass, on every dtype, layout, vector width and
 * epilogue, and on grids whose blocks take several of the plan's blocks each. In the emulated
 * build the launches are counted too, so each case proves it took the persistent path.
 */
import { expect } from 'chai';
import { diagnostics } from '../../lib';
import { native } from '../../lib/binding';
import { CaseSpec, DeviceResult, caseName, firstBitwiseDifference, makeCase, runCase } from './gpu-cases';
import { cuda, describeGpu } from './gpu-suite';

type Shape = Pick<CaseSpec, 'op' | 'layout' | 'shape' | 'virtualBatch' | 'groups'>;

const SHAPES: Shape[] = [
  { op: 'kn', layout: 'NCHW', shape: [2, 64, 56, 56] }, // 208 plan blocks on 132: two rounds for most
  { op: 'kn', layout: 'NHWC', shape: [2, 64, 56, 56] }, // 392 tiles
  { op: 'kn', layout: 'NCHW', shape: [3, 24, 9, 9], virtualBatch: 1 }, // 81 elements a cell: one per load
  { op: 'kn', layout: 'NHWC', shape: [4, 20, 7, 7], virtualBatch: 2 }, // fewer channels than a tile
  { op: 'gkn', layout: 'NCHW', shape: [2, 32, 28, 28], groups: 8 },
  { op: 'gkn', layout: 'NHWC', shape: [2, 48, 14, 14], groups: 4 },
];

/** The case's results and the launches it took (0 outside the emulated build, which cannot count). */
async function counted(spec: CaseSpec, persistent: boolean): Promise<{ result: DeviceResult; launches: number }> {
  native().cudaPersistentPasses!(persistent);
  try {
    const before = cuda.emulated ? diagnostics.counters().launches : 0;
    const result = await runCase(makeCase(spec), 'cuda');
    return { result, launches: cuda.emulated ? diagnostics.counters().launches - before : 0 };
  } finally {
    native().cudaPersistentPasses!(true);
  }
}

describeGpu('GPU persistent passes: one launch a pass, the bits of two', function () {
  this.timeout(600_000);
  let seed = 7100;
  for (const shape of SHAPES)
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      const epilogue = dtype === 'float32' ? 'relu + residual' : 'none';
      const spec: CaseSpec = {
        ...shape, dtype, epilogue, seed: seed++, prior: { placement: 'per unit', as: 'Tensor' }, gain: 'per column',
        affine: true, momentum: shape.op === 'kn' ? 0.1 : undefined, statisticGradients: true,
      };
      it(`${caseName(spec)}: every output and gradient as the two-launch pass, one launch fewer forward and backward`, async function () {
        const persistent = await counted(spec, true);
        const twoLaunch = await counted(spec, false);
        if (cuda.emulated) expect(twoLaunch.launches - persistent.launches, 'launches saved').to.equal(2);
        expect(persistent.result.guardFired, 'guardFired').to.equal(twoLaunch.result.guardFired);
        expect([...persistent.result.arrays.keys()]).to.deep.equal([...twoLaunch.result.arrays.keys()]);
        for (const [name, array] of twoLaunch.result.arrays)
          expect(firstBitwiseDifference(persistent.result.arrays.get(name)!, array), `${name}: first index that differs`).to.equal(-1);
      });
    }
});
