// `npm run bench -- --device emulate [--quick] [--markdown FILE]` (the emulated build, e.g.
// KN_ADDON_PATH=build-emulate/Release/kalman_norm.node): a GPU time model until a GPU measures.
// Each pass runs once warm on the SIMT emulator, as a layer runs it (every output given, the saved
// state reused), and its kernel launches, grid syncs and global-memory bytes (distinct 32-byte
// sectors per kernel) are counted; the model predicts
//   time = bytes / 3.0 TB/s + launches x 2.5 us + grid syncs x 1 us      (an H100-class GPU)
// beside the same model for cuDNN's batch norm at its best: the persistent NHWC kernels behind
// cudnnBatchNormalizationForwardTrainingEx (apex's persistent batch norm is the same design), one
// launch per pass with one grid-wide sync that keeps x on chip, so it moves the minimal bytes
// (forward x + y, backward x + dy + dx, inference x + y, no sync). cuDNN's plain NCHW path takes
// more launches and reads x twice; the model holds us to its best case. The grid sync's 1 us is an
// assumption (its cost is not published; a GPU session measures it). Only micro-batch shapes (batch 2 and 4): the emulator runs every
// GPU thread on the CPU. Then each kernel's registers and occupancy on sm_90 (kernel-resources.ts).
import * as fs from 'fs';
import { EmulatorCounters, NormResult, Tensor, diagnostics, ops } from '../../lib';
import { native } from '../../lib/binding';
import { KernelResources, kernelResources } from './kernel-resources';
import { layerCalls, layerParameters } from './layer-calls';
import { BenchShape, describeShape, elementsOf, microBatchShapes } from './shapes';

const BANDWIDTH = 3.0e12; // bytes per second
const LAUNCH_SECONDS = 2.5e-6;
const GRID_SYNC_SECONDS = 1e-6;

type ModelPass = 'forward' | 'backward' | 'inference';
const MODEL_PASSES: ModelPass[] = ['forward', 'backward', 'inference'];
/** cuDNN's best case per pass: one launch, these many grid syncs and tensors of the input's size. */
const CUDNN_TENSORS: Record<ModelPass, number> = { forward: 2, backward: 3, inference: 2 };
const CUDNN_GRID_SYNCS: Record<ModelPass, number> = { forward: 1, backward: 1, inference: 0 };

interface PassCost {
  launches: number;
  gridSyncs: number;
  bytes: number;
}

interface ModelRow {
  shape: string;
  layout: 'NCHW' | 'NHWC';
  pass: ModelPass;
  launches: number;
  gridSyncs: number;
  megabytes: number;
  predictedUs: number;
  cudnnLaunches: number;
  cudnnMegabytes: number;
  cudnnUs: number;
  ratio: number; // ours / cuDNN's: at or below 1 meets the goal
}

function settled(): EmulatorCounters {
  native().synchronize!(0n);
  return diagnostics.counters();
}

/** Launches, grid syncs and kernel bytes of `run`, once what it queued has run. */
function counted(run: () => void): PassCost {
  const before = settled();
  run();
  const after = settled();
  return {
    launches: after.launches - before.launches,
    gridSyncs: after.gridSyncs - before.gridSyncs,
    bytes: after.bytesRead - before.bytesRead + after.bytesWritten - before.bytesWritten,
  };
}

const predictedSeconds = ({ launches, gridSyncs, bytes }: PassCost) =>
  bytes / BANDWIDTH + launches * LAUNCH_SECONDS + gridSyncs * GRID_SYNC_SECONDS;

/** KN inference with fixed statistics, once warm and once counted, into outputs it is given. */
function knInferenceCost(x: Tensor, y: Tensor, options: object): PassCost {
  const channels = x.shape[1];
  const vector = () => Tensor.fromArray(new Float32Array(channels), [channels], { device: 'cuda' });
  const out = { y, mean: vector(), var: vector() };
  const inference = (saved?: NormResult['saved']) => ops.kalmanNorm(x, { ...options, training: false, out: { ...out, saved } });
  const warm = inference();
  return counted(() => inference(warm.saved));
}

