// A training pass as a layer runs it (lib/layers/normalization-layer.ts): every output given and
// reused from step to step, the saved state too, and the gain a tensor. A warm step then allocates
// nothing and copies nothing between host and device (docs/CUDA.md), which is what a training
// loop pays; an op call that leaves its outputs to be made allocates each of them.
import { Device, NormGradients, NormResult, Tensor, ops } from '../../lib';
import { BenchShape } from './shapes';

/** What a layer passes besides x: gamma 1, beta 0, gain 0.1, KN's running estimates, a prior. */
export interface LayerParameters {
  options: { gamma: Tensor; beta: Tensor; gain: Tensor; prior?: { mean: Tensor; var: Tensor }; runningMean?: Tensor; runningVar?: Tensor };
  dispose(): void;
}

/** A layer's parameters for `shape` on `device`; `withPrior`: a prior of mean 0, variance 0.5 (else BN / GN). */
export function layerParameters(shape: BenchShape, device: Device, withPrior: boolean): LayerParameters {
  const columns = shape.op === 'kn' ? shape.c : shape.groups!;
  const made: Tensor[] = [];
  const vector = (value: number, length: number) => {
    const tensor = Tensor.fromArray(new Float32Array(length).fill(value), [length], { device });
    made.push(tensor);
    return tensor;
  };
  const options = {
    gamma: vector(1, shape.c),
    beta: vector(0, shape.c),
    gain: vector(0.1, columns),
    prior: withPrior ? { mean: vector(0, columns), var: vector(0.5, columns) } : undefined,
    ...(shape.op === 'kn' ? { runningMean: vector(0, shape.c), runningVar: vector(1, shape.c) } : {}),
  };
  return { options, dispose: () => made.forEach((tensor) => tensor.dispose()) };
}

export interface LayerCalls {
  forward(): NormResult;
  /** The gradients of the latest forward. */
  backward(): NormGradients;
  /** Frees the outputs it made (not y and dx, which the caller gave). */
  dispose(): void;
}

/**
 * `options`: the layer's parameters (layerParameters); `stream` (CUDA) queues both passes there.
 * `y` and `dx` are the caller's outputs. Runs one forward and one backward to make the rest of the
 * outputs. Each call's options are an object literal of named keys, as a layer builds them
 * (lib/layers/normalization-layer.ts): one that begins with a spread gets a hidden class of its
 * own each call in V8, which made the op's own checks about 5 times as slow.
 */
export function layerCalls(shape: BenchShape, x: Tensor, dy: Tensor, out: { y: Tensor; dx: Tensor }, options: LayerParameters['options'], stream?: bigint): LayerCalls {
  const { gamma, beta, gain, prior, runningMean, runningVar } = options;
  const forwardOp = (forwardOut: object): NormResult =>
    shape.op === 'kn'
      ? ops.kalmanNorm(x, { gamma, beta, gain, prior, runningMean, runningVar, stream, out: forwardOut })
      : ops.groupKalmanNorm(x, { gamma, beta, gain, prior, groups: shape.groups!, stream, out: forwardOut });
  const backwardOp = (saved: NormResult['saved'], gradientOut: object): NormGradients =>
    shape.op === 'kn'
      ? ops.kalmanNormBackward(dy, saved, { stream, out: gradientOut })
      : ops.groupKalmanNormBackward(dy, saved, { stream, out: gradientOut });

  const first = forwardOp({ y: out.y });
  const forwardOut = { y: out.y, mean: first.mean, var: first.var };
  let saved = first.saved;
  const gradients = backwardOp(saved, { dx: out.dx });
  const { dGamma, dBeta, dGain, dPriorMean, dPriorVar } = gradients;
  const gradientOut = { dx: out.dx, dGamma, dBeta, dGain: dGain instanceof Tensor ? dGain : undefined, dPriorMean, dPriorVar };
  return {
    forward: () => {
      const result = forwardOp({ y: forwardOut.y, mean: forwardOut.mean, var: forwardOut.var, saved });
      saved = result.saved;
      return result;
    },
    backward: () => backwardOp(saved, gradientOut),
    dispose: () => {
      for (const tensor of [first.mean, first.var, dGamma, dBeta, gradientOut.dGain, dPriorMean, dPriorVar]) tensor?.dispose();
    },
  };
}
