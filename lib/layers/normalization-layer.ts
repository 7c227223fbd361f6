// What KalmanNorm and GroupKalmanNorm layers share: parameters, their gradients, train/eval,
// state dicts, and output reuse.
import { rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import { StatVector } from '../ops/arguments';
import { Activation, NormBackwardOptions, NormGradients, NormOptions, NormResult } from '../ops/normalization';
import { SavedNormalization } from '../ops/saved-state';
import { OutputCache } from './output-cache';

export interface LayerOptions {
  /** Default 1e-5. */
  eps?: number;
  /** Initial Kalman gain, per channel (KN) or group (GKN). Default 0.1. */
  gain?: number;
  /** Guard threshold. Default 100. */
  guard?: number;
  /** Learn gamma and beta. Default true. */
  affine?: boolean;
  /** Default 'identity'. */
  activation?: Activation;
}

/** Per-call inputs that come from elsewhere in the network. */
export interface LayerForwardInputs {
  prior?: { mean: StatVector; var: StatVector };
  residual?: Tensor;
}

export interface LayerGradients {
  gamma: Tensor | null;
  beta: Tensor | null;
  /** The gain's gradient; zero when no prior was used. */
  gain: Tensor;
}

/**
 * A normalization layer. `forward` and `backward` write into tensors the layer keeps and reuses
 * from step to step (results of one step are overwritten by the next step of the same shape);
 * `backward` overwrites `grad`.
 */
export abstract class NormalizationLayer {
  readonly gamma: Tensor | null;
  readonly beta: Tensor | null;
  readonly gain: Tensor;
  readonly grad: LayerGradients;
  training = true;
  protected readonly options: Required<Omit<LayerOptions, 'gain' | 'affine'>>;
  private saved: SavedNormalization | null = null;
  private readonly outputs = new OutputCache();

  protected constructor(readonly channels: number, gainCount: number, options: LayerOptions) {
    const affine = options.affine ?? true;
    if (typeof affine !== 'boolean') throw typeError('affine', 'a boolean', affine);
    this.gamma = affine ? Tensor.fromArray(new Float32Array(channels).fill(1), [channels]) : null;
    this.beta = affine ? Tensor.zeros([channels]) : null;
    const gain = options.gain ?? 0.1;
    if (typeof gain !== 'number') throw typeError('gain', 'a number', gain);
    if (!(gain >= 0 && gain <= 1)) throw rangeError('gain', `expected a number in [0, 1], got ${gain}`);
    this.gain = Tensor.fromArray(new Float32Array(gainCount).fill(gain), [gainCount]);
    this.grad = { gamma: affine ? Tensor.zeros([channels]) : null, beta: affine ? Tensor.zeros([channels]) : null, gain: Tensor.zeros([gainCount]) };
    this.options = { eps: options.eps ?? 1e-5, guard: options.guard ?? 100, activation: options.activation ?? 'identity' };
  }

  train(): this {
    this.training = true;
    return this;
  }

  eval(): this {
    this.training = false;
    return this;
  }

  /** Normalizes x; the result's mean and var are the posterior that feeds the next layer's prior. */
  forward(x: Tensor, inputs: LayerForwardInputs = {}): NormResult {
    if (!(x instanceof Tensor)) throw typeError('x', 'a Tensor', x);
    const result = this.run(x, {
      training: this.training,
      eps: this.options.eps,
      guard: this.options.guard,
      activation: this.options.activation,
      gain: this.gain,
      gamma: this.gamma ?? undefined,
      beta: this.beta ?? undefined,
      prior: inputs.prior,
      residual: inputs.residual,
      out: { y: this.outputs.get('y', x.shape, x.layout), saved: this.saved ?? undefined },
    });
    this.saved = result.saved;
    return result;
  }

  /** Gradients for the last forward call: returns dx (and the prior's and residual's), fills `grad`. */
  backward(dy: Tensor, options: Omit<NormBackwardOptions, 'out'> = {}): NormGradients {
    if (!this.saved) throw new Error('backward: call forward first');
    const x = this.saved.x;
    const gradients = this.runBackward(dy, this.saved, {
      ...options,
      out: {
        dx: this.outputs.get('dx', x.shape, x.layout),
        dGamma: this.grad.gamma ?? undefined,
        dBeta: this.grad.beta ?? undefined,
        dGain: this.grad.gain,
      },
    });
    if (gradients.dGain === undefined) this.grad.gain.toArray().fill(0);
    return gradients;
  }

  /** Copies of the layer's parameters and running state, by name. */
  stateDict(): Record<string, Float32Array> {
    const state: Record<string, Float32Array> = {};
    for (const [name, tensor] of Object.entries(this.stateTensors())) state[name] = tensor.toArray().slice();
    return state;
  }

  /** Copies every entry of `state` (as returned by stateDict) into the layer. */
  loadStateDict(state: Record<string, Float32Array>): void {
    if (typeof state !== 'object' || state === null) throw typeError('state', 'an object of Float32Arrays', state);
    const tensors = this.stateTensors();
    const names = Object.keys(tensors);
    for (const name of Object.keys(state))
      if (!names.includes(name)) throw rangeError(`state.${name}`, `not a state of this layer (expected ${names.join(', ')})`);
    for (const name of names) {
      const values = state[name];
      const target = tensors[name].toArray();
      if (!(values instanceof Float32Array)) throw typeError(`state.${name}`, 'a Float32Array', values);
      if (values.length !== target.length) throw rangeError(`state.${name}`, `expected ${target.length} values, got ${values.length}`);
    }
    for (const name of names) tensors[name].toArray().set(state[name]);
  }

  protected stateTensors(): Record<string, Tensor> {
    const tensors: Record<string, Tensor> = { gain: this.gain };
    if (this.gamma) tensors.gamma = this.gamma;
    if (this.beta) tensors.beta = this.beta;
    return tensors;
  }

  protected abstract run(x: Tensor, options: NormOptions): NormResult;
  protected abstract runBackward(dy: Tensor, saved: SavedNormalization, options: NormBackwardOptions): NormGradients;
}
