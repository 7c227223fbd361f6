import { checkCount, rangeError } from '../errors';
import { Tensor } from '../tensor';
import { parseGroupKalmanNormCall } from '../ops/group-kalman-norm';
import { NormCall } from '../ops/norm-call';
import { NormOptions } from '../ops/normalization';
import { LayerOptions, NormalizationLayer } from './normalization-layer';

/** A GKN layer over C channels in G groups: gamma and beta per channel, gain per group. */
export class GroupKalmanNorm extends NormalizationLayer {
  readonly groups: number;

  constructor(channels: number, groups: number, options: LayerOptions = {}) {
    checkCount('channels', channels);
    checkCount('groups', groups);
    if (channels % groups !== 0) throw rangeError('groups', `must divide the channel count ${channels}, got ${groups}`);
    super(channels, groups, options);
    this.groups = groups;
  }

  protected opOptions(): object {
    return { groups: this.groups };
  }

  protected parse(x: Tensor, options: NormOptions): NormCall {
    return parseGroupKalmanNormCall(x, options);
  }
}
