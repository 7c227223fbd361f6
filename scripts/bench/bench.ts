// `npm run bench [-- --quick] [--device cpu|cuda|emulate] [--json FILE] [--markdown FILE]`: KN and GKN
// side by side with the peer in the same run, on ResNet-50's normalization shapes (shapes.ts).
// GPU: CUDA events, median of 21 after warm-up, inputs rotated; peers cuDNN batch norm, this
// package's own BN path, a device copy. CPU: median of 20; peers PyTorch's BatchNorm2d / GroupNorm
// (measure-torch.ts), this package's own BN path and @tensorflow/tfjs's CPU backend, against the
// ceilings of a copy and a read of the same bytes. Emulate: a GPU time model from the
// SIMT emulator's counts (model.ts). Timings are never asserted.
import * as fs from 'fs';
import * as os from 'os';
import { DType, Layout, cpuVectorWidth, cudaInfo, threadCount } from '../../lib';
import { DEFAULT_SAMPLING, medianMs, memoryCeiling } from '../timing';
import { cudnnAvailable, deviceCopyBandwidth, eventTimer, measureCudnn, timingStream } from './measure-gpu';
import { Inputs, PassTimes, Timer, makeInputs, measureOurs } from './measure-ours';
import { measureTfjs } from './measure-tfjs';
import { runModel } from './model';
import { TorchPeer } from './measure-torch';
import { BenchShape, benchShapes, describeShape, elementsOf } from './shapes';
import { PASSES, minimalTraffic } from './traffic';

interface Options {
  quick: boolean;
  device: 'cpu' | 'cuda' | 'emulate';
  json?: string;
  markdown?: string;
}

export interface Row {
  device: string;
  shape: string;
  layout: Layout;
  dtype: DType;
  pass: string;
  ms: number;
  gbps: number;
  copyGbps: number; // the ceiling: a copy of the same bytes on this device
  readGbps: number | null; // CPU: a read-only pass of the same bytes
  copyPercent: number;
  bytesCounted: string;
  bnMs: number;
  knOverBn: number;
  peer: string;
  peerMs: number | null;
  speedup: number | null; // the peer's time / ours: above 1 is faster than the peer
  torchMs: number | null; // CPU: PyTorch BatchNorm2d (KN rows) or GroupNorm (GKN rows)
  torchRatio: number | null; // PyTorch's time / ours: above 1 is faster than PyTorch
}

