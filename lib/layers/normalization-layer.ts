// What KalmanNorm and GroupKalmanNorm layers share: parameters, their gradients, train/eval,
// state dicts, and output reuse.
import { checkElements, checkKnownKeys, rangeError, typeError } from '../errors';
import { Device, Tensor } from '../tensor';
import { StatVector, checkActivation, checkEps, checkGuard, checkGuardStatistic, checkScalarGain } from '../ops/arguments';
import { Activation, GuardStatistic, NormBackwardOptions, NormGradients, NormOptions, NormResult } from '../ops/normalization';
import { NormBackwardCall, NormCall, parseNormBackwardCall } from '../ops/norm-call';
import { posteriorShape } from '../ops/norm-ready';
import { runNormBackward, runNormBackwardAsync, runNormForward, runNormForwardAsync } from '../ops/norm-run';
import { SavedNormalization } from '../ops/saved-state';
import { MomentRows, accumulateInto } from '../ops/transitions';
import { MomentNode, NormalizedSource, RowsGradient } from './moment-graph';
import { OutputCache } from './output-cache';

let nextLayerId = 0;

export interface LayerOptions {
  /** Default 1e-5. */
  eps?: number;
  /** Initial Kalman gain, per channel (KN) or group (GKN). Default 0.1. */
  gain?: number;
  /** Guard threshold. Default 100. */
  guard?: number;
  /** The guard's statistic (see GuardStatistic). Default 'geometric'. */
  guardStatistic?: GuardStatistic;
  /** Learn gamma and beta. Default true. */
  affine?: boolean;
  /** Default 'identity'. */
  activation?: Activation;
  /** Where the parameters, running estimates and gradients live (the inputs' device). Default 'cpu'. */
  device?: Device;
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

/** One row [1, C] (a chain from an input node) is a per-channel prior: it broadcasts over the ghost batches. */
function perChannelWhenOneRow(rows: MomentRows): { mean: Tensor; var: Tensor } {
  if (rows.mean.shape[0] !== 1) return { mean: rows.mean, var: rows.var };
  return { mean: rows.mean.view([rows.mean.size]), var: rows.var.view([rows.var.size]) };
}

/** Frees the GPU memory a forward allocated for its backward (host memory is left to the collector). */
function freeDeviceState(saved: SavedNormalization): void {
  for (const memory of [...Object.values(saved.state), saved.skipped])
    if (memory !== null && !ArrayBuffer.isView(memory)) memory.free();
}

/** Gradients that linked layers send back before this layer's own backward runs. */
interface Pending {
  posterior: { dMean: Tensor; dVar: Tensor } | null;
  gamma: Tensor | null;
  beta: Tensor | null;
}

/**
 * A normalization layer. `forward` and `backward` write into tensors the layer keeps and reuses
 * from step to step (results of one step are overwritten by the next step of the same shape);
 * `backward` overwrites `grad` (plus what linked layers sent back for gamma and beta).
 *
 * Linked (KN-SPEC section 3): `linkPrior(node)` makes every training forward take its prior from
 * the statistics graph (see moment-graph.ts and links.ts); its backward then pushes the prior's
 * gradient back into the graph, which delivers it to the layers before. Call backward layer by
 * layer in reverse order.
 */
export abstract class NormalizationLayer implements NormalizedSource {
  readonly id = nextLayerId++;
  forwardCount = 0;
  readonly gamma: Tensor | null;
  readonly beta: Tensor | null;
  readonly gain: Tensor;
  readonly grad: LayerGradients;
  training = true;
  protected readonly options: Required<Omit<LayerOptions, 'gain' | 'affine' | 'device'>>;
  readonly device: Device;
  private saved: SavedNormalization | null = null;
  private readonly outputs = new OutputCache();
  private priorNode: MomentNode | null = null;
  private usedPriorNode = false;
  private linkedShape: readonly number[] | null = null;
  private lastPosterior: MomentRows | null = null;
  private pending: Pending = { posterior: null, gamma: null, beta: null };
  private busy: string | null = null;  // the ...Async call not settled yet
  private released = false;  // dispose() ran

