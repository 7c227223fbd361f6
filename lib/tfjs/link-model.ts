// linkModel: KN's statistics across layers (KN-SPEC section 3, docs/LINKED-LAYERS.md) inside a
// tfjs model. Each KalmanNormalization layer that follows another through relu, pools and one
// dense or conv2d layer takes its prior from the earlier layer's posterior, carried through its
// normalization, the relu, the pool and that layer's own kernel and bias with this package's
// transitions; the prior's gradient flows into the kernel, the bias and the earlier layer. A KN
// layer right after the model's first layer, a dense one, takes its prior from an input node:
// running estimates of the model's input through that layer's kernel.
import * as tf from '@tensorflow/tfjs';
import { checkBoolean, checkKnownKeys, rangeError, typeError } from '../errors';
import { InputStatistics } from '../layers/input-statistics';
import { Tensor } from '../tensor';
import { hostValues } from './channels-last';
import { KalmanNormalization } from './kalman-normalization';
import { Rows, convRows, denseRows, inputRows, poolRows, reluRows } from './moment-rows';

/**
 * The input node's weight of each new batch (the main job's: the input's distribution does not
 * change, and a slow average keeps the micro-batch noise out).
 */
const INPUT_MOMENTUM = 0.01;

/** linkModel's options. */
export interface LinkOptions {
  /** Give the KN layer right after a first dense layer a prior from an input node. Default true. */
  input?: boolean;
}

type LayerVariable = ReturnType<tf.layers.Layer['addWeight']>;

/** What lies between two linked layers, before the map. */
type Between = { kind: 'relu' } | { kind: 'max' | 'avg'; taps: number };

/** A dense or conv2d layer without an activation: the map in front of a linked layer. */
interface Mapping {
  kind: 'dense' | 'conv';
  layer: tf.layers.Layer;
}

const config = (layer: tf.layers.Layer) => layer.getConfig() as Record<string, unknown>;

/** relu, a pool, or null for a layer a link cannot pass. */
function betweenOf(layer: tf.layers.Layer): Between | null {
  const name = layer.getClassName();
  if ((name === 'ReLU' && config(layer).maxValue == null) || (name === 'Activation' && config(layer).activation === 'relu')) return { kind: 'relu' };
  if (name === 'MaxPooling2D' || name === 'AveragePooling2D') {
    const [height, width] = config(layer).poolSize as [number, number];
    return { kind: name === 'MaxPooling2D' ? 'max' : 'avg', taps: height * width };
  }
  return null;
}

function mapOf(layer: tf.layers.Layer): Mapping | null {
  const name = layer.getClassName();
  if ((name !== 'Dense' && name !== 'Conv2D') || config(layer).activation !== 'linear') return null;
  return { kind: name === 'Dense' ? 'dense' : 'conv', layer };
}

/** The map's weight named `name` ('kernel' or 'bias'), or null when it has none. */
function weightOf(map: Mapping, name: string): tf.Tensor | null {
  const weight = map.layer.trainableWeights.find((variable: LayerVariable) => variable.originalName.endsWith(`/${name}`));
  return weight?.read() ?? null;
}

/** Whether `layer` is called once, on exactly the output of `previous`: a link in a chain. */
function follows(layer: tf.layers.Layer, previous: tf.layers.Layer | undefined): boolean {
  const nodes = layer.inboundNodes;
  return nodes.length === 1 && nodes[0].inboundLayers.length === 1 && nodes[0].inboundLayers[0] === previous;
}

