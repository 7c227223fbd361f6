// Running estimates of a network input's distribution (KN-SPEC section 3a): the mean vector and the
// covariance of the features the first linear map sees, or of the Cin*kh*kw patch vectors the first
// convolution sees, pooled over all output positions. moments.input(statistics) starts a chain
// from them, so the first normalization layer gets a prior like every other layer.
import { checkCommunicator } from '../distributed/communicator';
import type { Communicator } from '../distributed/communicator';
import { MAX_COUNT, checkCount, checkOneOf, rangeError, typeError, checkNumber, checkKnownKeys } from '../errors';
import { Device, Tensor } from '../tensor';
import { checkTensor } from '../ops/arguments';
import { Covariance } from '../ops/covariance';
import { InputMomentsState, PatchGeometry, updateInputMoments } from '../ops/input-moments';

let nextStatisticsId = 0;

/** The most floats a covariance may hold (2^28, 1 GiB of float32). */
const MAX_COVARIANCE = 2 ** 28;

/** 'full': D x D; 'diagonal': per-feature variances; { rank }: L L^T + diag(d), L of D x rank. */
export type CovarianceOption = 'full' | 'diagonal' | { rank: number };

/** The patches of a convolution: kernel [kh, kw], zero padding and stride per side (numbers apply to both). */
export interface PatchOptions {
  kernel: number | [number, number];
  padding?: number | [number, number];
  stride?: number | [number, number];
}

export interface InputStatisticsOptions {
  /** Default 'full'. */
  covariance?: CovarianceOption;
  /**
   * The weight of each new batch in the running estimates. Default 0.01: the input's distribution
   * is stationary, and at micro-batch a covariance averaged over ~10 batches of 2 is noisier than
   * the diagonal alone (docs/LINKED-LAYERS.md).
   */
  momentum?: number;
  /** Statistics over a convolution's patch vectors (featureShape [Cin, H, W]); without it, over the whole sample. */
  patch?: PatchOptions;
  /** Where the estimates live and the observed tensors must be. Default 'cpu'. */
  device?: Device;
  /**
   * Observe the batches of every process of this group together (data-parallel training with sync
   * KN, docs/DISTRIBUTED.md): each observe() all-gathers the processes' x, so the estimates are
   * the same on every process and equal one process's that holds the whole batch.
   */
  sync?: Communicator;
}

function pair(name: string, value: unknown, low: number): [number, number] {
  const check = (n: string, v: unknown) => checkNumber(n, v, (x) => Number.isInteger(x) && x >= low, `an integer >= ${low}`);
  if (Array.isArray(value)) {
    if (value.length !== 2) throw rangeError(name, `expected [height, width], got ${value.length} values`);
    return [check(`${name}[0]`, value[0]), check(`${name}[1]`, value[1])];
  }
  const single = check(name, value);
  return [single, single];
}

/** [C, H, W] from a feature shape of rank 1 to 3, and the patches a linear map or a convolution sees. */
function patchGeometry(featureShape: unknown, patch: unknown): PatchGeometry & { outH: number; outW: number } {
  if (!Array.isArray(featureShape) || featureShape.length < 1 || featureShape.length > 3)
    throw typeError('featureShape', 'an array of 1 to 3 positive integers ([D], [C, L] or [C, H, W])', featureShape);
  featureShape.forEach((size, i) => checkCount(`featureShape[${i}]`, size));
  const [channels, height = 1, width = 1] = featureShape as number[];
  if (patch === undefined)  // one patch covering the whole sample: the features in logical [C, H, W] order
    return { channels, height, width, kernelH: height, kernelW: width, padH: 0, padW: 0, strideH: 1, strideW: 1, outH: 1, outW: 1 };
  if (typeof patch !== 'object' || patch === null) throw typeError('patch', 'an object { kernel, padding?, stride? }', patch);
  checkKnownKeys('patch', patch, ['kernel', 'padding', 'stride']);
  if (featureShape.length !== 3) throw rangeError('featureShape', `expected [Cin, H, W] with patch, got [${featureShape.join(', ')}]`);
  const options = patch as PatchOptions;
  const [kernelH, kernelW] = pair('patch.kernel', options.kernel, 1);
  const [padH, padW] = pair('patch.padding', options.padding ?? 0, 0);
  const [strideH, strideW] = pair('patch.stride', options.stride ?? 1, 1);
  if (kernelH > height + 2 * padH || kernelW > width + 2 * padW)
    throw rangeError('patch.kernel', `[${kernelH}, ${kernelW}] is larger than the padded image [${height + 2 * padH}, ${width + 2 * padW}]`);
  const outH = Math.floor((height + 2 * padH - kernelH) / strideH) + 1;
  const outW = Math.floor((width + 2 * padW - kernelW) / strideW) + 1;
  return { channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, outH, outW };
}

