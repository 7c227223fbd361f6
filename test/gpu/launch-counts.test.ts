/**
 * What a KN / GKN call costs on the GPU, counted by the SIMT emulator (emulated build only):
 * kernel launches, device allocations and global-memory bytes per op, on a micro-batch and a large
 * ResNet-50 shape in both layouts. Counts, not times: exact on any machine, so they are asserted
 * (issue 13). A training pass whose inputs fit in the shared memory of one block per SM is one
 * persistent launch that reads them once; a larger one is two launches (statistics, then the
 * element pass); inference is one. Once a stream has seen a call of its size, a call whose outputs
 * are given (as a layer gives them) allocates nothing, copies nothing to or from the host and never
 * waits for the device: a training step can be captured into a CUDA graph.
 */
import { expect } from 'chai';
import { EmulatorCounters, GroupKalmanNorm, KalmanNorm, NormalizationLayer, Tensor, diagnostics, ops } from '../../lib';
import { native } from '../../lib/binding';
import { cuda } from './gpu-suite';

const SHAPES = [
  [2, 64, 56, 56],
  [32, 256, 56, 56],
];

/** Waits for the package's stream, so the counters include everything queued. */
function settled(): EmulatorCounters {
  native().synchronize!(0n);
  return diagnostics.counters();
}

interface Cost {
  launches: number;
  allocations: number;
  hostTransfers: number;
  hostWaits: number;
}

/**
 * What `run` cost: its launches once the work it queued has run, and what it did on the host
 * while queueing (allocations, copies to or from the host, waits for the device). A call with none
 * of the last three can be captured into a CUDA graph. `bytes`: global memory read + written.
 */
function counted(run: () => void): Cost & { bytes: number } {
  const before = settled();
  run();
  const queued = diagnostics.counters();
  const after = settled();
  return {
    launches: after.launches - before.launches,
    allocations: queued.allocations - before.allocations,
    hostTransfers: queued.hostTransfers - before.hostTransfers,
    hostWaits: queued.hostWaits - before.hostWaits,
    bytes: after.bytesRead - before.bytesRead + after.bytesWritten - before.bytesWritten,
  };
}

const cost = (launches: number): Cost => ({ launches, allocations: 0, hostTransfers: 0, hostWaits: 0 });
const withoutBytes = ({ bytes: _, ...rest }: Cost & { bytes: number }): Cost => rest;

/** Runs `body` with persistent passes on or off, then turns them back on (the default). */
function withPersistent<T>(on: boolean, body: () => T): T {
  native().cudaPersistentPasses!(on);
  try {
    return body();
  } finally {
    native().cudaPersistentPasses!(true);
  }
}

// Under AddressSanitizer (npm run test:emulate:asan) the kernels' own traffic is not counted.
const countsBytes = !/asan/.test(process.env.LD_PRELOAD ?? '');

function cudaTensor(shape: number[], layout: 'NCHW' | 'NHWC', seed: number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(Float32Array.from({ length: size }, (_, i) => Math.sin(seed + i * 0.37) + 0.1 * (i % 5)), shape, { layout, device: 'cuda' });
}

const vector = (values: number[]) => Tensor.fromArray(Float32Array.from(values), [values.length], { device: 'cuda' });

