// The two networks, built for one normalization method (methods.ts) with the same initialization
// (same seed; the normalization layers and input nodes draw no random numbers):
//   BN  - KalmanNorm without a prior, which is exactly batch normalization;
//   KN  - KalmanNorm whose priors come from the statistics graph: layer 1's from an input node
//         (running estimates of the images, or of the 3x3 patches the first convolution sees)
//         through the first weight, layer 2's from layer 1's posterior through relu (and, in the
//         convnet, the max pool) and the second weight; every weight in a link is tied, so the
//         statistics path's gradient is added into it;
//   GN  - GroupKalmanNorm without a prior, exactly group normalization;
//   GKN - GroupKalmanNorm, layer 2's prior linked from layer 1's posterior (its [samples, groups]
//         rows) through moments.identity with process noise; with an input node (ablation),
//         layer 1's prior is the input node through the first map, pooled into its groups
//         (moments.groups).
// Why GKN's link is the identity: normalized() needs per-channel columns and a GKN posterior has
// one column per group, so kalman-norm's relu/affine nodes do not apply to it. Both layers have
// the same number of groups, so each sample's group statistics in layer 1 are the prediction for
// its group statistics in layer 2 (a random-walk model across depth), the process noise says how
// far they may drift, and a fixed gain of 0.9 keeps mostly the sample's own statistics.
// Given a group of processes (data-parallel, --sync), every KN layer and input node merges its
// statistics over the group; GN and GKN need nothing, their statistics are each sample's own.
import {
  type Communicator,
  GroupKalmanNorm,
  InputStatistics,
  KalmanNorm,
  MomentNode,
  NormalizationLayer,
  TiedWeight,
  linkStack,
  moments,
} from 'kalman-norm';
import { CLASSES, IMAGE_SIZE, PIXELS } from './data';
import { MethodSpec } from './methods';
import { Conv2d } from './nn/conv2d';
import { Linear } from './nn/linear';
import { MaxPool2 } from './nn/max-pool';
import { Norm } from './nn/norm';
import { Observe } from './nn/observe';
import { Module, Parameter } from './nn/parameter';
import { Flatten, Relu } from './nn/relu';
import { makeRandom } from './random';

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
/**
 * Weight of each batch in an input node's running estimates. The images' distribution does not
 * change, so a slow average (about 100 batches) keeps the micro-batch noise out; the activations
 * that a carried covariance watches change with the weights and need a faster one.
 */
const INPUT_MOMENTUM = 0.01;
const CARRIED_MOMENTUM = 0.05;

export interface Network {
  modules: Module[];
  parameters: Parameter[];
  /** The shape of one sample, [784] or [1, 28, 28]. */
  inputShape: number[];
}

/** `sync` null: one process. */
type Sync = Communicator | null;

function norm(method: MethodSpec, channels: number, groups: number, sync: Sync): NormalizationLayer {
  if (method.family === 'gn') return new GroupKalmanNorm(channels, groups, method.chain || method.input ? { gain: GKN_GAIN } : {});
  return new KalmanNorm(channels, { guardStatistic: method.guardStatistic, ...(sync && { sync }) });
}

/** A first map as a link needs it: a linear weight, or a 3x3 'same' convolution of an image. */
type FirstMap = { kind: 'linear'; weight: Parameter; features: number[] } | { kind: 'conv'; weight: Parameter; image: number[] };

function through(input: MomentNode, map: FirstMap): MomentNode {
  const weight: TiedWeight = map.weight.tied();
  return map.kind === 'conv' ? moments.conv(input, weight) : moments.affine(input, weight);
}

/** Running estimates of the input of `map` (KN-SPEC 3a), or null when the method has none. */
function inputStatistics(covariance: MethodSpec['input'], map: FirstMap, momentum: number, sync: Sync): InputStatistics | null {
  if (covariance === null) return null;
  // A rank at or above the number of features is the full covariance (the convnet's 3x3 patches).
  const features = map.kind === 'conv' ? map.image[0] * 9 : map.features.reduce((a, b) => a * b, 1);
  if (typeof covariance === 'object' && covariance.rank >= features) covariance = 'full';
  const options = { covariance, momentum, ...(sync && { sync }) };
  return map.kind === 'conv'
    ? new InputStatistics(map.image, { ...options, patch: { kernel: 3, padding: 1 } })
    : new InputStatistics(map.features, options);
}

/** What links add to a model: layer 1's observer (before the first map), layer 2's (before the second). */
interface Links {
  observeFirst: Observe | null;
  observeSecond: Observe | null;
  /** Whether each layer has a prior, so its gain is learned. GKN's is not (see link()). */
  learnGain: [boolean, boolean];
}