function covarianceKind(value: unknown, features: number): { kind: Covariance['kind']; rank: number } {
  if (typeof value === 'string') {
    const kind = checkOneOf('covariance', value, ['full', 'diagonal'] as const);
    return { kind, rank: 0 };
  }
  if (typeof value !== 'object' || value === null) throw typeError('covariance', "'full', 'diagonal' or { rank }", value);
  checkKnownKeys('covariance', value, ['rank']);
  const rank = checkNumber('covariance.rank', (value as { rank: unknown }).rank, (r) => Number.isInteger(r) && r >= 1 && r <= features,
    `an integer in [1, ${features}] (the number of features)`);
  return { kind: 'lowRank', rank };
}

/**
 * Every process's batch x in rank order, as one batch on x's device. The processes' batch sizes are
 * exchanged first, so that a mismatch is the same error on every process, not a hang.
 */
function gatheredBatch(x: Tensor, sync: Communicator): Tensor {
  const sizes = new Float64Array(sync.size);
  sync.allGather(new Float64Array([x.shape[0]]), sizes);
  if (sizes.some((size) => size !== x.shape[0]))
    throw rangeError('x', `with sync every process observes a batch of the same size, got ${Array.from(sizes).join(', ')} by rank`);
  const values = new Float64Array(x.size * sync.size);
  sync.allGather(Float64Array.from(x.readSync()), values);
  return Tensor.fromArray(Float32Array.from(values), [x.shape[0] * sync.size, ...x.shape.slice(1)], { layout: x.layout, device: x.device });
}

/**
 * Running estimates of an input's mean and covariance. `observe(x)` in training blends each batch
 * in with `momentum` (the first batch initializes them); in eval mode it changes nothing.
 */
export class InputStatistics {
  readonly id = nextStatisticsId++;
  /** Batches observed so far (in training). */
  observeCount = 0;
  training = true;
  readonly featureShape: readonly number[];
  /** D: the features per sample, or Cin*kh*kw per patch. */
  readonly features: number;
  readonly kind: Covariance['kind'];
  readonly momentum: number;
  readonly device: Device;
  /** The patch geometry, when the statistics are over a convolution's patches. */
  readonly patch: { channels: number; kernel: [number, number] } | null;
  private readonly geometry: PatchGeometry & { outH: number; outW: number };
  private readonly sync: Communicator | null;
  private readonly state: InputMomentsState;