  protected constructor(readonly channels: number, gainCount: number, options: LayerOptions) {
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
    // Every option is checked, with the ops' own checks, before anything is allocated.
    const affine = options.affine ?? true;
    if (typeof affine !== 'boolean') throw typeError('affine', 'a boolean', affine);
    const gain = checkScalarGain(options.gain ?? 0.1);
    this.options = {
      eps: checkEps(options.eps ?? 1e-5),
      guard: checkGuard(options.guard ?? 100),
      guardStatistic: checkGuardStatistic(options.guardStatistic ?? 'geometric'),
      activation: checkActivation(options.activation ?? 'identity'),
    };
    this.device = options.device ?? 'cpu';
    const filled = (length: number, value: number) =>
      Tensor.fromArray(new Float32Array(length).fill(value), [length], { device: this.device });
    this.gamma = affine ? filled(channels, 1) : null;
    this.beta = affine ? filled(channels, 0) : null;
    this.gain = filled(gainCount, gain);
    this.grad = { gamma: affine ? filled(channels, 0) : null, beta: affine ? filled(channels, 0) : null, gain: filled(gainCount, 0) };
  }

  get eps(): number {
    return this.options.eps;
  }

  /** Takes this layer's prior from `node` in every training forward (null: no link). */
  linkPrior(node: MomentNode | null): this {
    if (node !== null && !(node instanceof MomentNode)) throw typeError('node', 'a MomentNode', node);
    this.priorNode = node;
    return this;
  }

  /** The posterior rows of the last training forward. */
  posterior(): MomentRows {
    if (!this.lastPosterior) throw new Error('posterior: run forward in training mode first');
    return this.lastPosterior;
  }

  /** @internal From the statistics graph: a gradient with respect to this layer's posterior. */
  receivePosteriorGradient(gradient: RowsGradient): void {
    const rows = this.posterior();
    if (!this.pending.posterior)
      this.pending.posterior = { dMean: Tensor.zeros(rows.mean.shape, { device: rows.mean.device }), dVar: Tensor.zeros(rows.var.shape, { device: rows.var.device }) };
    if (gradient.dMean) accumulateInto(this.pending.posterior.dMean, gradient.dMean);
    if (gradient.dVar) accumulateInto(this.pending.posterior.dVar, gradient.dVar);
  }

  /** @internal From the statistics graph: gradients with respect to gamma and beta. */
  receiveParameterGradient(dGamma: Tensor | undefined, dBeta: Tensor | undefined): void {
    const add = (held: Tensor | null, gradient: Tensor | undefined): Tensor | null => {
      if (!gradient) return held;
      const total = held ?? Tensor.zeros(gradient.shape, { device: gradient.device });
      accumulateInto(total, gradient);
      return total;
    };
    this.pending.gamma = add(this.pending.gamma, dGamma);
    this.pending.beta = add(this.pending.beta, dBeta);
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
    return this.afterForward(runNormForward(this.forwardCall(x, inputs)));
  }

  /**
   * forward without blocking the event loop (see ops.kalmanNormAsync): bad arguments throw here.
   * Until the promise settles, every other call on the layer throws.
   */
  forwardAsync(x: Tensor, inputs: LayerForwardInputs = {}): Promise<NormResult> {
    return this.whileBusy('forwardAsync', runNormForwardAsync(this.forwardCall(x, inputs)), (result) => this.afterForward(result));
  }

  /** Gradients for the last forward call: returns dx (and the prior's and residual's), fills `grad`. */
  backward(dy: Tensor, options: Omit<NormBackwardOptions, 'out'> = {}): NormGradients {
    return this.afterBackward(runNormBackward(this.backwardCall(dy, options)));
  }