/**
 * Links the two layers' priors for `method`. GKN's gain is not learned: the identity link's
 * prediction is off by the change of scale between the layers, which makes the gain's gradient
 * (it grows with s2 - u) large enough to throw the gain across [0, 1] from one step to the next,
 * and the convnet's GKN run then collapsed to chance (KN_GKN_LEARN_GAIN=1 brings it back).
 */
function link(method: MethodSpec, layers: [NormalizationLayer, NormalizationLayer], first: FirstMap, second: FirstMap, poolBetween: boolean, sync: Sync): Links {
  const [n1, n2] = layers;
  const links: Links = { observeFirst: null, observeSecond: null, learnGain: [false, false] };
  const input = inputStatistics(method.input, first, INPUT_MOMENTUM, sync);
  links.observeFirst = input && new Observe(input);
  if (n1 instanceof GroupKalmanNorm) {
    // The input node's per-channel moments through the first map, pooled into layer 1's groups.
    if (input) n1.linkPrior(moments.groups(through(moments.input(input), first), n1.groups));
    if (method.chain) n2.linkPrior(moments.identity(moments.posterior(n1), GKN_PROCESS_NOISE));
    const learn = process.env.KN_GKN_LEARN_GAIN === '1';
    links.learnGain = [input !== null && learn, method.chain && learn];
    return links;
  }
  links.learnGain = [input !== null, method.chain || method.carried];
  if (method.chain) {
    const pool = poolBetween && method.pooling ? { kind: 'max' as const, taps: 4 } : null;
    linkStack({ layers, maps: [first.weight.tied(), second.weight.tied()], kind: first.kind, input: input ?? undefined, pools: [pool] });
  } else if (input) {
    n1.linkPrior(through(moments.input(input), first));
  }
  if (method.carried) {
    const carried = inputStatistics('full', second, CARRIED_MOMENTUM, sync)!;
    n2.linkPrior(through(moments.input(carried), second));
    links.observeSecond = new Observe(carried);
  }
  return links;
}

function network(modules: (Module | null)[], inputShape: number[]): Network {
  const present = modules.filter((m): m is Module => m !== null);
  return { modules: present, parameters: present.flatMap((m) => m.parameters), inputShape };
}

/** 784 - 128 - norm - relu - 128 - norm - relu - 10; 8 groups of 16 for GN / GKN. */
export function buildMlp(method: MethodSpec, seed: number, { hidden = 128, groups = 8, sync = null }: { hidden?: number; groups?: number; sync?: Sync } = {}): Network {
  const normal = makeRandom(seed).normal;
  const linear1 = new Linear(PIXELS, hidden, normal, false);
  const linear2 = new Linear(hidden, hidden, normal, false);
  const head = new Linear(hidden, CLASSES, normal, true);
  const layers: [NormalizationLayer, NormalizationLayer] = [norm(method, hidden, groups, sync), norm(method, hidden, groups, sync)];
  const links = link(
    method, layers,
    { kind: 'linear', weight: linear1.weight, features: [PIXELS] },
    { kind: 'linear', weight: linear2.weight, features: [hidden] },
    false,
    sync,
  );
  return network(
    [
      links.observeFirst, linear1, new Norm(layers[0], links.learnGain[0]), new Relu(),
      links.observeSecond, linear2, new Norm(layers[1], links.learnGain[1]), new Relu(), head,
    ],
    [PIXELS],
  );
}

/** conv3x3(1->8) - norm - relu - pool - conv3x3(8->16) - norm - relu - pool - linear(784->10); 4 groups. */
export function buildConvnet(method: MethodSpec, seed: number, { groups = 4, sync = null }: { groups?: number; sync?: Sync } = {}): Network {
  const normal = makeRandom(seed).normal;
  const conv1 = new Conv2d(1, 8, 3, normal);
  const conv2 = new Conv2d(8, 16, 3, normal);
  const head = new Linear(16 * (IMAGE_SIZE / 4) ** 2, CLASSES, normal, true);
  const layers: [NormalizationLayer, NormalizationLayer] = [norm(method, 8, groups, sync), norm(method, 16, groups, sync)];
  const links = link(
    method, layers,
    { kind: 'conv', weight: conv1.kernel, image: [1, IMAGE_SIZE, IMAGE_SIZE] },
    { kind: 'conv', weight: conv2.kernel, image: [8, IMAGE_SIZE / 2, IMAGE_SIZE / 2] },
    true,
    sync,
  );
  return network(
    [
      links.observeFirst, conv1, new Norm(layers[0], links.learnGain[0]), new Relu(), new MaxPool2(),
      links.observeSecond, conv2, new Norm(layers[1], links.learnGain[1]), new Relu(), new MaxPool2(), new Flatten(), head,
    ],
    [1, IMAGE_SIZE, IMAGE_SIZE],
  );
}

export function buildModel(name: ModelName, method: MethodSpec, seed: number, sync: Sync = null): Network {
  return name === 'mlp' ? buildMlp(method, seed, { sync }) : buildConvnet(method, seed, { sync });
}
