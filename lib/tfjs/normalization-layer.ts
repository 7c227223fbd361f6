// What the tfjs KalmanNormalization and GroupKalmanNormalization layers share: their options,
// the weights gamma, beta and gain, the forward through normalize(), and the config that
// tf.serialization saves. Channels are the last axis (tfjs's convention).
import * as tf from '@tensorflow/tfjs';
import { checkBoolean, checkNumber, rangeError, typeError } from '../errors';
import { FLOAT32_MIN_NORMAL, checkGuard, checkGuardStatistic, checkScalarGain } from '../ops/arguments';
import { GuardStatistic, NormOptions } from '../ops/normalization';
import { Rows } from './moment-rows';
import { NormKernel, normalize } from './normalize';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type LayerVariable = ReturnType<tf.layers.Layer['addWeight']>;
type Kwargs = Parameters<tf.layers.Layer['call']>[1];

/** The options both tfjs layers take, besides tf.layers' own (name, inputShape, ...). */
export interface NormalizationArgs extends LayerArgs {
  /** Added to the variance before the square root. Default 1e-3 (tf.layers.batchNormalization's). */
  epsilon?: number;
  /** Learn beta. Default true. */
  center?: boolean;
  /** Learn gamma. Default true. */
  scale?: boolean;
  /** The initial Kalman gain, in [0, 1]; the learned gain is clipped to [0, 1] when used. Default 0.1. */
  gain?: number;
  /** Guard threshold (KN-SPEC 1.4). Default 100. */
  guard?: number;
  /** The guard's statistic. Default 'geometric'. */
  guardStatistic?: GuardStatistic;
}

/** The checked options every layer has. */
interface CommonOptions {
  epsilon: number;
  center: boolean;
  scale: boolean;
  gain: number;
  guard: number;
  guardStatistic: GuardStatistic;
}

function checkCommon(args: NormalizationArgs): CommonOptions {
  if (typeof args !== 'object' || args === null) throw typeError('args', 'an object', args);
  return {
    epsilon: checkNumber('epsilon', args.epsilon ?? 1e-3, (v) => Math.fround(v) >= FLOAT32_MIN_NORMAL && Number.isFinite(Math.fround(v)),
      'a finite number >= 2^-126 (the smallest normal float32)'),
    center: checkBoolean('center', args.center ?? true),
    scale: checkBoolean('scale', args.scale ?? true),
    gain: checkScalarGain(args.gain ?? 0.1),
    guard: checkGuard(args.guard ?? 100),
    guardStatistic: checkGuardStatistic(args.guardStatistic ?? 'geometric'),
  };
}

export abstract class NormalizationLayer extends tf.layers.Layer {
  protected readonly common: CommonOptions;
  protected gamma: LayerVariable | null = null;
  protected beta: LayerVariable | null = null;
  protected gainWeight: LayerVariable | null = null;
  private priorSource: (() => Rows) | null = null;
  private posteriorWanted = false;
  /** The posterior of the last training call, when kept (keepPosterior). */
  protected lastPosterior: Rows | null = null;

  constructor(args: NormalizationArgs) {
    const common = checkCommon(args);
    super(args);
    this.common = common;
    this.supportsMasking = true;
  }

  /** The channel count of a build's input shape: its last axis. */
  protected channelsOf(inputShape: tf.Shape | tf.Shape[]): number {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (shape.length < 2 || channels === null)
      throw rangeError('inputShape', `expected [batch, ...spatial, channels] with known channels, got [${shape.join(', ')}]`);
    return channels;
  }

  /** Adds gamma, beta and the gain (one per `gainColumns`): the weights both layers train. */
  protected addNormWeights(channels: number, gainColumns: number): void {
    const { center, scale, gain } = this.common;
    if (scale) this.gamma = this.addWeight('gamma', [channels], 'float32', tf.initializers.ones());
    if (center) this.beta = this.addWeight('beta', [channels], 'float32', tf.initializers.zeros());
    this.gainWeight = this.addWeight('gain', [gainColumns], 'float32', tf.initializers.constant({ value: gain }));
  }

  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = kwargs?.training ?? false;
    if (typeof training !== 'boolean') throw typeError('training', 'a boolean', training);
    const linked = training && this.priorSource !== null;
    const givesPosterior = training && this.posteriorWanted;
    // The posterior outlives the call (the next linked layer reads it in the same pass), so it
    // leaves the tidy scope with y and is freed with the training step's tensors.
    const [y, ...posterior] = tf.tidy(() => {
      const { y, posterior } = normalize(
        this.kernel(),
        {
          x,
          // The optimizer may step the gain out of [0, 1]; the op takes it clipped (zero gradient outside).
          gain: tf.clipByValue(this.gainWeight!.read(), 0, 1),
          gamma: this.gamma?.read() ?? null,
          beta: this.beta?.read() ?? null,
          prior: linked ? this.priorSource!() : null,
        },
        { training, eps: this.common.epsilon, guard: this.common.guard, guardStatistic: this.common.guardStatistic, ...this.opOptions() },
        givesPosterior,
        () => this.afterForward(training),
      );
      return posterior ? [y, posterior.mean, posterior.var] : [y];
    });
    this.lastPosterior = posterior.length === 2 ? { mean: posterior[0], var: posterior[1] } : null;
    return y;
  }

  /**
   * @internal Links the layer (linkModel): `source` computes each training call's prior from the
   * layers before it (null: none).
   */
  linkPrior(source: (() => Rows) | null): void {
    this.priorSource = source;
  }

  /** @internal Makes each training call keep its posterior for the next linked layer. */
  keepPosterior(): void {
    this.posteriorWanted = true;
  }

  getConfig(): tf.serialization.ConfigDict {
    const { epsilon, center, scale, gain, guard, guardStatistic } = this.common;
    return { epsilon, center, scale, gain, guard, guardStatistic, ...this.opConfig(), ...super.getConfig() };
  }

  /** The op the layer runs. */
  protected abstract kernel(): NormKernel;
  /** The op's options beyond the shared ones (KN: running estimates, ghost batch; GKN: groups). */
  protected abstract opOptions(): NormOptions;
  /** After the op ran (KN: its running estimates into the variables). */
  protected afterForward(_training: boolean): void {}
  /** The layer's own options, as its config. */
  protected abstract opConfig(): tf.serialization.ConfigDict;
}
