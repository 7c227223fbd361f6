/**
 * The fuzzer's cases: seeded random KN / GKN calls through the public API (forward, then backward),
 * about half of them with one argument corrupted. Every outcome is classified: a valid call must
 * return what the float64 reference computes; a corrupted one must throw a TypeError, RangeError
 * or Error whose message starts with the corrupted argument's name. Anything else is a failure.
 */
import { KalmanNormOptions, NormResult, Tensor, ops } from '../../lib';
import { Layout, ReferenceInput, referenceForward } from '../reference/kalman-norm-reference';
import { referenceBackward } from '../reference/kalman-norm-gradients';
import { Random, makeRandom } from '../util/random';

export type Outcome = 'correct result' | 'named error' | 'wrong result' | 'unnamed error' | 'misnamed error' | 'accepted bad input';
export const FAILURES: readonly Outcome[] = ['wrong result', 'unnamed error', 'misnamed error', 'accepted bad input'];

/** float32 against float64: normwise relative error of the forward's outputs and of the gradients. */
const FORWARD_RTOL = 1e-4;
const BACKWARD_RTOL = 2e-3;

interface Call {
  kind: 'kn' | 'gkn';
  shape: number[];
  layout: Layout;
  x: Float32Array;
  options: Record<string, unknown>;
  dy: Float32Array;
  /** The corrupted argument (null: a valid call) and where it goes. */
  bad: { name: string; target: 'forward' | 'x' | 'backward'; value: unknown } | null;
}

const pick = <T>(rng: Random, items: readonly T[]): T => items[Math.floor(rng.uniform() * items.length)];
const integer = (rng: Random, low: number, high: number) => low + Math.floor(rng.uniform() * (high - low + 1));
const floats = (rng: Random, length: number, scale = 1, offset = 0) => Float32Array.from({ length }, () => offset + scale * rng.normal());
const positive = (rng: Random, length: number) => Float32Array.from({ length }, () => 0.5 + 1.5 * rng.uniform());
const divisors = (n: number) => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

/** A valid call: shapes up to [4, 6, 4, 4], every option drawn on or off. */
function validCall(rng: Random): Call {
  const kind = rng.uniform() < 0.6 ? 'kn' : 'gkn';
  const shape = [integer(rng, 1, 4), integer(rng, 1, 6), ...Array.from({ length: integer(rng, 0, 2) }, () => integer(rng, 1, 4))];
  const [n, c] = shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const options: Record<string, unknown> = {};
  let rows: number, cols: number;
  if (kind === 'kn') {
    const ghost = pick(rng, divisors(n));
    if (ghost !== n || rng.uniform() < 0.3) options.virtualBatch = ghost;
    [rows, cols] = [n / ghost, c];
    if (rng.uniform() < 0.5) Object.assign(options, { runningMean: floats(rng, c), runningVar: positive(rng, c), momentum: rng.uniform() });
    if (options.runningMean && rng.uniform() < 0.3) options.training = false;
  } else {
    options.groups = pick(rng, divisors(c));
    [rows, cols] = [n, options.groups as number];
  }
  if (rng.uniform() < 0.5) options.prior = rng.uniform() < 0.5
    ? { mean: floats(rng, cols), var: positive(rng, cols) }
    : { mean: floats(rng, rows * cols), var: positive(rng, rows * cols) };
  if (rng.uniform() < 0.5) options.gain = rng.uniform() < 0.5 ? rng.uniform() : Float32Array.from({ length: cols }, () => rng.uniform());
  // Guard thresholds far from the ratios these priors give (0.25 to 4), so float32 and float64 agree.
  if (rng.uniform() < 0.5) options.guard = pick(rng, [Infinity, 1e-3, 100]);
  if (rng.uniform() < 0.3) options.guardStatistic = 'geometric';
  if (rng.uniform() < 0.5) options.gamma = floats(rng, c, 0.5, 1);
  if (rng.uniform() < 0.5) options.beta = floats(rng, c);
  if (rng.uniform() < 0.3) options.eps = pick(rng, [1e-5, 1e-3, 0.1]);
  if (rng.uniform() < 0.3) options.activation = pick(rng, ['identity', 'relu']);
  const layout: Layout = rng.uniform() < 0.5 ? 'NCHW' : 'NHWC';
  if (rng.uniform() < 0.3) options.residual = floats(rng, size);
  return { kind, shape, layout, x: floats(rng, size, 1 + 3 * rng.uniform(), 2 * rng.normal()), options, dy: floats(rng, size), bad: null };
}

