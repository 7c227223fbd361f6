// The statistics graph between layers (KN-SPEC section 3): nodes that compute statistic rows
// [R, C] from layers' posteriors through transitions, and push gradients back along the same
// edges. A node recomputes only when a layer it depends on has run forward again, so a node
// shared by two consumers (a residual join) is computed once per step and receives both
// consumers' gradients, which its inputs accumulate.
import { Tensor } from '../tensor';
import { MomentRows, MomentRowsGradient } from '../ops/transitions';
import * as transitions from '../ops/transitions';
import * as covariance from '../ops/covariance';
import { rangeError } from '../errors';
import { InputStatistics } from './input-statistics';

/** A gradient with respect to a node's rows; a missing half is zero. */
export interface RowsGradient {
  dMean: Tensor | null;
  dVar: Tensor | null;
}

/** What a posterior node needs from a layer (see NormalizationLayer). */
export interface PosteriorSource {
  readonly id: number;
  readonly forwardCount: number;
  /** The rows of the last training forward. */
  posterior(): MomentRows;
  /** Accumulates a gradient with respect to that posterior, used by the layer's next backward. */
  receivePosteriorGradient(gradient: RowsGradient): void;
}

/** A layer whose normalized output's distribution a node can describe. */
export interface NormalizedSource extends PosteriorSource {
  readonly eps: number;
  readonly gamma: Tensor | null;
  readonly beta: Tensor | null;
  /** Accumulates gradients with respect to gamma and beta from the statistics graph. */
  receiveParameterGradient(dGamma: Tensor | undefined, dBeta: Tensor | undefined): void;
}

export abstract class MomentNode {
  private cache: { key: string; rows: MomentRows } | null = null;

  /** The rows for the current step. */
  evaluate(): MomentRows {
    const key = this.version();
    if (!this.cache || this.cache.key !== key) this.cache = { key, rows: this.compute() };
    return this.cache.rows;
  }

  /** Changes whenever a layer this node depends on ran forward again. */
  abstract version(): string;
  protected abstract compute(): MomentRows;
  /** Pushes a gradient with respect to the last evaluated rows back to the inputs. */
  abstract backward(gradient: RowsGradient): void;
}

/** A layer's posterior. */
export class PosteriorNode extends MomentNode {
  constructor(readonly layer: PosteriorSource) {
    super();
  }
  version(): string {
    return `${this.layer.id}:${this.layer.forwardCount}`;
  }
  protected compute(): MomentRows {
    return this.layer.posterior();
  }
  backward(gradient: RowsGradient): void {
    this.layer.receivePosteriorGradient(gradient);
  }
}

/** Moves a node's two inputs' gradients (x and stats are the same rows) back as one. */
function sum(a: MomentRowsGradient, b: MomentRowsGradient): RowsGradient {
  transitions.accumulateInto(a.dMean, b.dMean);
  transitions.accumulateInto(a.dVar, b.dVar);
  return a;
}

/**
 * The distribution of a layer's output gamma (x - mu) / sqrt(var + eps) + beta when x follows the
 * layer's own posterior (mu, var): N(beta, gamma^2 var / (var + eps)).
 */
export class NormalizedNode extends MomentNode {
  private saved: unknown;
  constructor(readonly layer: NormalizedSource, readonly input: MomentNode = new PosteriorNode(layer)) {
    super();
  }
  version(): string {
    return `normalized(${this.input.version()})`;
  }
  protected compute(): MomentRows {
    const rows = this.input.evaluate();
    const result = transitions.normalizeMoments(rows, rows, {
      eps: this.layer.eps,
      gamma: this.layer.gamma ?? undefined,
      beta: this.layer.beta ?? undefined,
    });
    this.saved = result.saved;
    return result;
  }
  backward(gradient: RowsGradient): void {
    const result = transitions.normalizeMomentsBackward(gradient.dMean, gradient.dVar, this.saved);
    this.layer.receiveParameterGradient(result.dGamma, result.dBeta);
    this.input.backward(sum(result.x, result.stats));
  }
}

/** A transition op on its input's rows and, backward, its gradient (the op's saved state kept between). */
interface RowsOp {
  name: string;
  forward(rows: MomentRows): MomentRows & { saved: unknown };
  backward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown): MomentRowsGradient;
}

