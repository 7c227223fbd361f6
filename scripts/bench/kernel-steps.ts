// `node dist/scripts/bench/kernel-steps.js SHAPE...`: a few warm training steps (forward then
// backward, as a layer runs them: layer-calls.ts) of each shape on the GPU, and nothing else, for a
// kernel profiler to time each kernel alone (scripts/gpu-checks.sh runs it under ncu). The steps of
// each shape sit between two device synchronizations, so the profile's kernels come in order.
// SHAPE: op:NxCxHxW:layout[:dtype[:groups]], e.g. kn:32x2048x7x7:NCHW or gkn:2x64x56x56:NHWC:bfloat16:32
import { DType, Layout, cudaInfo } from '../../lib';
import { native } from '../../lib/binding';
import { layerCalls, layerParameters } from './layer-calls';
import { makeInputs } from './measure-ours';

const STEPS = 3;

interface StepShape {
  op: 'kn' | 'gkn';
  dims: number[];
  layout: Layout;
  dtype: DType;
  groups: number;
}

function parseShape(text: string): StepShape {
  const [op, dims, layout, dtype = 'float32', groups = '32'] = text.split(':');
  const sizes = (dims ?? '').split('x').map(Number);
  if ((op !== 'kn' && op !== 'gkn') || sizes.length !== 4 || !sizes.every((size) => Number.isInteger(size) && size > 0) || sizes[2] !== sizes[3] ||
    (layout !== 'NCHW' && layout !== 'NHWC') || !['float32', 'float16', 'bfloat16'].includes(dtype) || !(Number(groups) > 0))
    throw new RangeError(`shape: expected op:NxCxHxW:layout[:dtype[:groups]] with op kn or gkn, H = W, layout NCHW or NHWC, got ${text}`);
  return { op, dims: sizes, layout, dtype: dtype as DType, groups: Number(groups) };
}

function runSteps(shape: StepShape): void {
  const [n, c, hw] = shape.dims;
  const benchShape = { op: shape.op, n, c, hw, groups: shape.groups };
  const inputs = makeInputs(benchShape, shape.layout, 'cuda', shape.dtype);
  const parameters = layerParameters(benchShape, 'cuda', true);
  const calls = layerCalls(benchShape, inputs.x, inputs.dy, inputs, parameters.options);
  native().synchronize!(0n);
  for (let step = 0; step < STEPS; ++step) {
    calls.forward();
    calls.backward();
  }
  native().synchronize!(0n);
  calls.dispose();
  parameters.dispose();
  for (const tensor of Object.values(inputs)) tensor.dispose();
}

function main(): void {
  const shapes = process.argv.slice(2).map(parseShape);
  if (shapes.length === 0) throw new RangeError('shapes: name at least one, e.g. kn:2x64x56x56:NCHW');
  if (!cudaInfo().available) throw new Error(`kernel-steps: no usable GPU (${cudaInfo().reason})`);
  for (const shape of shapes) {
    runSteps(shape);
    console.log(`${shape.op} ${shape.dims.join('x')} ${shape.layout} ${shape.dtype}: ${STEPS} steps after one warm-up`);
  }
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