if (cuda.emulated)
  describe('GPU launches, allocations and bytes per op, counted by the emulator (issue 13)', function () {
    this.timeout(600_000);
    for (const shape of SHAPES)
      for (const layout of ['NCHW', 'NHWC'] as const)
        for (const persistent of [true, false]) {
          const C = shape[1];
          const size = shape.reduce((a, b) => a * b, 1);
          const fits = persistent && shape === SHAPES[0]; // x, dy and y fit in the shared memory of 132 SMs
          const pass = fits ? 1 : 2;
          it(`KN ops on ${shape.join('x')} ${layout}${persistent ? '' : ', persistent passes off'}: forward ${pass} launch(es), backward ${pass}, inference 1; nothing else on the host with the outputs given${fits ? '; x read once' : ''}`, function () {
            withPersistent(persistent, () => {
              const x = cudaTensor(shape, layout, 1);
              const dy = cudaTensor(shape, layout, 2);
              const channels = (value: number) => vector(new Array(C).fill(value));
              const parameters = {
                prior: { mean: channels(0.1), var: channels(1.2) },
                gain: channels(0.3),
                gamma: channels(1.1),
                beta: channels(0.2),
                runningMean: channels(0),
                runningVar: channels(1),
                activation: 'relu' as const,
              };
              const first = ops.kalmanNorm(x, parameters);
              const gradients = ops.kalmanNormBackward(dy, first.saved);
              const out = { y: first.y, mean: first.mean, var: first.var, saved: first.saved };
              let result = first;
              const forward = counted(() => {
                result = ops.kalmanNorm(x, { ...parameters, out });
              });
              expect(withoutBytes(forward)).to.deep.equal(cost(pass));
              const gradientsOut = { dx: gradients.dx, dGamma: gradients.dGamma, dBeta: gradients.dBeta, dGain: gradients.dGain as Tensor, dPriorMean: gradients.dPriorMean, dPriorVar: gradients.dPriorVar };
              const backward = counted(() => ops.kalmanNormBackward(dy, result.saved, { out: gradientsOut }));
              expect(withoutBytes(backward)).to.deep.equal(cost(pass));
              const inferenceOut = { y: first.y, mean: Tensor.zeros([C], { device: 'cuda' }), var: Tensor.zeros([C], { device: 'cuda' }) };
              const inference = { ...parameters, training: false };
              const saved = ops.kalmanNorm(x, { ...inference, out: inferenceOut }).saved;
              expect(withoutBytes(counted(() => ops.kalmanNorm(x, { ...inference, out: { ...inferenceOut, saved } })))).to.deep.equal(cost(1));
              if (!countsBytes || shape !== SHAPES[0]) return;
              const tensorBytes = size * 4;
              if (fits) {
                // The physical minimum, plus the per-cell partials and per-unit state: x + y forward,
                // x + dy + y (relu) + dx backward.
                expect(forward.bytes, 'forward bytes').to.be.at.most(1.1 * 2 * tensorBytes);
                expect(backward.bytes, 'backward bytes').to.be.at.most(1.1 * 4 * tensorBytes);
              } else {
                // The statistics kernel and the element pass each read x (and dy, y backward).
                expect(forward.bytes, 'forward bytes').to.be.at.least(3 * tensorBytes);
                expect(backward.bytes, 'backward bytes').to.be.at.least(7 * tensorBytes);
              }
            });
          });
        }

    it('the backward of an affine, a normalize and a quadratic transition node is one launch each (its independent parts share it)', function () {
      const rows = 2, inputs = 24, outputs = 16;
      const matrixOf = (r: number, c: number, seed: number) =>
        Tensor.fromArray(Float32Array.from({ length: r * c }, (_, i) => 0.5 + 0.25 * Math.sin(seed + i)), [r, c], { device: 'cuda' });
      const mean = matrixOf(rows, inputs, 1), variance = matrixOf(rows, inputs, 2);
      const affine = ops.affineMoments(mean, variance, { weight: matrixOf(outputs, inputs, 3), bias: vector(new Array(outputs).fill(0.1)), noise: 0.01 });
      const [dMean, dVar] = [matrixOf(rows, outputs, 4), matrixOf(rows, outputs, 5)];
      expect(counted(() => ops.affineMomentsBackward(dMean, dVar, affine.saved)).launches, 'affine').to.equal(1);
      const normalized = ops.normalizeMoments({ mean, var: variance }, { mean: matrixOf(rows, inputs, 6), var: matrixOf(rows, inputs, 7) },
        { gamma: vector(new Array(inputs).fill(1.5)), beta: vector(new Array(inputs).fill(0.5)) });
      const [dNormMean, dNormVar] = [matrixOf(rows, inputs, 8), matrixOf(rows, inputs, 9)];
      expect(counted(() => ops.normalizeMomentsBackward(dNormMean, dNormVar, normalized.saved)).launches, 'normalize').to.equal(1);
      const quadratic = ops.quadraticMoments(matrixOf(1, inputs, 10), { kind: 'diagonal', diagonal: matrixOf(1, inputs, 11) },
        { weight: matrixOf(outputs, inputs, 12), bias: vector(new Array(outputs).fill(0.1)), noise: vector(new Array(outputs).fill(0.01)) });
      const [dQuadMean, dQuadVar] = [matrixOf(1, outputs, 13), matrixOf(1, outputs, 14)];
      expect(counted(() => ops.quadraticMomentsBackward(dQuadMean, dQuadVar, quadratic.saved)).launches, 'quadratic').to.equal(1);
    });

    const layers: [string, () => NormalizationLayer][] = [
      ['KalmanNorm', () => new KalmanNorm(64, { device: 'cuda', activation: 'relu' })],
      ['GroupKalmanNorm', () => new GroupKalmanNorm(64, 8, { device: 'cuda' })],
    ];
    for (const [name, make] of layers)
      it(`a ${name} layer's training step on 2x64x56x56: 2 launches, and from the second step no allocation, host copy or host wait`, function () {
        const layer = make();
        const x = cudaTensor([2, 64, 56, 56], 'NHWC', 3);
        const dy = cudaTensor([2, 64, 56, 56], 'NHWC', 4);
        const prior = { mean: vector(new Array(64).fill(0)), var: vector(new Array(64).fill(1)) };
        const step = () => {
          layer.forward(x, name === 'KalmanNorm' ? { prior } : {});
          layer.backward(dy);
        };
        step();
        expect(withoutBytes(counted(step))).to.deep.equal(cost(2));
      });
  });