function parseOptions(argv: string[]): Options {
  const value = (flag: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const device = value('--device') ?? (cudaInfo().available && !cudaInfo().emulated ? 'cuda' : 'cpu');
  if (device !== 'cpu' && device !== 'cuda' && device !== 'emulate') throw new RangeError(`--device: expected cpu, cuda or emulate, got ${device}`);
  if (device === 'cuda' && !cudaInfo().available) throw new Error(`--device cuda: no usable GPU (${cudaInfo().reason})`);
  if (device === 'emulate' && !cudaInfo().emulated)
    throw new Error('--device emulate: load the emulated build (npm run build:emulate; KN_ADDON_PATH=build-emulate/Release/kalman_norm.node)');
  return { quick: argv.includes('--quick'), device, json: value('--json'), markdown: value('--markdown') };
}

// Elements up to which tfjs's CPU backend is run (it takes seconds per step beyond; fewer with --quick).
const CPU_TFJS_LIMIT = 1 << 20;
const CPU_TFJS_QUICK_LIMIT = 1 << 19;
// Bytes of cache one thread can keep a unit in between its two sweeps: here the 32 MiB L3 shared by
// 2 cores (the one-pass units of csrc/cpu/unit_passes.h keep units of up to 2 MiB there).
const CPU_ON_CHIP = 16 * 1024 * 1024;
const GPU_ON_CHIP = 48 * 1024 * 1024; // bytes of L2 on an H100-class GPU
const GPU_ROTATION_BYTES = 256 * 1024 * 1024;

// The CPU's timing, for ours and PyTorch alike (timing.ts, Sampling).
function cpuTimer(steps: Array<() => void>): number {
  let next = 0;
  return medianMs(() => steps[next++ % steps.length](), DEFAULT_SAMPLING);
}

/** Bytes of one statistic unit (KN: N x S; GKN: C/G x S), to decide whether x must be read twice. */
function unitBytes(shape: BenchShape, dtype: DType): number {
  const perElement = dtype === 'float32' ? 4 : 2;
  const spatial = shape.hw * shape.hw;
  return (shape.op === 'kn' ? shape.n : shape.c / shape.groups!) * spatial * perElement;
}

async function measureShape(shape: BenchShape, layout: Layout, dtype: DType, options: Options & { device: 'cpu' | 'cuda' }, torch: TorchPeer | null): Promise<Row[]> {
  const gpu = options.device === 'cuda';
  const elementBytes = dtype === 'float32' ? 4 : 2;
  const tensorBytes = elementsOf(shape) * elementBytes;
  const setCount = gpu ? Math.max(1, Math.min(8, Math.ceil(GPU_ROTATION_BYTES / (4 * tensorBytes)))) : 1;
  const sets: Inputs[] = Array.from({ length: setCount }, () => makeInputs(shape, layout, options.device, dtype));
  const time: Timer = gpu ? eventTimer : cpuTimer;
  const stream = gpu ? timingStream() : undefined;
  const kn = measureOurs(shape, sets, true, time, stream);
  const bn = measureOurs(shape, sets, false, time, stream);
  const torchTimes = torch ? await torch.measure(shape, layout, DEFAULT_SAMPLING) : null;
  const ceiling = gpu ? { copy: deviceCopyBandwidth(sets, tensorBytes), read: null } : memoryCeiling(elementsOf(shape));
  const copy = ceiling.copy;
  let peer = { name: gpu ? 'cuDNN BN' : 'tfjs', times: null as Partial<PassTimes> | null };
  if (gpu && shape.op === 'kn' && cudnnAvailable().available) peer.times = measureCudnn(shape, sets, layout, dtype);
  else if (gpu) peer = { name: shape.op === 'kn' ? `cuDNN: ${cudnnAvailable().reason}` : 'cuDNN has no GN', times: null };
  else if (elementsOf(shape) <= (options.quick ? CPU_TFJS_QUICK_LIMIT : CPU_TFJS_LIMIT))
    peer.times = await measureTfjs(shape, layout, options.quick ? 3 : 5);
  else peer = { name: 'tfjs: too slow at this size', times: null };
  for (const set of sets) for (const tensor of Object.values(set)) tensor.dispose();
  return PASSES.map((pass) => {
    const traffic = minimalTraffic(pass, tensorBytes, unitBytes(shape, dtype), gpu ? GPU_ON_CHIP : CPU_ON_CHIP);
    const gbps = traffic.bytes / (kn[pass] * 1e6);
    const peerMs = peer.times?.[pass] ?? null;
    return {
      device: options.device,
      shape: describeShape(shape),
      layout,
      dtype,
      pass,
      ms: kn[pass],
      gbps,
      copyGbps: copy,
      readGbps: ceiling.read,
      copyPercent: (100 * gbps) / copy,
      bytesCounted: traffic.counted,
      bnMs: bn[pass],
      knOverBn: kn[pass] / bn[pass],
      peer: peer.name,
      peerMs,
      speedup: peerMs === null ? null : peerMs / kn[pass],
      torchMs: torchTimes?.[pass] ?? null,
      torchRatio: torchTimes ? torchTimes[pass] / kn[pass] : null,
    };
  });
}

function printable(row: Row) {
  const fixed = (value: number | null, digits: number) => (value === null ? '—' : +value.toFixed(digits));
  return {
    shape: row.shape, layout: row.layout, dtype: row.dtype, pass: row.pass, ms: fixed(row.ms, 3), 'GB/s': fixed(row.gbps, 1),
    '% copy': fixed(row.copyPercent, 0), 'KN/BN': fixed(row.knOverBn, 2), 'PyTorch ms': fixed(row.torchMs, 3),
    'PyTorch/ours': fixed(row.torchRatio, 2), peer: row.peer, 'peer ms': fixed(row.peerMs, 3), speedup: fixed(row.speedup, 2),
  };
}

function markdownTable(rows: Row[], header: string): string {
  const lines = [
    header,
    '',
    '| shape | layout | dtype | pass | ms | GB/s | copy GB/s | read GB/s | % of copy | bytes counted | KN / BN | PyTorch ms | PyTorch / ours | peer | peer ms | speedup vs peer |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |',
  ];
  const cell = (value: number | null, digits: number) => (value === null ? '—' : value.toFixed(digits));
  for (const r of rows)
    lines.push(`| ${r.shape} | ${r.layout} | ${r.dtype} | ${r.pass} | ${r.ms.toFixed(3)} | ${r.gbps.toFixed(1)} | ${r.copyGbps.toFixed(1)} | ${cell(r.readGbps, 1)} | ${r.copyPercent.toFixed(0)} | ${r.bytesCounted} | ${r.knOverBn.toFixed(2)} | ${cell(r.torchMs, 3)} | ${cell(r.torchRatio, 2)} | ${r.peer} | ${cell(r.peerMs, 3)} | ${cell(r.speedup, 2)} |`);
  return lines.join('\n') + '\n';
}

/**
 * The 1-minute load average, for the provenance line. On a busy machine PyTorch's CPU times mean
 * little: its OpenMP threads wait at every barrier where one of them is descheduled (2026-11-30, one
 * core taken by another process: medians of 20 to 80 ms on shapes that take 0.1 to 1 ms quiet).
 */
function loadNote(): string {
  const load = os.loadavg()[0];
  return `load average ${load.toFixed(1)}${load >= 1 ? ' (busy: host-side times, PyTorch\'s most of all, are unreliable)' : ''}`;
}

function machine(options: Options): string {
  if (options.device === 'cuda') return cudaInfo().devices.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ');
  const vectors = cpuVectorWidth() === 8 ? 'AVX2 loops (8 floats)' : 'SSE2 loops (4 floats)';
  return `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${threadCount()} threads, ${vectors}`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.device === 'emulate') return runModel(options.quick, options.markdown);
  const measured = { ...options, device: options.device };
  const torch = measured.device === 'cpu' ? TorchPeer.start(threadCount()) : null;
  if (torch && !(torch instanceof TorchPeer)) console.log(torch.reason);
  const torchPeer = torch instanceof TorchPeer ? torch : null;
  const dtypes: DType[] = options.device === 'cuda' ? ['float32', 'bfloat16'] : ['float32'];
  const shapes = benchShapes(options.device, options.quick);
  const jobs = shapes.flatMap((shape) => (['NCHW', 'NHWC'] as const).flatMap((layout) => dtypes.map((dtype) => ({ shape, layout, dtype }))));
  const loadAtStart = loadNote();
  console.log(`kalman-norm benchmark on ${machine(options)}, ${loadAtStart}: ${jobs.length} shape/layout/dtype combinations${options.quick ? ' (--quick)' : ''}`);
  const rows: Row[] = [];
  const started = Date.now();
  for (const [index, job] of jobs.entries()) {
    const rowsOfJob = await measureShape(job.shape, job.layout, job.dtype, measured, torchPeer);
    rows.push(...rowsOfJob);
    const both = rowsOfJob[2];
    console.log(`[${index + 1}/${jobs.length}, ${((Date.now() - started) / 1000).toFixed(0)} s] ${both.shape} ${job.layout} ${job.dtype}: forward+backward ${both.ms.toFixed(3)} ms, ${both.gbps.toFixed(1)} GB/s (${both.copyPercent.toFixed(0)}% of copy)${both.speedup === null ? '' : `, ${both.speedup.toFixed(2)}x faster than ${both.peer}`}${both.torchRatio === null ? '' : `, PyTorch / ours ${both.torchRatio.toFixed(2)}`}`);
  }
  torchPeer?.close();
  console.table(rows.map(printable));
  const header = `Machine: ${machine(options)}; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}; ${loadAtStart} at the start, ${loadNote()} at the end`;
  if (options.json) fs.writeFileSync(options.json, JSON.stringify({ machine: machine(options), rows }, null, 2));
  if (options.markdown) fs.writeFileSync(options.markdown, markdownTable(rows, header));
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