/** A node that applies one op to one input's rows. */
abstract class UnaryNode extends MomentNode {
  private saved: unknown;
  constructor(readonly input: MomentNode, private readonly op: RowsOp) {
    super();
  }
  version(): string {
    return `${this.op.name}(${this.input.version()})`;
  }
  protected compute(): MomentRows {
    const result = this.op.forward(this.input.evaluate());
    this.saved = result.saved;
    return result;
  }
  backward(gradient: RowsGradient): void {
    this.input.backward(this.op.backward(gradient.dMean, gradient.dVar, this.saved));
  }
}

export class ReluNode extends UnaryNode {
  constructor(input: MomentNode) {
    super(input, { name: 'relu', forward: (rows) => transitions.reluMoments(rows.mean, rows.var), backward: transitions.reluMomentsBackward });
  }
}

/**
 * The average of a pool window of `taps` activations that each follow the input's distribution,
 * with pairwise correlation `correlation` (KN-SPEC 3c). The options are checked when it is built.
 */
export class AvgPoolNode extends UnaryNode {
  constructor(input: MomentNode, options: transitions.PoolOptions) {
    const window = transitions.poolWindow(options);
    super(input, { name: 'avgPool', forward: (rows) => transitions.avgPoolMoments(rows.mean, rows.var, window), backward: transitions.avgPoolMomentsBackward });
  }
}

/** The max of such a window, by Clark's (1961) moments (KN-SPEC 3c). */
export class MaxPoolNode extends UnaryNode {
  constructor(input: MomentNode, options: transitions.PoolOptions) {
    const window = transitions.poolWindow(options);
    super(input, { name: 'maxPool', forward: (rows) => transitions.maxPoolMoments(rows.mean, rows.var, window), backward: transitions.maxPoolMomentsBackward });
  }
}

/**
 * Per-channel rows [R, C] to the moments of one GKN unit, rows [R, G]: the values of one sample in
 * a group of C / G consecutive channels (docs/LINKED-LAYERS.md). The group count is checked when
 * it is built, that it divides C when the rows arrive.
 */
export class GroupNode extends UnaryNode {
  constructor(input: MomentNode, groups: number) {
    const checked = transitions.groupCount({ groups });
    super(input, { name: 'groups', forward: (rows) => transitions.groupMoments(rows.mean, rows.var, { groups: checked }), backward: transitions.groupMomentsBackward });
  }
}

/** Where a weight's gradient goes: accumulated into `grad` when given. */
export interface TiedWeight {
  value: Tensor;
  grad?: Tensor;
}

/** An affine map with a learned or tied weight [Cout, Cin] (a fully connected layer's). */
export class AffineNode extends MomentNode {
  private saved: unknown;
  private readonly fromInput: InputMap | null;
  constructor(readonly input: MomentNode, readonly weight: TiedWeight, readonly noise?: number) {
    super();
    this.fromInput = input instanceof InputNode ? new InputMap(input, weight, noise, 'affine') : null;
  }
  version(): string {
    return `affine(${this.input.version()})`;
  }
  protected compute(): MomentRows {
    if (this.fromInput) return this.fromInput.compute();
    const rows = this.input.evaluate();
    const result = transitions.affineMoments(rows.mean, rows.var, { weight: this.weight.value, noise: this.noise });
    this.saved = result.saved;
    return result;
  }
  backward(gradient: RowsGradient): void {
    if (this.fromInput) return this.fromInput.backward(gradient);
    const result = transitions.affineMomentsBackward(gradient.dMean, gradient.dVar, this.saved);
    if (this.weight.grad) transitions.accumulateInto(this.weight.grad, result.dWeight);
    this.input.backward(result);
  }
}

/** A convolution with a tied kernel [Cout, Cin, kh, kw]: A = sum of taps, A2 = sum of squares. */
export class ConvNode extends MomentNode {
  private saved: unknown;
  private readonly fromInput: InputMap | null;
  constructor(readonly input: MomentNode, readonly kernel: TiedWeight, readonly noise?: number) {
    super();
    this.fromInput = input instanceof InputNode ? new InputMap(input, kernel, noise, 'conv') : null;
  }
  version(): string {
    return `conv(${this.input.version()})`;
  }
  protected compute(): MomentRows {
    if (this.fromInput) return this.fromInput.compute();
    const rows = this.input.evaluate();
    const { weight, weightSq } = transitions.convTransition(this.kernel.value);
    const result = transitions.affineMoments(rows.mean, rows.var, { weight, weightSq, noise: this.noise });
    this.saved = result.saved;
    return result;
  }
  backward(gradient: RowsGradient): void {
    if (this.fromInput) return this.fromInput.backward(gradient);
    const result = transitions.affineMomentsBackward(gradient.dMean, gradient.dVar, this.saved);
    if (this.kernel.grad)
      transitions.accumulateInto(this.kernel.grad, transitions.convTransitionBackward(result.dWeight, result.dWeightSq ?? null, this.kernel.value));
    this.input.backward(result);
  }
}

