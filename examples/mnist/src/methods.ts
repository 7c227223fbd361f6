// The normalization methods the main job compares, each a recipe for the two normalization layers
// of a model (see models.ts): the main comparison, and an ablation of what makes KN work at
// micro-batch (KN-SPEC sections 1.4 and 3a-3c).
import type { CovarianceOption, GuardStatistic } from 'kalman-norm';

export interface MethodSpec {
  /** For the command line. */
  id: string;
  /** For tables and charts. */
  label: string;
  family: 'kn' | 'gn';
  /** Layer 2 takes its prior from layer 1's posterior (KN: through relu [, max pool] and the weight; GKN: the group identity link). */
  chain: boolean;
  guardStatistic: GuardStatistic;
  /** The input node that gives layer 1 a prior through the first weight (KN-SPEC 3a); null: layer 1 is plain BN. */
  input: CovarianceOption | null;
  /**
   * Layer 2's prior from running estimates of its own input's covariance (the activations after
   * relu and pooling) through the current second weight, instead of the chain (KN-SPEC 3b: one
   * way to carry the covariance past the first layer).
   */
  carried: boolean;
  /** Convnet: the chain models the max pool between the layers (KN-SPEC 3c) instead of skipping it. */
  pooling: boolean;
}

const PLAIN = { chain: false, guardStatistic: 'geometric', input: null, carried: false, pooling: false } as const;
const KN_GUARD_ONLY = { family: 'kn', chain: true, guardStatistic: 'geometric', input: null, carried: false, pooling: false } as const;

export const METHODS: readonly MethodSpec[] = [
  { id: 'bn', label: 'BN', family: 'kn', ...PLAIN },
  { id: 'kn-official', label: 'KN (official)', ...KN_GUARD_ONLY, guardStatistic: 'mean' },
  { id: 'kn', label: 'KN', ...KN_GUARD_ONLY, input: 'diagonal', pooling: true },
  { id: 'gn', label: 'GN', family: 'gn', ...PLAIN },
  { id: 'gkn', label: 'GKN', family: 'gn', ...PLAIN, chain: true },
  // The ablation: each row adds one thing to KN (official) with the guard swapped; KN above is
  // the guard, the input node (diagonal) and the pooling transition together.
  { id: 'kn-guard', label: 'KN: guard only', ...KN_GUARD_ONLY },
  { id: 'kn-input-diagonal', label: 'KN: + input node (diagonal)', ...KN_GUARD_ONLY, input: 'diagonal' },
  // Rank 40 plus diagonal for the MLP's 784 pixels (the full 784 x 784 form costs about 100 ms a
  // step here for the same accuracy); the convnet's 3x3 patches have 9 features, so full there.
  { id: 'kn-input-covariance', label: 'KN: + input covariance', ...KN_GUARD_ONLY, input: { rank: 40 } },
  { id: 'kn-carried', label: 'KN: + covariance carried further', ...KN_GUARD_ONLY, input: 'diagonal', chain: false, carried: true },
  { id: 'kn-pooling', label: 'KN: + pooling transition', ...KN_GUARD_ONLY, pooling: true },
  { id: 'gkn-input', label: 'GKN: + input node', family: 'gn', ...PLAIN, chain: true, input: 'diagonal' },
];

export const MAIN_METHODS = ['bn', 'kn-official', 'kn', 'gn', 'gkn'];
export const ABLATION_METHODS = ['kn-official', 'kn-guard', 'kn-input-diagonal', 'kn-input-covariance', 'kn-carried', 'kn-pooling', 'kn', 'gkn', 'gkn-input'];

export function methodById(id: string): MethodSpec {
  const method = METHODS.find((m) => m.id === id);
  if (!method) throw new RangeError(`--methods: unknown method '${id}' (expected main, ablation, or some of ${METHODS.map((m) => m.id).join(', ')})`);
  return method;
}
