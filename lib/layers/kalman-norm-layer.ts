import { checkNumber, checkPositiveInteger } from '../errors';
import { Tensor } from '../tensor';
import { kalmanNorm, kalmanNormBackward } from '../ops/kalman-norm';
import { NormBackwardOptions, NormGradients, NormOptions, NormResult } from '../ops/normalization';
import { SavedNormalization } from '../ops/saved-state';
import { LayerOptions, NormalizationLayer } from './normalization-layer';

export interface KalmanNormLayerOptions extends LayerOptions {
  /** Samples per ghost batch; default: the whole batch. */
  virtualBatch?: number;
  /** Weight of each batch in the running estimates. Default 0.1. */
  momentum?: number;
}

/** A KN layer over C channels: gamma, beta and gain per channel, and running estimates. */
export class KalmanNorm extends NormalizationLayer {
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  private readonly virtualBatch: number | undefined;
  private readonly momentum: number;

  constructor(channels: number, options: KalmanNormLayerOptions = {}) {
    checkPositiveInteger('channels', channels);
    super(channels, channels, options);
    this.runningMean = Tensor.fromArray(new Float32Array(channels), [channels], { device: this.device });
    this.runningVar = Tensor.fromArray(new Float32Array(channels).fill(1), [channels], { device: this.device });
    this.virtualBatch = options.virtualBatch === undefined ? undefined : checkPositiveInteger('virtualBatch', options.virtualBatch);
    this.momentum = checkNumber('momentum', options.momentum ?? 0.1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  }

  protected run(x: Tensor, options: NormOptions): NormResult {
    return kalmanNorm(x, {
      ...options,
      virtualBatch: this.virtualBatch,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      momentum: this.momentum,
    });
  }

  protected runBackward(dy: Tensor, saved: SavedNormalization, options: NormBackwardOptions): NormGradients {
    return kalmanNormBackward(dy, saved, options);
  }

  protected stateTensors(): Record<string, Tensor> {
    return { ...super.stateTensors(), runningMean: this.runningMean, runningVar: this.runningVar };
  }
}