/** One shape and layout: each pass twice (the first warms the stream's workspace), the second counted. */
function modelShape(shape: BenchShape, layout: 'NCHW' | 'NHWC'): ModelRow[] {
  const dims = [shape.n, shape.c, shape.hw, shape.hw];
  const size = elementsOf(shape);
  const tensor = (seed: number) => Tensor.fromArray(Float32Array.from({ length: size }, (_, i) => Math.sin(seed + i)), dims, { layout, device: 'cuda' });
  const x = tensor(1), dy = tensor(2);
  const { options } = layerParameters(shape, 'cuda', true);
  const y = Tensor.zeros(dims, { layout, device: 'cuda' });
  const calls = layerCalls(shape, x, dy, { y, dx: Tensor.zeros(dims, { layout, device: 'cuda' }) }, options);
  const costs: Record<ModelPass, PassCost> = {
    forward: counted(() => calls.forward()),
    backward: counted(() => calls.backward()),
    // GKN's inference is its training computation.
    inference: shape.op === 'kn' ? knInferenceCost(x, y, options) : counted(() => calls.forward()),
  };
  const tensorBytes = size * 4;
  return MODEL_PASSES.map((pass) => {
    const { launches, gridSyncs, bytes } = costs[pass];
    const cudnnBytes = CUDNN_TENSORS[pass] * tensorBytes;
    const ours = predictedSeconds(costs[pass]);
    const cudnn = predictedSeconds({ launches: 1, gridSyncs: CUDNN_GRID_SYNCS[pass], bytes: cudnnBytes });
    return {
      shape: describeShape(shape), layout, pass, launches, gridSyncs, megabytes: bytes / 1e6, predictedUs: ours * 1e6,
      cudnnLaunches: 1, cudnnMegabytes: cudnnBytes / 1e6, cudnnUs: cudnn * 1e6, ratio: ours / cudnn,
    };
  });
}

function markdown(rows: ModelRow[]): string {
  const lines = [
    '| shape | layout | pass | launches | grid syncs | MB moved | predicted µs | cuDNN BN launches | cuDNN BN MB | cuDNN BN µs | ours / cuDNN |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows)
    lines.push(`| ${r.shape} | ${r.layout} | ${r.pass} | ${r.launches} | ${r.gridSyncs} | ${r.megabytes.toFixed(2)} | ${r.predictedUs.toFixed(1)} | ${r.cudnnLaunches} | ${r.cudnnMegabytes.toFixed(2)} | ${r.cudnnUs.toFixed(1)} | ${r.ratio.toFixed(2)} |`);
  return lines.join('\n') + '\n';
}

export function runModel(quick: boolean, markdownFile?: string): void {
  const shapes = microBatchShapes(quick);
  console.log(`GPU time model (SIMT emulator counts; t = bytes / ${BANDWIDTH / 1e12} TB/s + launches x ${LAUNCH_SECONDS * 1e6} us + grid syncs x ${GRID_SYNC_SECONDS * 1e6} us): ${shapes.length * 2} shape/layout combinations`);
  const rows: ModelRow[] = [];
  const started = Date.now();
  for (const [index, shape] of shapes.entries())
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const modelled = modelShape(shape, layout);
      rows.push(...modelled);
      const [forward, backward] = modelled;
      console.log(`[${2 * index + (layout === 'NHWC' ? 2 : 1)}/${shapes.length * 2}, ${((Date.now() - started) / 1000).toFixed(0)} s] ${forward.shape} ${layout}: forward ${forward.predictedUs.toFixed(1)} us (${forward.ratio.toFixed(2)}x cuDNN's), backward ${backward.predictedUs.toFixed(1)} us (${backward.ratio.toFixed(2)}x)`);
    }
  console.table(rows.map((r) => ({ shape: r.shape, layout: r.layout, pass: r.pass, launches: r.launches, 'grid syncs': r.gridSyncs, MB: +r.megabytes.toFixed(2), 'µs': +r.predictedUs.toFixed(1), 'cuDNN µs': +r.cudnnUs.toFixed(1), 'ours/cuDNN': +r.ratio.toFixed(2) })));
  console.log('Occupancy on sm_90 at 256 threads a block (registers from ptxas; the kernels are bandwidth-bound, so the model above leaves it out):');
  const kernels = kernelResources();
  if (!Array.isArray(kernels)) console.log(kernels.reason);
  else console.table(kernels.map(printableKernel));
  if (markdownFile) fs.writeFileSync(markdownFile, markdown(rows) + (Array.isArray(kernels) ? `\n${kernelMarkdown(kernels)}` : ''));
}

const range = ([low, high]: [number, number], format: (value: number) => string = String) =>
  low === high ? format(low) : `${format(low)} to ${format(high)}`;
const percent = (share: number) => `${Math.round(100 * share)}%`;

function printableKernel(k: KernelResources) {
  return { kernel: k.kernel, instantiations: k.instantiations, registers: range(k.registers), 'static smem B': k.staticShared, 'blocks / SM': range(k.blocksPerSm), occupancy: range(k.occupancy, percent) };
}

function kernelMarkdown(kernels: KernelResources[]): string {
  const lines = ['| kernel | instantiations | registers | static shared memory (B) | blocks / SM | occupancy |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const k of kernels)
    lines.push(`| ${k.kernel} | ${k.instantiations} | ${range(k.registers)} | ${k.staticShared} | ${range(k.blocksPerSm)} | ${range(k.occupancy, percent)} |`);
  return lines.join('\n') + '\n';
}