/** One argument made invalid: its name, where it goes and the bad value. */
function corrupt(rng: Random, call: Call): Call['bad'] {
  const [n, c] = call.shape;
  const cols = call.kind === 'kn' ? c : (call.options.groups as number);
  const choices: Array<[string, NonNullable<Call['bad']>['target'], unknown]> = [
    ['x', 'x', pick(rng, [new Float32Array(4), null, 'x'])],
    ['gain', 'forward', pick(rng, ['0.1', -0.1, 1.5, NaN, new Float32Array(c + 7)])],
    ['eps', 'forward', pick(rng, [0, -1, NaN, 'a'])],
    ['guard', 'forward', pick(rng, [0, -1, NaN, 'a'])],
    ['guardStatistic', 'forward', 'median'],
    ['activation', 'forward', pick(rng, ['gelu', 3])],
    ['gamma', 'forward', pick(rng, [new Float32Array(c + 1), [1, 2], new Float64Array(c)])],
    ['beta', 'forward', pick(rng, [new Float32Array(c + 2), 'b'])],
    ['prior', 'forward', pick(rng, [42, 'p'])],
    ['prior.var', 'forward', { mean: new Float32Array(cols), var: new Float32Array(cols).fill(-1) }],
    ['prior.mean', 'forward', { mean: new Float32Array(n * c + 5), var: new Float32Array(cols).fill(1) }],
    ['training', 'forward', pick(rng, ['yes', 1])],
    ['options.foo', 'forward', 1],
    ['dy', 'backward', new Float32Array(3)],
    ['dMean', 'backward', new Float32Array(n * c + 3)],
  ];
  if (call.kind === 'kn') choices.push(['virtualBatch', 'forward', pick(rng, [0, 1.5, n + 1])], ['momentum', 'forward', pick(rng, [2, -1, NaN])]);
  else choices.push(['groups', 'forward', pick(rng, [0, c + 1, 'g'])]);
  const [name, target, value] = pick(rng, choices);
  return { name, target, value };
}

function tensor(data: Float32Array, call: Call): Tensor {
  return Tensor.fromArray(data.slice(), call.shape, { layout: call.layout });
}

function referenceInput(call: Call, options: Record<string, unknown>): ReferenceInput {
  const f64 = (v: unknown) => (v instanceof Float32Array ? Float64Array.from(v) : undefined);
  const prior = options.prior as { mean: Float32Array; var: Float32Array } | undefined;
  return {
    kind: call.kind,
    x: Float64Array.from(call.x),
    shape: call.shape,
    layout: call.layout,
    training: (options.training as boolean | undefined) ?? true,
    eps: (options.eps as number | undefined) ?? 1e-5,
    virtualBatch: options.virtualBatch as number | undefined,
    groups: options.groups as number | undefined,
    gain: typeof options.gain === 'number' ? options.gain : f64(options.gain) ?? 0.1,
    prior: prior && { mean: Float64Array.from(prior.mean), var: Float64Array.from(prior.var) },
    guard: (options.guard as number | undefined) ?? 100,
    guardStatistic: options.guardStatistic as 'geometric' | undefined,
    gamma: f64(options.gamma),
    beta: f64(options.beta),
    residual: f64(options.residual),
    activation: (options.activation as 'identity' | 'relu' | undefined) ?? 'identity',
    runningMean: f64(options.runningMean),
    runningVar: f64(options.runningVar),
    momentum: (options.momentum as number | undefined) ?? 0.1,
  };
}

