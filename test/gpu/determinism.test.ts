/**
 * GPU determinism: the same call twice gives bitwise identical outputs, statistics and gradients,
 * on shapes large enough to spread every reduction over many blocks, in both layouts.
 */
import { expect } from 'chai';
import { CaseSpec, LAYOUTS, caseName, firstBitwiseDifference, makeCase, runCase } from './gpu-cases';
import { describeGpu } from './gpu-suite';

type Shape = Pick<CaseSpec, 'op' | 'shape' | 'virtualBatch' | 'groups' | 'dtype'>;

const SHAPES: Shape[] = [
  { op: 'kn', shape: [8, 64, 56, 56], virtualBatch: 2 },
  { op: 'gkn', shape: [8, 64, 56, 56], groups: 8 },
  { op: 'kn', shape: [2, 3, 1000003] },
  { op: 'gkn', shape: [2, 3, 1000003], groups: 1 },
  { op: 'kn', shape: [4, 64, 56, 56], dtype: 'float16' },
];

describeGpu('GPU determinism: two runs are bitwise equal', function () {
  let seed = 3000;
  for (const layout of LAYOUTS)
    for (const shape of SHAPES) {
      const spec: CaseSpec = {
        ...shape, layout, seed: seed++, prior: { placement: 'per unit', as: 'Tensor' }, gain: 'per column',
        affine: true, epilogue: 'relu + residual', statisticGradients: true,
      };
      it(`${caseName(spec)}: y, mean, var and every gradient`, async function () {
        const testCase = makeCase(spec);
        const first = await runCase(testCase, 'cuda');
        const second = await runCase(testCase, 'cuda');
        expect([...second.arrays.keys()]).to.deep.equal([...first.arrays.keys()]);
        for (const [name, array] of first.arrays)
          expect(firstBitwiseDifference(array, second.arrays.get(name)!), `${name}: first index that differs`).to.equal(-1);
      });
    }
});
