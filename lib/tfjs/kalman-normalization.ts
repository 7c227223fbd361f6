// KalmanNormalization: this package's KN as a tf.layers layer (channels last), with gamma, beta,
// a gain per channel and the running estimates tfjs saves as moving_mean and moving_variance.
import * as tf from '@tensorflow/tfjs';
import { checkMomentum } from '../ops/arguments';
import { checkPositiveInteger } from '../errors';
import { kalmanNorm, kalmanNormBackward, KalmanNormOptions } from '../ops/kalman-norm';
import { NormalizationArgs, NormalizationLayer } from './normalization-layer';
import { Rows, normalizedRows } from './moment-rows';
import { NormKernel } from './normalize';

type LayerVariable = ReturnType<tf.layers.Layer['addWeight']>;

/** KalmanNormalization's options: the shared ones, the running estimates' momentum and the ghost batch. */
export interface KalmanNormalizationArgs extends NormalizationArgs {
  /**
   * The weight of the old value in the running estimates, as in tf.layers.batchNormalization
   * (this package's ops take 1 - momentum). Default 0.99.
   */
  momentum?: number;
  /** Samples per ghost batch; default the whole batch. */
  virtualBatch?: number;
}

const KALMAN_NORM: NormKernel = { forward: kalmanNorm, backward: kalmanNormBackward };

/**
 * KN as a tf.layers layer over the last axis: statistics per (ghost batch, channel), gamma, beta
 * and a learned gain per channel, running estimates saved as moving_mean and moving_variance
 * (docs/TFJS.md). linkModel gives it a prior.
 */
export class KalmanNormalization extends NormalizationLayer {
  /** The name tf.serialization knows the class by. */
  static className = 'KalmanNormalization';
  private readonly momentum: number;
  private readonly virtualBatch: number | undefined;
  private movingMean: LayerVariable | null = null;
  private movingVariance: LayerVariable | null = null;
  /** The running estimates handed to the current forward. */
  private running: { mean: Float32Array; var: Float32Array } | null = null;

  constructor(args: KalmanNormalizationArgs = {}) {
    super(args);
    this.momentum = checkMomentum(args.momentum ?? 0.99);
    this.virtualBatch = args.virtualBatch === undefined ? undefined : checkPositiveInteger('virtualBatch', args.virtualBatch);
  }

  build(inputShape: tf.Shape | tf.Shape[]): void {
    const channels = this.channelsOf(inputShape);
    this.addNormWeights(channels, channels);
    this.movingMean = this.addWeight('moving_mean', [channels], 'float32', tf.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [channels], 'float32', tf.initializers.ones(), undefined, false);
    this.built = true;
  }

  /**
   * @internal The distribution of this layer's output in the current training pass,
   * N(beta, gamma^2 var / (var + eps)) over its posterior (keepPosterior), for the next linked layer.
   */
  outputRows(): Rows {
    if (this.lastPosterior === null || this.lastPosterior.mean.isDisposed)
      throw new Error(`${this.name}: a linked layer after it needs its training call in the same pass first`);
    return normalizedRows(this.lastPosterior, this.common.epsilon, this.gamma?.read() ?? null, this.beta?.read() ?? null);
  }

  protected kernel(): NormKernel {
    return KALMAN_NORM;
  }

  protected opOptions(): KalmanNormOptions {
    // Copies (C values each): a training call updates them in place, and on tfjs's cpu backend
    // dataSync() is the variable's own storage.
    this.running = {
      mean: (this.movingMean!.read().dataSync() as Float32Array).slice(),
      var: (this.movingVariance!.read().dataSync() as Float32Array).slice(),
    };
    return { virtualBatch: this.virtualBatch, runningMean: this.running.mean, runningVar: this.running.var, momentum: 1 - this.momentum };
  }

  /** A training forward updated the copies it was given: they become the variables' values. */
  protected afterForward(training: boolean): void {
    if (!training) return;
    this.movingMean!.write(tf.tensor1d(this.running!.mean));
    this.movingVariance!.write(tf.tensor1d(this.running!.var));
  }

  protected opConfig(): tf.serialization.ConfigDict {
    return { momentum: this.momentum, ...(this.virtualBatch === undefined ? {} : { virtualBatch: this.virtualBatch }) };
  }
}
