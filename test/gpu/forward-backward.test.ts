/**
 * The core suite's kinds of cases on the GPU in float32: forward and backward against the CPU
 * backend and the float64 reference, for KN and GKN in both layouts. Between them the variants
 * cover N in {1, 2, 3, 4, 8}, S in {1, 7, 49, 3136}, odd channel counts, priors per unit and per
 * column (as Float32Array and as Tensor), scalar and per-column gains (0 and 1 included), the
 * guard off, on and firing, affine on and off, the residual and relu epilogues, KN running
 * estimates and inference.
 */
import { CaseSpec, LAYOUTS, OPS, caseName, decodedResults, expectAgrees, makeCase, referenceResults, runCase } from './gpu-cases';
import { describeGpu } from './gpu-suite';

type Variant = Omit<CaseSpec, 'op' | 'layout' | 'seed'>;

const VARIANTS: Variant[] = [
  {
    shape: [1, 5, 7], virtualBatch: 1, groups: 5, prior: { placement: 'per unit', as: 'Tensor' },
    gain: 0.1, guard: 100, affine: true, epilogue: 'relu + residual', statisticGradients: true,
  },
  {
    shape: [2, 3, 7, 7], virtualBatch: 1, groups: 1, prior: { placement: 'per column', as: 'Float32Array' },
    gain: 'per column', guard: Infinity, epilogue: 'residual',
  },
  // No prior: plain BN / GN.
  { shape: [3, 7, 56, 56], groups: 7, affine: true, epilogue: 'relu + residual' },
  // K = 1: the prior is ignored, and its gradients are zero.
  {
    shape: [4, 15], groups: 3, prior: { placement: 'per unit', as: 'Float32Array' }, gain: 1,
    statisticGradients: true,
  },
  // A prior variance a million times the data's fires the guard.
  {
    shape: [8, 3, 7], virtualBatch: 2, groups: 3, prior: { placement: 'per column', as: 'Tensor', varScale: 1e6 },
    gain: 0.5, guard: 100, affine: true, epilogue: 'relu + residual', statisticGradients: true,
  },
  // The same prior with the guard disabled, and K = 0: the prior alone normalizes.
  {
    shape: [8, 5], groups: 1, prior: { placement: 'per unit', as: 'Tensor', varScale: 1e6 },
    gain: 0, guard: Infinity, affine: true, statisticGradients: true,
  },
  {
    shape: [2, 13, 56, 56], virtualBatch: 2, groups: 13, prior: { placement: 'per column', as: 'Float32Array' },
    gain: 'per column', affine: true, epilogue: 'relu + residual',
  },
  // KN updates its running estimates in place.
  {
    shape: [4, 7, 7, 7], virtualBatch: 2, groups: 7, momentum: 0.3, prior: { placement: 'per unit', as: 'Float32Array' },
    gain: 0.3, affine: true, statisticGradients: true,
  },
  // Inference: KN normalizes with its running estimates; GKN computes what it computes in training.
  { shape: [3, 5, 7, 7], groups: 5, training: false, affine: true, epilogue: 'relu + residual' },
];

describeGpu('GPU (float32) forward and backward vs the CPU backend and the float64 reference', function () {
  let seed = 1000;
  for (const op of OPS)
    for (const layout of LAYOUTS)
      for (const variant of VARIANTS) {
        const spec: CaseSpec = { ...variant, op, layout, seed: seed++ };
        it(caseName(spec), async function () {
          const testCase = makeCase(spec);
          const gpu = await runCase(testCase, 'cuda');
          expectAgrees(gpu, referenceResults(testCase), 'float64 reference');
          expectAgrees(gpu, decodedResults(await runCase(testCase, 'cpu')), 'CPU backend');
        });
      }
});
