import { checkCommunicator } from '../distributed/communicator';
import type { Communicator } from '../distributed/communicator';
import { checkCount, checkElements, checkPositiveInteger, rangeError } from '../errors';
import { checkMomentum } from '../ops/arguments';
import { Tensor } from '../tensor';
import { parseKalmanNormCall } from '../ops/kalman-norm';
import { NormCall } from '../ops/norm-call';
import { NormOptions } from '../ops/normalization';
import { LayerOptions, NormalizationLayer } from './normalization-layer';

export interface KalmanNormLayerOptions extends LayerOptions {
  /** Samples per ghost batch; default: the whole batch. */
  virtualBatch?: number;
  /** Weight of each batch in the running estimates. Default 0.1. */
  momentum?: number;
  /** Merge each channel's statistics over this group of processes in training (ops.kalmanNorm's `sync`; docs/DISTRIBUTED.md). */
  sync?: Communicator;
}

/** A KN layer over C channels: gamma, beta and gain per channel, and running estimates. */
export class KalmanNorm extends NormalizationLayer {
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  private readonly virtualBatch: number | undefined;
  private readonly momentum: number;
  private readonly sync: Communicator | undefined;

  constructor(channels: number, options: KalmanNormLayerOptions = {}) {
    checkCount('channels', channels);
    const virtualBatch = options?.virtualBatch === undefined ? undefined : checkPositiveInteger('virtualBatch', options.virtualBatch);
    const momentum = checkMomentum(options?.momentum ?? 0.1);
    const sync = options?.sync === undefined ? undefined : checkCommunicator('sync', options.sync);
    if (sync && virtualBatch !== undefined)
      throw rangeError('virtualBatch', "not with sync: each process's batch is its part of one global batch (ghost batches stay within a process)");
    super(channels, channels, options);
    this.virtualBatch = virtualBatch;
    this.momentum = momentum;
    this.sync = sync;
    this.runningMean = Tensor.fromArray(new Float32Array(channels), [channels], { device: this.device });
    this.runningVar = Tensor.fromArray(new Float32Array(channels).fill(1), [channels], { device: this.device });
  }

  protected opOptions(): object {
    return { virtualBatch: this.virtualBatch, runningMean: this.runningMean, runningVar: this.runningVar, momentum: this.momentum, sync: this.sync };
  }

  protected parse(x: Tensor, options: NormOptions): NormCall {
    return parseKalmanNormCall(x, options);
  }

  protected checkStateValues(name: string, values: Float32Array): void {
    if (name === 'runningVar') checkElements('state.runningVar', values, (v) => v >= 0, 'non-negative variances');
    super.checkStateValues(name, values);
  }

  protected stateTensors(): Record<string, Tensor> {
    return { ...super.stateTensors(), runningMean: this.runningMean, runningVar: this.runningVar };
  }
}
