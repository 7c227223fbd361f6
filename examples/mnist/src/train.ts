// One training run: a model, a method and a batch size; seeded data order and initialization, SGD
// with momentum on a cosine schedule, and evaluation on the held-out split every `evalEvery` steps.
// Given a group of processes, the run is data-parallel: each process trains on its part of every
// global batch with sync KN, and the processes' gradients are averaged before each step.
import type { Communicator } from 'kalman-norm';
import { CLASSES, PIXELS, Split, gather } from './data';
import { GradientAverage, rankRows } from './data-parallel';
import { MethodSpec } from './methods';
import { ModelName, Network, buildModel } from './models';
import { softmaxCrossEntropy } from './nn/softmax-cross-entropy';
import { Sgd } from './nn/sgd';
import { makeRandom, shuffle } from './random';

export interface RunConfig {
  model: ModelName;
  method: MethodSpec;
  /** Samples per step in each process. */
  batch: number;
  /** Processes training together (1: one process); each step trains on processes x batch samples. */
  processes: number;
  steps: number;
  evalEvery: number;
  learningRate: number;
  momentum: number;
  weightDecay: number;
  seed: number;
}

/** One measurement on the held-out split. */
export interface Point {
  model: ModelName;
  /** The method's label. */
  method: string;
  batch: number;
  seed: number;
  step: number;
  /** Training samples seen so far, by all processes together. */
  samples: number;
  /** Mean training loss over the steps since the previous point (NaN at step 0). */
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
}

export interface RunResult {
  config: RunConfig;
  points: Point[];
  /** Each step's training loss (data-parallel: the mean over the processes, the loss of the global batch). */
  losses: number[];
  seconds: number;
  /** A step's loss was not finite; the run stopped there. */
  diverged: boolean;
}

/** Samples per forward call during evaluation: no method's evaluation depends on the batch. */
const EVAL_CHUNK = 200;

export function forward(network: Network, images: Float32Array, batch: number): Float32Array {
  let x = images;
  let shape = [batch, ...network.inputShape];
  for (const module of network.modules) ({ y: x, shape } = module.forward(x, shape));
  return x;
}

export function backward(network: Network, dLogits: Float32Array): void {
  let gradient = dLogits;
  for (let i = network.modules.length - 1; i >= 0; --i) gradient = network.modules[i].backward(gradient);
}

function setTraining(network: Network, training: boolean): void {
  for (const module of network.modules) module.setTraining?.(training);
}

export function evaluate(network: Network, split: Split): { loss: number; accuracy: number } {
  setTraining(network, false);
  let loss = 0, correct = 0;
  for (let start = 0; start < split.count; start += EVAL_CHUNK) {
    const count = Math.min(EVAL_CHUNK, split.count - start);
    const logits = forward(network, split.images.subarray(start * PIXELS, (start + count) * PIXELS), count);
    const result = softmaxCrossEntropy(logits, split.labels.subarray(start, start + count), CLASSES);
    loss += result.loss * count;
    correct += result.correct;
  }
  setTraining(network, true);
  return { loss: loss / split.count, accuracy: correct / split.count };
}

/** The share of a run's steps over which the rate ramps up linearly from zero. */
const WARMUP_FRACTION = Number(process.env.KN_WARMUP ?? 0.1);

/**
 * A linear warm-up over the first tenth of the run, then cosine decay from the base rate to zero.
 * Without the warm-up the convnet died within its first 100 steps on some seeds, whatever the
 * normalization (BN, GN, KN alike: chance accuracy, training loss stuck at ln 10).
 */
export function learningRateAt(config: RunConfig, step: number): number {
  const warmup = Math.max(1, Math.round(WARMUP_FRACTION * config.steps));
  const ramp = Math.min(1, (step + 1) / warmup);
  return ramp * 0.5 * config.learningRate * (1 + Math.cos((Math.PI * step) / config.steps));
}

/**
 * `onStep` is called after every step (for the progress bar) with the latest point, if any yet.
 * `group` (config.processes > 1): the processes that train together; every one of them calls run
 * with the same config, and every one evaluates (their parameters are the same).
 */
export function run(
  config: RunConfig, data: { train: Split; test: Split }, onStep: (step: number, latest: Point | null) => void = () => {}, group: Communicator | null = null,
): RunResult {
  if ((group?.size ?? 1) !== config.processes) throw new RangeError(`group: expected ${config.processes} processes, got ${group?.size ?? 'none'}`);
  const started = process.hrtime.bigint();
  const network = buildModel(config.model, config.method, config.seed, group);
  const optimizer = new Sgd(network.parameters, { momentum: config.momentum, weightDecay: config.weightDecay });
  const average = group && new GradientAverage(network.parameters, group);
  const globalBatch = config.batch * config.processes;
  // The data order depends on the seed only, so every method sees the same batches, and the
  // processes of a data-parallel run together see the batches of one process at the global batch.
  const order = Int32Array.from({ length: data.train.count }, (_, i) => i);
  const random = makeRandom(config.seed + 1);
  shuffle(order, random);
  let cursor = 0;
  const images = new Float32Array(config.batch * PIXELS);
  const labels = new Uint8Array(config.batch);
  const dLogits = new Float32Array(config.batch * CLASSES);

  const points: Point[] = [];
  const measure = (step: number, trainLoss: number): Point => {
    const { loss, accuracy } = evaluate(network, data.test);
    const point = { model: config.model, method: config.method.label, batch: config.batch, seed: config.seed, step, samples: step * globalBatch, trainLoss, testLoss: loss, testAccuracy: accuracy };
    points.push(point);
    return point;
  };
  // The untrained network's accuracy starts the curve; a run measured only at its end skips it.
  let latest: Point | null = config.evalEvery < config.steps ? measure(0, NaN) : null;
  const losses: number[] = [];
  let lossSum = 0, lossCount = 0, diverged = false;
  for (let step = 1; step <= config.steps; ++step) {
    if (cursor + globalBatch > order.length) {
      shuffle(order, random);
      cursor = 0;
    }
    gather(data.train, rankRows(order, cursor, config.batch, group?.rank ?? 0), images, labels);
    cursor += globalBatch;

    optimizer.zeroGrad();
    const logits = forward(network, images, config.batch);
    const own = softmaxCrossEntropy(logits, labels, CLASSES, dLogits).loss;
    backward(network, dLogits);
    // After the exchange every process holds the same loss, so all of them stop at the same step.
    const loss = average ? average.average(own) : own;
    if (!Number.isFinite(loss)) {
      diverged = true;
      break;
    }
    optimizer.step(learningRateAt(config, step - 1));
    losses.push(loss);
    lossSum += loss;
    lossCount += 1;
    if (step % config.evalEvery === 0 || step === config.steps) {
      latest = measure(step, lossSum / lossCount);
      lossSum = 0;
      lossCount = 0;
    }
    onStep(step, latest);
  }
  return { config, points, losses, seconds: Number(process.hrtime.bigint() - started) / 1e9, diverged };
}