/** The prior of the layer after `map`: the earlier layer's output rows through `between` and the map. */
function carried(source: KalmanNormalization, between: Between[], map: Mapping): Rows {
  let rows = source.outputRows();
  between.forEach((step, i) => {
    // relu(maxPool(z)) = maxPool(relu(z)), and Clark's moments are the more accurate on z: a max
    // pool right after the relu is taken first (docs/LINKED-LAYERS.md). An average stays after it.
    if (step.kind === 'relu' && between[i + 1]?.kind === 'max') return;
    if (step.kind === 'max' && between[i - 1]?.kind === 'relu') rows = reluRows(poolRows(rows, 'max', { taps: step.taps }));
    else rows = step.kind === 'relu' ? reluRows(rows) : poolRows(rows, step.kind, { taps: step.taps });
  });
  const through = map.kind === 'dense' ? denseRows : convRows;
  return through(rows, weightOf(map, 'kernel')!, weightOf(map, 'bias'));
}

/**
 * An input node for the KN layer after the model's first layer, when that is a dense layer without
 * an activation: running estimates of its input (diagonal covariance), which the dense layer
 * observes in each training call (a tfjs call hook), carried through its kernel and bias.
 */
function linkInput(first: Mapping, layer: KalmanNormalization): void {
  const kernel = weightOf(first, 'kernel');
  if (!kernel) throw rangeError('model', `build it before linking (give its first layer an inputShape)`);
  const statistics = new InputStatistics([kernel.shape[0]], { covariance: 'diagonal', momentum: INPUT_MOMENTUM });
  first.layer.setCallHook((inputs, kwargs) => {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (kwargs.training === true) statistics.observe(Tensor.fromArray(hostValues('x', x), x.shape));
  });
  layer.linkPrior(() => inputRows(statistics, weightOf(first, 'kernel')!, weightOf(first, 'bias')));
}

/**
 * Links the KalmanNormalization layers of `model` (tf.sequential() or tf.model()): each one that
 * follows another through relu (a ReLU layer or an Activation('relu')), max or average pools and
 * one dense or conv2d layer without an activation, each called once on the one before, takes its
 * prior, in every training call, from the earlier one; with `input` (the default), a KN layer right
 * after a first dense layer on the model's input takes it from an input node (see the file
 * header). Any other layer in between, or a branch, ends a chain. Returns the layers it linked.
 * The links and the input node's estimates are not saved with the model: call linkModel again
 * after tf.loadLayersModel.
 */
export function linkModel(model: tf.LayersModel, options: LinkOptions = {}): KalmanNormalization[] {
  if (!(model instanceof tf.LayersModel)) throw typeError('model', 'a tf.LayersModel (tf.sequential() or tf.model())', model);
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object { input? }', options);
  checkKnownKeys('options', options, ['input']);
  const withInput = checkBoolean('options.input', options.input ?? true);
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const linked: KalmanNormalization[] = [];
  const [first, second] = layers;
  const firstMap = first ? mapOf(first) : null;
  const onInput = first?.inboundNodes[0]?.inboundLayers[0]?.getClassName() === 'InputLayer';
  if (withInput && firstMap?.kind === 'dense' && onInput && second instanceof KalmanNormalization && follows(second, first)) {
    linkInput(firstMap, second);
    linked.push(second);
  }
  let source: KalmanNormalization | null = null;
  let between: Between[] = [];
  let map: Mapping | null = null;
  layers.forEach((layer, i) => {
    if (!follows(layer, layers[i - 1])) source = null;
    if (layer instanceof KalmanNormalization) {
      if (source && map) {
        const [from, steps, through] = [source, between, map];
        source.keepPosterior();
        layer.linkPrior(() => carried(from, steps, through));
        linked.push(layer);
      }
      [source, between, map] = [layer, [], null];
      return;
    }
    const step: Between | null = map === null ? betweenOf(layer) : null;
    const nextMap: Mapping | null = map === null && step === null ? mapOf(layer) : null;
    if (step) between.push(step);
    else if (nextMap) map = nextMap;
    else source = null;
  });
  if (linked.length === 0)
    throw new RangeError('model: no KalmanNormalization layer follows a first dense layer, or another KN layer through relu, pools and one dense or conv2d layer; nothing to link');
  return linked;
}
