// Runs a list of training runs one after another under a progress bar (cli-progress).
import { SingleBar, Presets } from 'cli-progress';
import type { Communicator } from 'kalman-norm';
import { Split } from './data';
import { RunConfig, RunResult, run } from './train';

export interface ProgressOptions {
  /** Data-parallel runs over this group (sync-job.ts); null: one process. */
  group?: Communicator | null;
  /** Draw nothing and print nothing (the other processes of a data-parallel job). */
  quiet?: boolean;
}

export function runAll(configs: RunConfig[], data: { train: Split; test: Split }, { group = null, quiet = false }: ProgressOptions = {}): RunResult[] {
  const totalSteps = configs.reduce((sum, c) => sum + c.steps, 0);
  const bar = new SingleBar(
    { format: '{bar} {percentage}% | {run} step {step}/{steps} | test acc {accuracy}% | eta {eta_formatted}', hideCursor: true, etaBuffer: 200 },
    Presets.shades_classic,
  );
  if (!quiet) bar.start(totalSteps, 0, { run: '', step: 0, steps: 0, accuracy: '-' });
  const results: RunResult[] = [];
  let done = 0;
  for (const config of configs) {
    const processes = config.processes > 1 ? `${config.processes} x ` : '';
    const label = `${config.model} b${processes}${config.batch} s${config.seed} ${config.method.label}`;
    const result = run(
      config,
      data,
      (step, latest) => {
        if (!quiet) bar.update(done + step, { run: label, step, steps: config.steps, accuracy: latest ? (100 * latest.testAccuracy).toFixed(1) : '-' });
      },
      group,
    );
    done += config.steps;
    results.push(result);
    // Without a terminal (under mpirun too: a pipe) the bar draws nothing: say when each run ends instead.
    if (!quiet && !process.stdout.isTTY) {
      const last = result.points[result.points.length - 1];
      const outcome = result.diverged ? 'diverged' : `test acc ${(100 * last.testAccuracy).toFixed(2)}%`;
      console.log(`${label}: ${config.steps} steps, ${outcome}, ${result.seconds.toFixed(1)} s`);
    }
  }
  if (!quiet) bar.stop();
  return results;
}
