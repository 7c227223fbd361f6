// GroupKalmanNormalization: this package's GKN as a tf.layers layer (channels last): gamma and
// beta per channel, a gain per group. Each sample has its own statistics, so training and
// inference compute the same.
import * as tf from '@tensorflow/tfjs';
import { checkCount, rangeError } from '../errors';
import { GroupKalmanNormOptions, groupKalmanNorm, groupKalmanNormBackward } from '../ops/group-kalman-norm';
import { NormalizationArgs, NormalizationLayer } from './normalization-layer';
import { NormKernel } from './normalize';

/** GroupKalmanNormalization's options: the shared ones and the group count. */
export interface GroupKalmanNormalizationArgs extends NormalizationArgs {
  /** The number of channel groups; must divide the channel count. */
  groups: number;
}

const GROUP_KALMAN_NORM: NormKernel = {
  forward: (x, options) => groupKalmanNorm(x, options as GroupKalmanNormOptions),
  backward: groupKalmanNormBackward,
};

/**
 * GKN as a tf.layers layer over the last axis: statistics per (sample, group), gamma and beta per
 * channel, a learned gain per group (docs/TFJS.md).
 */
export class GroupKalmanNormalization extends NormalizationLayer {
  /** The name tf.serialization knows the class by. */
  static className = 'GroupKalmanNormalization';
  private readonly groups: number;

  constructor(args: GroupKalmanNormalizationArgs) {
    super(args);
    this.groups = checkCount('groups', args.groups);
  }

  build(inputShape: tf.Shape | tf.Shape[]): void {
    const channels = this.channelsOf(inputShape);
    if (channels % this.groups !== 0) throw rangeError('groups', `must divide the channel count ${channels}, got ${this.groups}`);
    this.addNormWeights(channels, this.groups);
    this.built = true;
  }

  protected kernel(): NormKernel {
    return GROUP_KALMAN_NORM;
  }

  protected opOptions(): GroupKalmanNormOptions {
    return { groups: this.groups };
  }

  protected opConfig(): tf.serialization.ConfigDict {
    return { groups: this.groups };
  }
}