const largest = (values: ArrayLike<number>) => Array.from(values).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * max |actual - reference| over max(max |reference|, floor). The floor is the size of the terms
 * that a result is a difference of (y = (x - mean) gamma rstd + beta; dx, a sum of terms of size
 * |dy| gamma rstd), so that a result that cancels to almost nothing is judged by float32's
 * resolution of its terms, not of itself.
 */
function errorAgainst(actual: ArrayLike<number>, reference: ArrayLike<number>, floor: number): number {
  if (actual.length !== reference.length) return Infinity;
  let difference = 0;
  for (let i = 0; i < reference.length; i++) difference = Math.max(difference, Math.abs(actual[i] - reference[i]));
  return difference === 0 ? 0 : difference / Math.max(largest(reference), floor);
}

/** Runs one call (forward, then backward) and checks it against the reference: '' when it matches, else what differs. */
function runValid(call: Call): string {
  const options = { ...call.options };
  const input = referenceInput(call, options);
  if (options.residual) options.residual = tensor(options.residual as Float32Array, call);
  const expected = referenceForward(input);
  const forward = call.kind === 'kn'
    ? ops.kalmanNorm(tensor(call.x, call), options as KalmanNormOptions)
    : ops.groupKalmanNorm(tensor(call.x, call), options as { groups: number });
  const scale = termScale(input, expected.var);
  // Statistics are sums of terms of the size of x (and of the prior) and of its square.
  const meanFloor = largest(call.x) + largest(expected.mean);
  const varFloor = meanFloor * meanFloor + largest(expected.var);
  const yFloor = meanFloor * scale + (input.beta ? largest(input.beta) : 0) + (input.residual ? largest(input.residual) : 0);
  const errors: Array<[string, number]> = [
    ['y', errorAgainst(forward.y.toArray(), expected.y, yFloor)],
    ['mean', errorAgainst(forward.mean.toArray(), expected.mean, meanFloor)],
    ['var', errorAgainst(forward.var.toArray(), expected.var, varFloor)],
  ];
  if (expected.runningMean)
    errors.push(
      ['runningMean', errorAgainst(options.runningMean as Float32Array, expected.runningMean, meanFloor)],
      ['runningVar', errorAgainst(options.runningVar as Float32Array, expected.runningVar!, varFloor)],
    );
  const wrong = errors.filter(([, error]) => !(error <= FORWARD_RTOL)).map(([name, error]) => `${name} off by ${error.toExponential(1)}`);
  if (forward.guardFired !== expected.guardFired) wrong.push(`guardFired ${forward.guardFired}`);
  return wrong.length ? wrong.join(', ') : backwardMismatch(call, forward, input, scale);
}

/** max |gamma| (1 when absent) times the largest 1 / sqrt(var + eps) of the call's units. */
function termScale(input: ReferenceInput, variance: Float64Array): number {
  return Math.max(1, input.gamma ? largest(input.gamma) : 1) / Math.sqrt(Math.min(...Array.from(variance)) + input.eps);
}