/** A residual join: a + b, b zero-padded on both sides when it has fewer columns. */
export class AddNode extends MomentNode {
  private saved: unknown;
  constructor(readonly a: MomentNode, readonly b: MomentNode) {
    super();
  }
  version(): string {
    return `add(${this.a.version()},${this.b.version()})`;
  }
  protected compute(): MomentRows {
    const result = transitions.addMoments(this.a.evaluate(), this.b.evaluate());
    this.saved = result.saved;
    return result;
  }
  backward(gradient: RowsGradient): void {
    const result = transitions.addMomentsBackward(gradient.dMean, gradient.dVar, this.saved);
    this.a.backward(result.a);
    this.b.backward(result.b);
  }
}

/** The identity with process noise r: var + r. */
export class IdentityNode extends MomentNode {
  private saved: unknown;
  constructor(readonly input: MomentNode, readonly noise: number) {
    super();
  }
  version(): string {
    return `identity(${this.input.version()})`;
  }
  protected compute(): MomentRows {
    const rows = this.input.evaluate();
    const result = transitions.identityMoments(rows.mean, rows.var, { noise: this.noise });
    this.saved = result.saved;
    return result;
  }
  backward(gradient: RowsGradient): void {
    this.input.backward(transitions.identityMomentsBackward(gradient.dMean, gradient.dVar, this.saved));
  }
}

/**
 * The start of a chain: one row [1, D] of an input's running mean and variances, carrying its
 * covariance to the first map. No gradient flows into the statistics (they are running estimates).
 */
export class InputNode extends MomentNode {
  constructor(readonly statistics: InputStatistics) {
    super();
  }
  version(): string {
    return `input(${this.statistics.id}:${this.statistics.observeCount})`;
  }
  protected compute(): MomentRows {
    if (this.statistics.observeCount === 0) throw new Error('input: observe(x) at least one batch before the first linked forward');
    return { mean: this.statistics.mean, var: this.statistics.var };
  }
  backward(): void {}
}

/**
 * The first map of a chain that starts at an input node: m_o = w_o . mu, u_o = w_o^T Sigma w_o +
 * noise with the node's covariance (exact for a linear map of correlated inputs; KN-SPEC 3b), and
 * the gradient dW_o = dm_o mu^T + 2 du_o (Sigma w_o)^T into the tied weight. A convolution's kernel
 * [Cout, Cin, kh, kw] is the weight [Cout, Cin*kh*kw] over the patch vectors the statistics observed.
 */
class InputMap {
  private saved: unknown;
  private readonly weightShape: [number, number];
  constructor(readonly input: InputNode, readonly weight: TiedWeight, readonly noise: number | undefined, kind: 'affine' | 'conv') {
    const { statistics } = input;
    const shape = weight.value.shape;
    if (kind === 'affine') {
      if (statistics.patch) throw rangeError('input', 'statistics over convolution patches feed moments.conv, not moments.affine');
      if (shape.length !== 2 || shape[1] !== statistics.features)
        throw rangeError('weight', `expected [Cout, ${statistics.features}] (the input's features), got [${shape.join(', ')}]`);
    } else {
      const patch = statistics.patch;
      if (!patch) throw rangeError('input', 'a convolution needs statistics over its patches (new InputStatistics(shape, { patch }))');
      const expected = [patch.channels, ...patch.kernel];
      if (shape.length !== 4 || expected.some((size, i) => shape[i + 1] !== size))
        throw rangeError('kernel', `expected [Cout, ${expected.join(', ')}] (the observed patches), got [${shape.join(', ')}]`);
    }
    this.weightShape = [shape[0], statistics.features];
  }
  compute(): MomentRows {
    const rows = this.input.evaluate();
    const result = covariance.quadraticMoments(rows.mean, this.input.statistics.covariance(), {
      weight: this.weight.value.view(this.weightShape),
      noise: this.noise,
    });
    this.saved = result.saved;
    return result;
  }
  backward(gradient: RowsGradient): void {
    const result = covariance.quadraticMomentsBackward(gradient.dMean, gradient.dVar, this.saved);
    if (this.weight.grad) transitions.accumulateInto(this.weight.grad, result.dWeight);
  }
}
