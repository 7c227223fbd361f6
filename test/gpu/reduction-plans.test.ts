/**
 * Every GPU reduction plan against the float64 reference, with sizes that cross block boundaries:
 * many channels over few positions, few channels over long units, prime sizes, and (NHWC) channel
 * counts from 1 to 2048 with planes of 4095, 4096, 4097 and 65537 positions. Each shape runs in both
 * layouts as KN over the whole batch, KN with one sample per ghost batch, and GKN.
 */
import { CaseSpec, LAYOUTS, caseName, expectAgrees, makeCase, referenceResults, runCase } from './gpu-cases';
import { describeGpu } from './gpu-suite';

/** A shape, and the group count GKN uses on it. */
const SHAPES: { shape: number[]; groups: number }[] = [
  { shape: [2, 2048, 7, 7], groups: 32 },
  { shape: [3, 1031, 1, 1], groups: 1 },
  { shape: [64, 3, 112, 112], groups: 3 },
  { shape: [2, 1, 1000003], groups: 1 },
  { shape: [3, 1, 4095], groups: 1 },
  { shape: [2, 3, 65537], groups: 3 },
  { shape: [2, 64, 4096], groups: 8 },
  { shape: [2, 129, 4097], groups: 3 },
];

/** KN over the whole batch, KN with ghost batches of one sample (when N > 1), and GKN. */
function layersFor(shape: number[], groups: number): Pick<CaseSpec, 'op' | 'virtualBatch' | 'groups'>[] {
  const layers: Pick<CaseSpec, 'op' | 'virtualBatch' | 'groups'>[] = [{ op: 'kn' }];
  if (shape[0] > 1) layers.push({ op: 'kn', virtualBatch: 1 });
  layers.push({ op: 'gkn', groups });
  return layers;
}

describeGpu('GPU reduction plans across block boundaries vs the float64 reference', function () {
  let seed = 4000;
  for (const layout of LAYOUTS)
    for (const { shape, groups } of SHAPES)
      for (const layer of layersFor(shape, groups)) {
        const spec: CaseSpec = {
          ...layer, layout, shape, seed: seed++, prior: { placement: 'per unit', as: 'Float32Array' }, gain: 'per column',
          affine: true, epilogue: 'relu + residual', statisticGradients: true,
        };
        it(caseName(spec), async function () {
          const testCase = makeCase(spec);
          expectAgrees(await runCase(testCase, 'cuda'), referenceResults(testCase), 'float64 reference');
        });
      }
});