  constructor(featureShape: readonly number[], options: InputStatisticsOptions = {}) {
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
    checkKnownKeys('options', options, ['covariance', 'momentum', 'patch', 'device', 'sync']);
    this.geometry = patchGeometry(featureShape, options.patch);
    this.featureShape = Object.freeze([...featureShape]);
    const g = this.geometry;
    this.features = g.channels * g.kernelH * g.kernelW;
    if (this.features > MAX_COUNT)
      throw rangeError('featureShape', `${options.patch === undefined ? 'the features' : 'Cin*kh*kw'} (${this.features}) exceed ${MAX_COUNT} (2^24)`);
    this.patch = options.patch === undefined ? null : { channels: g.channels, kernel: [g.kernelH, g.kernelW] };
    const { kind, rank } = covarianceKind(options.covariance ?? 'full', this.features);
    this.kind = kind;
    // The covariance's memory is D*D (full) or D*rank (low rank) floats: at most 2^28 (1 GiB).
    const covarianceSize = kind === 'full' ? this.features * this.features : this.features * rank;
    if (covarianceSize > MAX_COVARIANCE)
      throw rangeError('covariance', `${kind} over ${this.features} features needs ${covarianceSize} floats, more than ${MAX_COVARIANCE} (2^28); use 'diagonal' or a smaller rank`);
    this.momentum = checkNumber('momentum', options.momentum ?? 0.01, (m) => m > 0 && m <= 1, 'a number in (0, 1]');
    this.device = checkOneOf('device', options.device ?? 'cpu', ['cpu', 'cuda'] as const);
    this.sync = options.sync === undefined ? null : checkCommunicator('sync', options.sync);
    const zeros = (shape: number[]) => Tensor.zeros(shape, { device: this.device });
    const d = this.features;
    this.state = {
      mean: zeros([1, d]),
      var: zeros([1, d]),
      covariance: kind === 'full' ? zeros([d, d]) : null,
      factor: kind === 'lowRank' ? zeros([d, rank]) : null,
      diagonal: kind === 'lowRank' ? zeros([d]) : null,
    };
  }

  train(): this {
    this.training = true;
    return this;
  }

  eval(): this {
    this.training = false;
    return this;
  }

  /** Blends a batch x [N, ...featureShape] (NCHW or NHWC, float32, on the statistics' device) into the estimates. */
  observe(x: Tensor): this {
    const tensor = checkTensor('x', x);
    const expected = [tensor.shape[0], ...this.featureShape];
    if (tensor.shape.length !== expected.length || tensor.shape.some((size, i) => size !== expected[i]))
      throw rangeError('x', `expected shape [N, ${this.featureShape.join(', ')}], got [${tensor.shape.join(', ')}]`);
    if (tensor.dtype !== 'float32') throw rangeError('x', `expected float32, got '${tensor.dtype}'`);
    if (tensor.device !== this.device) throw rangeError('x', `expected a tensor on the statistics' device '${this.device}', got '${tensor.device}'`);
    const batch = this.training && this.sync && this.sync.size > 1 ? gatheredBatch(tensor, this.sync) : tensor;
    const patches = batch.shape[0] * this.geometry.outH * this.geometry.outW;
    if (patches < 2) throw rangeError('x', `a batch covariance needs at least 2 ${this.patch ? 'patches' : 'samples'}, got ${patches}`);
    if (!this.training) return this;
    const first = this.observeCount === 0;
    updateInputMoments(batch, this.geometry, patches, this.state, first ? 0 : 1 - this.momentum, first ? 1 : this.momentum);
    if (batch !== tensor) batch.dispose();
    this.observeCount += 1;
    return this;
  }

  /** Frees the running estimates (GPU memory at once); any later use throws. */
  dispose(): void {
    for (const tensor of Object.values(this.state)) tensor?.dispose();
  }

  /** `using statistics = new InputStatistics(...)`: dispose() when the scope ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The running mean [1, D]. */
  get mean(): Tensor {
    return this.state.mean;
  }

  /** The running variances [1, D] (the covariance's diagonal). */
  get var(): Tensor {
    return this.state.var;
  }

  /** The running covariance in its form, for ops.quadraticMoments. */
  covariance(): Covariance {
    const { covariance, factor, diagonal } = this.state;
    if (covariance) return { kind: 'full', matrix: covariance };
    if (factor && diagonal) return { kind: 'lowRank', factor, diagonal };
    return { kind: 'diagonal', diagonal: this.state.var };
  }
}