  /** backward without blocking the event loop (as forwardAsync). */
  backwardAsync(dy: Tensor, options: Omit<NormBackwardOptions, 'out'> = {}): Promise<NormGradients> {
    return this.whileBusy('backwardAsync', runNormBackwardAsync(this.backwardCall(dy, options)), (gradients) => this.afterBackward(gradients));
  }

  /** Marks the layer busy until `work` settles, then finishes it. */
  private whileBusy<Value>(name: string, work: Promise<Value>, finish: (value: Value) => Value): Promise<Value> {
    this.busy = name;
    return work.then(finish).finally(() => {
      this.busy = null;
    });
  }

  private checkLive(name: string): void {
    if (this.released) throw new Error(`${name}: the layer has been disposed`);
  }

  private checkIdle(name: string): void {
    this.checkLive(name);
    if (this.busy) throw new Error(`${name}: the layer's ${this.busy} has not settled yet; await it first`);
  }

  /** Checks a forward and makes its call (the prior from the linked graph when there is one). */
  private forwardCall(x: Tensor, inputs: LayerForwardInputs): NormCall {
    this.checkIdle('forward');
    if (!(x instanceof Tensor)) throw typeError('x', 'a Tensor', x);
    const usePriorNode = inputs.prior === undefined && this.priorNode !== null && this.training;
    const linked = usePriorNode ? this.priorNode!.evaluate() : null;
    // The op's own options come last: V8 builds an object literal that begins with a spread slowly.
    const call = this.parse(x, {
      training: this.training,
      eps: this.options.eps,
      guard: this.options.guard,
      guardStatistic: this.options.guardStatistic,
      activation: this.options.activation,
      gain: this.gain,
      gamma: this.gamma ?? undefined,
      beta: this.beta ?? undefined,
      prior: linked ? perChannelWhenOneRow(linked) : inputs.prior,
      residual: inputs.residual,
      out: { y: this.outputs.get('y', x), saved: this.saved ?? undefined },
      ...this.opOptions(),
    });
    this.usedPriorNode = usePriorNode;
    this.linkedShape = linked?.mean.shape ?? null;
    // The posterior outputs too are the layer's own, reused from step to step (their shape is the
    // parsed call's, so they join it after the parse).
    const posterior = posteriorShape(call);
    call.out.mean = this.outputs.vector('mean', posterior, x.device);
    call.out.var = this.outputs.vector('var', posterior, x.device);
    return call;
  }

  private afterForward(result: NormResult): NormResult {
    this.saved = result.saved;
    this.forwardCount += 1;
    this.lastPosterior = this.training ? { mean: result.mean, var: result.var } : null;
    return result;
  }

  private backwardCall(dy: Tensor, options: Omit<NormBackwardOptions, 'out'>): NormBackwardCall {
    this.checkIdle('backward');
    if (!this.saved) throw new Error('backward: call forward first');
    const forward = this.saved.call;
    const x = forward.x;
    const received = this.pending.posterior;
    if (received && (options.dMean !== undefined || options.dVar !== undefined))
      throw new Error('dMean: this layer already receives its posterior gradient from linked layers');
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
    checkKnownKeys('options', options, ['dMean', 'dVar', 'stream']);
    const prior = forward.prior;
    return parseNormBackwardCall(forward.op, dy, this.saved, {
      dMean: received ? received.dMean : options.dMean,
      dVar: received ? received.dVar : options.dVar,
      stream: options.stream,
      out: {
        dx: this.outputs.get('dx', x),
        dResidual: forward.residual ? this.outputs.get('dResidual', x) : undefined,
        dGamma: this.grad.gamma ?? undefined,
        dBeta: this.grad.beta ?? undefined,
        dGain: this.grad.gain,
        dPriorMean: prior ? this.outputs.vector('dPriorMean', prior.mean.shape, x.device) : undefined,
        dPriorVar: prior ? this.outputs.vector('dPriorVar', prior.var.shape, x.device) : undefined,
      },
    });
  }

