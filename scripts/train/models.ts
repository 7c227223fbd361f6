// The two networks, each built four ways with the same initialization (same seed, and the
// normalization layers draw no random numbers):
//   BN  - KalmanNorm without a prior, which is exactly batch normalization;
//   KN  - KalmanNorm, the second layer's prior linked from the first through linkFeedForward
//         (relu, then the next linear map or convolution, whose weight is tied so the statistics
//         path's gradient is added into it);
//   GN  - GroupKalmanNorm without a prior, exactly group normalization;
//   GKN - GroupKalmanNorm, the second layer's prior linked from the first layer's posterior
//         (its [samples, groups] rows) through moments.identity with process noise.
// Why GKN's link is the identity: normalized() needs per-channel columns and a GKN posterior has
// one column per group, so the package's relu/affine nodes do not apply to it. Both layers have
// the same number of groups, so each sample's group statistics in layer 1 are the prediction for
// its group statistics in layer 2 (a random-walk model across depth), the process noise says how
// far they may drift, and a fixed gain of 0.9 keeps mostly the sample's own statistics.
import { GroupKalmanNorm, KalmanNorm, NormalizationLayer, linkFeedForward, moments } from '../../lib';
import { CLASSES, IMAGE_SIZE, PIXELS } from './data';
import { Conv2d } from './nn/conv2d';
import { Linear } from './nn/linear';
import { MaxPool2 } from './nn/max-pool';
import { Norm } from './nn/norm';
import { Module, Parameter } from './nn/parameter';
import { Flatten, Relu } from './nn/relu';
import { makeRandom } from './random';

export const METHODS = ['BN', 'KN', 'GN', 'GKN'] as const;
export type Method = (typeof METHODS)[number];
export const MODELS = ['mlp', 'convnet'] as const;
export type ModelName = (typeof MODELS)[number];

/** Process noise of GKN's identity link, in units of the (standardized) layer-1 variance. */
const GKN_PROCESS_NOISE = 0.5;
/**
 * GKN's initial gain (the weight of each sample's own group statistics). KN keeps the layers'
 * default 0.1 (the official micro-batch setting: a batch of two is a poor observation), but a GKN
 * observation pools C/G x H x W values of one sample and is not noisy, while the identity link is
 * a crude prediction; with 0.1 the convnet's second layer normalized with layer 1's statistics and
 * never trained (chance accuracy); 0.5 trained, 0.9 better. Overridable with KN_GKN_GAIN.
 */
const GKN_GAIN = Number(process.env.KN_GKN_GAIN ?? 0.9);

export interface Network {
  modules: Module[];
  parameters: Parameter[];
  /** The shape of one sample, [784] or [1, 28, 28]. */
  inputShape: number[];
}

function norm(method: Method, channels: number, groups: number): NormalizationLayer {
  return method === 'BN' || method === 'KN' ? new KalmanNorm(channels) : new GroupKalmanNorm(channels, groups, method === 'GKN' ? { gain: GKN_GAIN } : {});
}

/**
 * Links layer 2's prior from layer 1 for KN and GKN (see the top of this file); returns whether
 * layer 2's gain is learned. GKN's is not: the identity link's prediction is off by the change
 * of scale between the layers, which makes the gain's gradient (it grows with s2 - u) large
 * enough to throw the gain across [0, 1] from one step to the next, and the convnet's GKN run
 * then collapsed to chance (KN_GKN_LEARN_GAIN=1 brings the learning back).
 */
function link(method: Method, first: NormalizationLayer, second: NormalizationLayer, weight: Parameter, kind: 'linear' | 'conv'): boolean {
  if (method === 'KN') {
    linkFeedForward([first, second], [weight.tied()], kind);
    return true;
  }
  if (method === 'GKN') {
    second.linkPrior(moments.identity(moments.posterior(first), GKN_PROCESS_NOISE));
    return process.env.KN_GKN_LEARN_GAIN === '1';
  }
  return false;
}

function network(modules: Module[], inputShape: number[]): Network {
  return { modules, parameters: modules.flatMap((m) => m.parameters), inputShape };
}

/** 784 - 128 - norm - relu - 128 - norm - relu - 10; 8 groups of 16 for GN / GKN. */
export function buildMlp(method: Method, seed: number, hidden = 128, groups = 8): Network {
  const normal = makeRandom(seed).normal;
  const linear1 = new Linear(PIXELS, hidden, normal, false);
  const linear2 = new Linear(hidden, hidden, normal, false);
  const head = new Linear(hidden, CLASSES, normal, true);
  const [n1, n2] = [norm(method, hidden, groups), norm(method, hidden, groups)];
  const linked = link(method, n1, n2, linear2.weight, 'linear');
  return network(
    [linear1, new Norm(n1, false), new Relu(), linear2, new Norm(n2, linked), new Relu(), head],
    [PIXELS],
  );
}

/** conv3x3(1->8) - norm - relu - pool - conv3x3(8->16) - norm - relu - pool - linear(784->10); 4 groups. */
export function buildConvnet(method: Method, seed: number, groups = 4): Network {
  const normal = makeRandom(seed).normal;
  const conv1 = new Conv2d(1, 8, 3, normal);
  const conv2 = new Conv2d(8, 16, 3, normal);
  const head = new Linear(16 * (IMAGE_SIZE / 4) ** 2, CLASSES, normal, true);
  const [n1, n2] = [norm(method, 8, groups), norm(method, 16, groups)];
  // KN's link models relu and conv2 in closed form; the max pool between them is not modeled
  // (the link ignores it), which the learned gain can compensate for.
  const linked = link(method, n1, n2, conv2.kernel, 'conv');
  return network(
    [conv1, new Norm(n1, false), new Relu(), new MaxPool2(), conv2, new Norm(n2, linked), new Relu(), new MaxPool2(), new Flatten(), head],
    [1, IMAGE_SIZE, IMAGE_SIZE],
  );
}

export function buildModel(name: ModelName, method: Method, seed: number): Network {
  return name === 'mlp' ? buildMlp(method, seed) : buildConvnet(method, seed);
}
