// The command line of `npm start` (its flags are listed in main.ts) and the training settings
// each run derives from it.
import { ABLATION_METHODS, MAIN_METHODS, METHODS, MethodSpec, methodById } from './methods';
import { MODELS, ModelName } from './models';
import { RunConfig } from './train';

const BATCHES = [2, 4, 32];
/** Training samples per run by default (half an epoch of the 8,000 training digits for the MLP). */
const DEFAULT_SAMPLES: Record<ModelName, number> = { mlp: 4000, convnet: 2000 };
const FULL_FACTOR = 5;
/** Measurements on the held-out split per run by default, besides the one before training. */
const EVALUATIONS = 5;
export const FIRST_SEED = 2024;
/** Base learning rate at batch 32, scaled by sqrt(batch / 32) for smaller batches; the same for every method. */
const LEARNING_RATE_AT_32 = 0.08;

export interface Args {
  batches: number[];
  models: ModelName[];
  methods: MethodSpec[];
  seeds: number;
  evaluations: number;
  full: boolean;
  steps: number | null;
  json: string | null;
  markdown: string | null;
  out: string;
  /** Data-parallel over the processes of mpirun, with sync KN (sync-job.ts). */
  sync: boolean;
}

function parseMethods(value: string): MethodSpec[] {
  if (value === 'main') return MAIN_METHODS.map(methodById);
  if (value === 'ablation') return ABLATION_METHODS.map(methodById);
  if (value === 'all') return [...METHODS];
  return value.split(',').map(methodById);
}

export function parseArgs(argv: string[]): Args {
  const args: Args = {
    batches: [2], models: [...MODELS], methods: parseMethods('main'), seeds: 1, evaluations: EVALUATIONS, full: false, steps: null, json: null, markdown: null, out: 'results', sync: false,
  };
  let modelGiven = false, outGiven = false;
  const positiveInteger = (flag: string, text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${flag}: expected a positive integer, got ${text}`);
    return value;
  };
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new RangeError(`${flag}: expected a value`);
      return argv[++i];
    };
    if (flag === '--full') args.full = true;
    else if (flag === '--sync') args.sync = true;
    else if (flag === '--batch') {
      const text = value();
      args.batches = text.split(',').map(Number);
      if (args.batches.some((b) => !BATCHES.includes(b))) throw new RangeError(`--batch: expected some of ${BATCHES.join(', ')}, got ${text}`);
    } else if (flag === '--model') {
      const model = value();
      modelGiven = true;
      if (model === 'both') args.models = [...MODELS];
      else if ((MODELS as readonly string[]).includes(model)) args.models = [model as ModelName];
      else throw new RangeError(`--model: expected mlp, convnet or both, got ${model}`);
    } else if (flag === '--methods') args.methods = parseMethods(value());
    else if (flag === '--seeds') args.seeds = positiveInteger(flag, value());
    else if (flag === '--evaluations') args.evaluations = positiveInteger(flag, value());
    else if (flag === '--steps') args.steps = positiveInteger(flag, value());
    else if (flag === '--json') args.json = value();
    else if (flag === '--markdown') args.markdown = value();
    else if (flag === '--out') {
      args.out = value();
      outGiven = true;
    }
    else throw new RangeError(`${flag}: unknown flag (expected --batch, --model, --methods, --seeds, --evaluations, --full, --steps, --json, --markdown, --out, --sync)`);
  }
  if (args.sync) {
    if (!modelGiven) args.models = ['mlp'];
    if (args.batches.length !== 1) throw new RangeError(`--batch: with --sync, one micro-batch per process, got ${args.batches.join(',')}`);
    // Its three kinds of runs share model, batch and method, which the chart and the JSON tell apart by.
    if (args.json !== null || outGiven) throw new RangeError('--json, --out: not with --sync (it writes no chart and no JSON; --markdown writes its table)');
  }
  return args;
}

/**
 * One run's settings. `processes` > 1: data-parallel, each process trains on `batch` samples of a
 * global batch of processes x batch, and the run has the steps and learning rate of that global batch.
 */
export function configFor(args: Args, model: ModelName, method: MethodSpec, batch: number, seed: number, processes = 1): RunConfig {
  const globalBatch = batch * processes;
  const steps = args.steps ?? Math.round((DEFAULT_SAMPLES[model] * (args.full ? FULL_FACTOR : 1)) / globalBatch);
  return {
    model,
    method,
    batch,
    processes,
    steps,
    evalEvery: Math.max(1, Math.ceil(steps / args.evaluations)),
    learningRate: LEARNING_RATE_AT_32 * Math.sqrt(globalBatch / 32),
    momentum: 0.9,
    weightDecay: 5e-4,
    seed,
  };
}
