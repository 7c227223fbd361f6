// Builders for the statistics graph between layers (KN-SPEC section 3): the nodes, and links for a
// feed-forward stack and for a ResNet basic block in the official implementation's configuration:
// each KN layer's prior is the previous layer's posterior carried through its normalization,
// relu and the next linear map or convolution (closed-form moments instead of the official
// sampling). Gains default to 0.1 and guards to 100 in the layers themselves (the official
// micro-batch settings).
import {
  AddNode,
  AffineNode,
  AvgPoolNode,
  ConvNode,
  GroupNode,
  IdentityNode,
  MaxPoolNode,
  InputNode,
  MomentNode,
  NormalizedNode,
  NormalizedSource,
  PosteriorNode,
  ReluNode,
  TiedWeight,
} from './moment-graph';
import { InputStatistics } from './input-statistics';
import { NormalizationLayer } from './normalization-layer';
import { describe, rangeError, typeError } from '../errors';
import { checkTensor } from '../ops/arguments';
import { PoolOptions } from '../ops/transitions';

/** Node constructors, for graphs the helpers below do not cover. */
export const moments = {
  /** The start of a chain: an input's running mean and covariance (one row), for the first affine or conv. */
  input: (statistics: InputStatistics) => {
    if (!(statistics instanceof InputStatistics)) throw typeError('statistics', 'an InputStatistics', statistics);
    return new InputNode(statistics);
  },
  posterior: (layer: NormalizedSource) => new PosteriorNode(layer),
  /** The distribution of the layer's normalized output, gamma xhat + beta. */
  normalized: (layer: NormalizedSource) => new NormalizedNode(layer),
  relu: (input: MomentNode) => new ReluNode(input),
  /**
   * A pool over `taps` activations (4 for 2x2) with pairwise correlation `correlation` in [0, 1]
   * (default 0.5): avgPool keeps the mean and scales the variance, maxPool takes Clark's moments
   * of the max. For conv - norm - relu - maxPool, relu(maxPool(normalized)) equals
   * maxPool(relu(normalized)) exactly and its moments are the more accurate (docs/LINKED-LAYERS.md).
   */
  avgPool: (input: MomentNode, options: PoolOptions) => new AvgPoolNode(input, options),
  maxPool: (input: MomentNode, options: PoolOptions) => new MaxPoolNode(input, options),
  /**
   * Per-channel rows [R, C] to the moments of a GKN unit over `groups` groups of consecutive
   * channels, rows [R, G]: m_g = mean_c m_c, u_g = mean_c u_c + mean_c (m_c - m_g)^2. A GKN
   * layer's prior from any per-channel chain: gkn.linkPrior(moments.groups(moments.affine(...), G)).
   */
  groups: (input: MomentNode, groups: number) => new GroupNode(input, groups),
  /** A fully connected map with weight [Cout, Cin]; its gradient accumulates into weight.grad. */
  affine: (input: MomentNode, weight: TiedWeight, noise?: number) => new AffineNode(input, weight, noise),
  /** A convolution with kernel [Cout, Cin, kh, kw]; its gradient accumulates into kernel.grad. */
  conv: (input: MomentNode, kernel: TiedWeight, noise?: number) => new ConvNode(input, kernel, noise),
  /** A residual join; b may have fewer channels (zero-padded on both sides, ResNet option A). */
  add: (a: MomentNode, b: MomentNode) => new AddNode(a, b),
  identity: (input: MomentNode, noise: number) => new IdentityNode(input, noise),
};

/**
 * A tied weight { value, grad? }: value a tensor, grad (where its gradient accumulates) one of the
 * same size on the same device, so that a mismatch is reported when linking, not at backward.
 */
