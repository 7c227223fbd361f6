/**
 * What a KN / GKN call costs on the GPU, counted by the SIMT emulator (emulated build only):
 * kernel launches and device allocations per op, on a micro-batch and a large ResNet-50 shape in
 * both layouts. Counts, not times: exact on any machine, so they are asserted (issue 13). Training
 * forward and backward are two launches each, inference one, and once a stream has seen a call of
 * its size, a call whose outputs are given (as a layer gives them) allocates nothing, copies
 * nothing to or from the host and never waits for the device: a training step can be captured
 * into a CUDA graph.
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
 * of the last three can be captured into a CUDA graph.
 */
function counted(run: () => void): Cost {
  const before = settled();
  run();
  const queued = diagnostics.counters();
  const after = settled();
  return {
    launches: after.launches - before.launches,
    allocations: queued.allocations - before.allocations,
    hostTransfers: queued.hostTransfers - before.hostTransfers,
    hostWaits: queued.hostWaits - before.hostWaits,
  };
}

const cost = (launches: number): Cost => ({ launches, allocations: 0, hostTransfers: 0, hostWaits: 0 });

function cudaTensor(shape: number[], layout: 'NCHW' | 'NHWC', seed: number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(Float32Array.from({ length: size }, (_, i) => Math.sin(seed + i * 0.37) + 0.1 * (i % 5)), shape, { layout, device: 'cuda' });
}

const vector = (values: number[]) => Tensor.fromArray(Float32Array.from(values), [values.length], { device: 'cuda' });

if (cuda.emulated)
  describe('GPU launches and allocations per op, counted by the emulator (issue 13)', function () {
    this.timeout(600_000);
    for (const shape of SHAPES)
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const C = shape[1];
        it(`KN ops on ${shape.join('x')} ${layout}: forward 2 launches, backward 2, inference 1; nothing else on the host with the outputs given`, function () {
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
          expect(forward).to.deep.equal(cost(2));
          const gradientsOut = { dx: gradients.dx, dGamma: gradients.dGamma, dBeta: gradients.dBeta, dGain: gradients.dGain as Tensor, dPriorMean: gradients.dPriorMean, dPriorVar: gradients.dPriorVar };
          expect(counted(() => ops.kalmanNormBackward(dy, result.saved, { out: gradientsOut }))).to.deep.equal(cost(2));
          const inferenceOut = { y: first.y, mean: Tensor.zeros([C], { device: 'cuda' }), var: Tensor.zeros([C], { device: 'cuda' }) };
          const inference = { ...parameters, training: false };
          const saved = ops.kalmanNorm(x, { ...inference, out: inferenceOut }).saved;
          expect(counted(() => ops.kalmanNorm(x, { ...inference, out: { ...inferenceOut, saved } }))).to.deep.equal(cost(1));
        });
      }

    const layers: [string, () => NormalizationLayer][] = [
      ['KalmanNorm', () => new KalmanNorm(64, { device: 'cuda', activation: 'relu' })],
      ['GroupKalmanNorm', () => new GroupKalmanNorm(64, 8, { device: 'cuda' })],
    ];
    for (const [name, make] of layers)
      it(`a ${name} layer's training step on 2x64x56x56: 4 launches, and from the second step no allocation, host copy or host wait`, function () {
        const layer = make();
        const x = cudaTensor([2, 64, 56, 56], 'NHWC', 3);
        const dy = cudaTensor([2, 64, 56, 56], 'NHWC', 4);
        const prior = { mean: vector(new Array(64).fill(0)), var: vector(new Array(64).fill(1)) };
        const step = () => {
          layer.forward(x, name === 'KalmanNorm' ? { prior } : {});
          layer.backward(dy);
        };
        step();
        expect(counted(step)).to.deep.equal(cost(4));
      });
  });
