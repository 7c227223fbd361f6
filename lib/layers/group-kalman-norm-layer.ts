import { checkCount, rangeError } from '../errors';
import { Tensor } from '../tensor';
import { groupKalmanNorm, groupKalmanNormBackward } from '../ops/group-kalman-norm';
import { NormBackwardOptions, NormGradients, NormOptions, NormResult } from '../ops/normalization';
import { SavedNormalization } from '../ops/saved-state';
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

  protected run(x: Tensor, options: NormOptions): NormResult {
    return groupKalmanNorm(x, { ...options, groups: this.groups });
  }

  protected runBackward(dy: Tensor, saved: SavedNormalization, options: NormBackwardOptions): NormGradients {
    return groupKalmanNormBackward(dy, saved, options);
  }
}