/** Gradients against the reference: dx against |dy| gamma rstd, the sums over the batch against that times the element count. */
function backwardMismatch(call: Call, forward: NormResult, input: ReferenceInput, scale: number): string {
  const dy = tensor(call.dy, call);
  const gradients = call.kind === 'kn' ? ops.kalmanNormBackward(dy, forward.saved) : ops.groupKalmanNormBackward(dy, forward.saved);
  const expected = referenceBackward(input, Float64Array.from(call.dy));
  const pairs: Array<[string, ArrayLike<number> | undefined, ArrayLike<number> | undefined]> = [
    ['dx', gradients.dx.toArray(), expected.dx],
    ['dGamma', gradients.dGamma?.toArray(), input.gamma && expected.dGamma],
    ['dBeta', gradients.dBeta?.toArray(), input.beta && expected.dBeta],
    ['dPriorMean', gradients.dPriorMean?.toArray(), expected.dPriorMean],
    ['dPriorVar', gradients.dPriorVar?.toArray(), expected.dPriorVar],
    ['dGain', typeof gradients.dGain === 'number' ? [gradients.dGain] : gradients.dGain?.toArray(), expected.dGain],
  ];
  const dxFloor = largest(call.dy) * scale;
  const errorOf = (name: string, actual: ArrayLike<number>, reference: ArrayLike<number>) =>
    errorAgainst(actual, reference, name === 'dx' ? dxFloor : dxFloor * call.x.length);
  return pairs
    .filter(([name, actual, reference]) => (actual === undefined || reference === undefined ? actual !== reference : !(errorOf(name, actual, reference) <= BACKWARD_RTOL)))
    .map(([name, actual, reference]) => `${name} off by ${actual && reference ? errorOf(name, actual, reference).toExponential(1) : 'presence'}`)
    .join(', ');
}

/** Runs a call with one argument corrupted: it must throw, naming that argument. */
function runCorrupted(call: Call): Outcome {
  const bad = call.bad!;
  const options = { ...call.options };
  if (bad.target === 'forward') {
    if (bad.name === 'options.foo') options.foo = bad.value;
    else if (bad.name === 'prior.var' || bad.name === 'prior.mean') options.prior = bad.value;
    else options[bad.name] = bad.value;
  }
  if (options.residual) options.residual = tensor(options.residual as Float32Array, call);
  const x = bad.target === 'x' ? bad.value : tensor(call.x, call);
  try {
    const forward = call.kind === 'kn' ? ops.kalmanNorm(x as Tensor, options as KalmanNormOptions) : ops.groupKalmanNorm(x as Tensor, options as { groups: number });
    if (bad.target !== 'backward') return 'accepted bad input';
    const dy = bad.name === 'dy' ? bad.value : tensor(call.dy, call);
    const backwardOptions = bad.name === 'dMean' ? { dMean: bad.value as Float32Array } : {};
    if (call.kind === 'kn') ops.kalmanNormBackward(dy as Tensor, forward.saved, backwardOptions);
    else ops.groupKalmanNormBackward(dy as Tensor, forward.saved, backwardOptions);
    return 'accepted bad input';
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    const named = /^([A-Za-z.]+): /.exec(message);
    if (!(error instanceof Error) || !named) return 'unnamed error';
    return named[1] === bad.name ? 'named error' : 'misnamed error';
  }
}

export interface FuzzReport {
  counts: Record<Outcome, number>;
  /** The first few failures: the case's seed and index, and what went wrong. */
  failures: string[];
}

/** `cases` calls from `seed`: about half valid, half with one argument corrupted. */
export function runFuzz(seed: number, cases: number): FuzzReport {
  const rng = makeRandom(seed);
  const counts = Object.fromEntries(['correct result', 'named error', ...FAILURES].map((o) => [o, 0])) as Record<Outcome, number>;
  const failures: string[] = [];
  for (let index = 0; index < cases; index++) {
    const call = validCall(rng);
    if (rng.uniform() < 0.5) call.bad = corrupt(rng, call);
    let outcome: Outcome, detail = '';
    try {
      if (call.bad) outcome = runCorrupted(call);
      else {
        detail = runValid(call);
        outcome = detail ? 'wrong result' : 'correct result';
      }
    } catch (error) {
      [outcome, detail] = ['unnamed error', `threw ${(error as Error).message}`];
    }
    counts[outcome]++;
    if (FAILURES.includes(outcome) && failures.length < 5) {
      const what = `${call.kind} [${call.shape}] ${call.layout} ${JSON.stringify(Object.keys(call.options))}`;
      failures.push(`seed ${seed} case ${index}: ${outcome}: ${call.bad ? `bad ${call.bad.name} = ${String(call.bad.value)}` : detail} (${what})`);
    }
  }
  return { counts, failures };
}