function checkTiedWeight(name: string, weight: unknown): TiedWeight {
  if (typeof weight !== 'object' || weight === null) throw typeError(name, 'a tied weight { value, grad? }', weight);
  const { value, grad } = weight as Partial<TiedWeight>;
  const tensor = checkTensor(`${name}.value`, value);
  if (grad === undefined) return weight as TiedWeight;
  checkTensor(`${name}.grad`, grad);
  if (grad.size !== tensor.size || grad.device !== tensor.device)
    throw rangeError(`${name}.grad`, `expected ${tensor.size} values on '${tensor.device}' like ${name}.value [${tensor.shape.join(', ')}], got [${grad.shape.join(', ')}] on '${grad.device}'`);
  return weight as TiedWeight;
}

/** The distribution of relu(layer output): what the next linear map or convolution sees. */
export function activationOf(layer: NormalizationLayer): MomentNode {
  return new ReluNode(new NormalizedNode(layer));
}

/**
 * A feed-forward stack: layers[k] (k >= 1) takes its prior from layers[k - 1] through relu and the
 * weight between them: maps[k - 1], a linear weight [Cout, Cin] or (kind 'conv') a kernel
 * [Cout, Cin, kh, kw], tied to the network's own so its gradient flows there.
 */
export function linkFeedForward(layers: NormalizationLayer[], maps: TiedWeight[], kind: 'linear' | 'conv' = 'linear'): void {
  if (!Array.isArray(layers) || layers.some((layer) => !(layer instanceof NormalizationLayer)))
    throw typeError('layers', 'an array of KalmanNorm / GroupKalmanNorm layers', layers);
  if (!Array.isArray(maps)) throw typeError('maps', 'an array of tied weights { value, grad? }', maps);
  if (maps.length !== layers.length - 1)
    throw rangeError('maps', `expected ${layers.length - 1} weights (one between each pair of layers), got ${maps.length}`);
  maps.forEach((map, k) => checkTiedWeight(`maps[${k}]`, map));
  if (kind !== 'linear' && kind !== 'conv') throw rangeError('kind', `expected 'linear' or 'conv', got ${describe(kind)}`);
  for (let k = 1; k < layers.length; ++k) {
    const input = activationOf(layers[k - 1]);
    layers[k].linkPrior(kind === 'conv' ? new ConvNode(input, maps[k - 1]) : new AffineNode(input, maps[k - 1]));
  }
}

export interface BasicBlock {
  /** The distribution of the block's input (activationOf(stem) or the previous block's output). */
  input: MomentNode;
  conv1: TiedWeight;
  norm1: NormalizationLayer;
  conv2: TiedWeight;
  norm2: NormalizationLayer;
}

/**
 * A ResNet basic block, conv1 - norm1 - relu - conv2 - norm2 (+ shortcut) - relu: norm1's prior
 * comes from the block input through conv1, norm2's from norm1 through relu and conv2. Returns the
 * distribution of the block's output, relu(norm2 output + input), the next block's input (channels
 * that grow are zero-padded, the option-A shortcut).
 */
export function linkResNetBasicBlock(block: BasicBlock): MomentNode {
  if (typeof block !== 'object' || block === null) throw typeError('block', 'an object { input, conv1, norm1, conv2, norm2 }', block);
  checkTiedWeight('block.conv1', block.conv1);
  checkTiedWeight('block.conv2', block.conv2);
  block.norm1.linkPrior(new ConvNode(block.input, block.conv1));
  block.norm2.linkPrior(new ConvNode(activationOf(block.norm1), block.conv2));
  return new ReluNode(new AddNode(new NormalizedNode(block.norm2), block.input));
}

/** A pool between two layers of a stack: 'max' or 'avg' over `taps` activations (PoolOptions). */
export interface StackPool extends PoolOptions {
  kind: 'max' | 'avg';
}