  private afterBackward(gradients: NormGradients): NormGradients {
    if (gradients.dGain === undefined) this.grad.gain.zero();
    if (this.pending.gamma && this.grad.gamma) accumulateInto(this.grad.gamma, this.pending.gamma);
    if (this.pending.beta && this.grad.beta) accumulateInto(this.grad.beta, this.pending.beta);
    this.pending = { posterior: null, gamma: null, beta: null };
    if (this.usedPriorNode && gradients.dPriorMean) {
      const shape = this.linkedShape!;
      this.priorNode!.backward({ dMean: gradients.dPriorMean.view(shape), dVar: gradients.dPriorVar?.view(shape) ?? null });
    }
    return gradients;
  }

  /**
   * Frees what the layer owns: parameters, their gradients, running estimates, the outputs it
   * reuses and the last forward's saved state (GPU memory at once, not when collected). Any later
   * call on the layer throws. Tensors a caller still holds from it (y, dx) are disposed too.
   */
  dispose(): void {
    this.checkIdle('dispose');
    const { gamma, beta, gain } = this.grad;
    for (const tensor of [...Object.values(this.stateTensors()), gamma, beta, gain, this.pending.gamma, this.pending.beta]) tensor?.dispose();
    this.pending.posterior?.dMean.dispose();
    this.pending.posterior?.dVar.dispose();
    this.outputs.dispose();
    if (this.saved) freeDeviceState(this.saved);
    this.saved = null;
    this.lastPosterior = null;
    this.released = true;
  }

  /** `using layer = new KalmanNorm(...)`: dispose() when the scope ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Copies of the layer's parameters and running state, by name. */
  stateDict(): Record<string, Float32Array> {
    this.checkLive('stateDict');
    const state: Record<string, Float32Array> = {};
    for (const [name, tensor] of Object.entries(this.stateTensors())) state[name] = tensor.readSync();
    return state;
  }

  /**
   * Copies every entry of `state` (as returned by stateDict) into the layer, after checking them
   * all (nothing is loaded when one is bad): known keys, sizes, finite values, gains in [0, 1] and
   * non-negative running variances.
   */
  loadStateDict(state: Record<string, Float32Array>): void {
    this.checkIdle('loadStateDict');
    if (typeof state !== 'object' || state === null) throw typeError('state', 'an object of Float32Arrays', state);
    const tensors = this.stateTensors();
    const names = Object.keys(tensors);
    for (const name of Object.keys(state))
      if (!names.includes(name)) throw rangeError(`state.${name}`, `not a state of this layer (expected ${names.join(', ')})`);
    for (const name of names) {
      const values = state[name];
      const expected = tensors[name].size;
      if (!(values instanceof Float32Array)) throw typeError(`state.${name}`, 'a Float32Array', values);
      if (values.length !== expected) throw rangeError(`state.${name}`, `expected ${expected} values, got ${values.length}`);
      this.checkStateValues(name, values);
    }
    for (const name of names) tensors[name].writeSync(state[name]);
  }

  /** Rejects values a forward would reject or turn into NaN: every entry finite, the gain in [0, 1]. */
  protected checkStateValues(name: string, values: Float32Array): void {
    if (name === 'gain') checkElements('state.gain', values, (v) => v >= 0 && v <= 1, 'gains in [0, 1]');
    checkElements(`state.${name}`, values, Number.isFinite, 'finite values');
  }

  protected stateTensors(): Record<string, Tensor> {
    const tensors: Record<string, Tensor> = { gain: this.gain };
    if (this.gamma) tensors.gamma = this.gamma;
    if (this.beta) tensors.beta = this.beta;
    return tensors;
  }

  /** The options of this layer's op beyond NormOptions (KN: ghost batch and running estimates; GKN: groups). */
  protected abstract opOptions(): object;

  /** The op's checked call for x with the layer's options. */
  protected abstract parse(x: Tensor, options: NormOptions): NormCall;
}
