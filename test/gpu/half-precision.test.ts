/**
 * float16 and bfloat16 on the GPU: x, residual and dy are stored in the 16-bit type, and so are y,
 * dx and dResidual; statistics and parameter gradients stay float32. Each case is compared with
 * the float64 reference computed on the same rounded inputs, and with the CPU backend given them
 * as float32: a 16-bit result within two units in the last place of its type (relative to its
 * largest magnitude), a float32 one within the float32 bounds.
 */
import { expect } from 'chai';
import {
  CaseSpec, DType, DeviceResult, LAYOUTS, OPS, caseName, decodedResults, expectAgrees, makeCase, referenceResults, runCase,
} from './gpu-cases';
import { describeGpu } from './gpu-suite';

const DTYPES: readonly DType[] = ['float16', 'bfloat16'];

type Variant = Omit<CaseSpec, 'op' | 'layout' | 'seed' | 'dtype'>;

const VARIANTS: Variant[] = [
  {
    shape: [4, 5, 7, 7], virtualBatch: 2, groups: 5, prior: { placement: 'per unit', as: 'Tensor' },
    gain: 'per column', affine: true, epilogue: 'relu + residual', statisticGradients: true,
  },
  { shape: [2, 13, 56, 56], groups: 13, affine: true, epilogue: 'residual' },
  { shape: [3, 7, 7, 7], groups: 7, training: false, affine: true, epilogue: 'relu + residual' },
];

/** Results shaped like x come back in x's dtype; statistics and parameter gradients in float32. */
const DATA_RESULTS = new Set(['y', 'dx', 'dResidual']);

function expectResultTypes(result: DeviceResult, dtype: DType): void {
  for (const [name, array] of result.arrays) expect(array.dtype, name).to.equal(DATA_RESULTS.has(name) ? dtype : 'float32');
}

describeGpu('GPU float16 / bfloat16 forward and backward vs the CPU backend and the float64 reference', function () {
  let seed = 2000;
  for (const dtype of DTYPES)
    for (const op of OPS)
      for (const layout of LAYOUTS)
        for (const variant of VARIANTS) {
          const spec: CaseSpec = { ...variant, op, layout, dtype, seed: seed++ };
          it(caseName(spec), async function () {
            const testCase = makeCase(spec);
            const gpu = await runCase(testCase, 'cuda');
            expectResultTypes(gpu, dtype);
            expectAgrees(gpu, referenceResults(testCase), 'float64 reference');
            expectAgrees(gpu, decodedResults(await runCase(testCase, 'cpu')), 'CPU backend');
          });
        }
});