export interface Stack {
  /** The normalization layers, in order. */
  layers: NormalizationLayer[];
  /** maps[k]: the weight in front of layers[k] ([Cout, Cin] linear, or [Cout, Cin, kh, kw] conv), tied to the network's own. */
  maps: TiedWeight[];
  /** 'linear' (default) or 'conv': what the maps are. */
  kind?: 'linear' | 'conv';
  /**
   * Running estimates of the network's input (for a conv, over the first map's patches): layers[0]
   * then takes its prior from them through maps[0] (KN-SPEC 3a). Without it layers[0] has no prior.
   */
  input?: InputStatistics;
  /** pools[k]: the pool between layers[k]'s relu and maps[k + 1], or null for none. */
  pools?: (StackPool | null)[];
}

/** The distribution of what maps[k + 1] sees: relu of layers[k]'s output, pooled when asked. */
function stackActivation(layer: NormalizationLayer, pool: StackPool | null, name: string): MomentNode {
  if (pool === null) return activationOf(layer);
  if (typeof pool !== 'object') throw typeError(name, "null or { kind: 'max' | 'avg', taps, correlation? }", pool);
  const { kind, ...options } = pool;
  if (kind !== 'max' && kind !== 'avg') throw rangeError(`${name}.kind`, `expected 'max' or 'avg', got ${String(kind)}`);
  try {
    // relu(maxPool(z)) = maxPool(relu(z)), and Clark's moments are the more accurate on z; an
    // average does not commute with relu and pools the rectified moments.
    if (kind === 'max') return new ReluNode(new MaxPoolNode(new NormalizedNode(layer), options));
    return new AvgPoolNode(activationOf(layer), options);
  } catch (error) {
    // The pool's own checks name `taps` or `correlation`: say which entry of the stack it was.
    if (error instanceof TypeError || error instanceof RangeError) error.message = `${name}.${error.message}`;
    throw error;
  }
}

/**
 * Links a whole feed-forward stack in one call: input -> maps[0] -> layers[0] -> relu [-> pool]
 * -> maps[1] -> layers[1] -> ... Each layer's prior is the previous layer's posterior carried
 * through its normalization, relu, the pool and the next map; the first layer's comes from the
 * input node when `input` is given. Every gradient of the statistics path flows into the tied maps.
 */
export function linkStack(stack: Stack): void {
  if (typeof stack !== 'object' || stack === null) throw typeError('stack', 'an object { layers, maps, kind?, input?, pools? }', stack);
  const { layers, maps, kind = 'linear', input, pools } = stack;
  if (!Array.isArray(layers) || layers.length === 0 || layers.some((layer) => !(layer instanceof NormalizationLayer)))
    throw typeError('stack.layers', 'a non-empty array of KalmanNorm / GroupKalmanNorm layers', layers);
  if (!Array.isArray(maps)) throw typeError('stack.maps', 'an array of tied weights { value, grad? }', maps);
  if (maps.length !== layers.length)
    throw rangeError('stack.maps', `expected ${layers.length} weights (one in front of each layer), got ${maps.length}`);
  maps.forEach((map, k) => checkTiedWeight(`stack.maps[${k}]`, map));
  if (kind !== 'linear' && kind !== 'conv') throw rangeError('stack.kind', `expected 'linear' or 'conv', got ${String(kind)}`);
  if (input !== undefined && !(input instanceof InputStatistics)) throw typeError('stack.input', 'an InputStatistics', input);
  if (pools !== undefined && (!Array.isArray(pools) || pools.length !== layers.length - 1))
    throw rangeError('stack.pools', `expected ${layers.length - 1} entries (null or a pool between each pair of layers), got ${Array.isArray(pools) ? pools.length : pools}`);
  const through = (node: MomentNode, k: number) => (kind === 'conv' ? new ConvNode(node, maps[k]) : new AffineNode(node, maps[k]));
  // Build every node first, so a bad entry throws before any layer is linked.
  const priors: (MomentNode | null)[] = layers.map((_, k) => {
    if (k === 0) return input ? through(new InputNode(input), 0) : null;
    return through(stackActivation(layers[k - 1], pools?.[k - 1] ?? null, `stack.pools[${k - 1}]`), k);
  });
  layers.forEach((layer, k) => layer.linkPrior(priors[k]));
}
