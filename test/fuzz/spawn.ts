// Runs fuzz workers (child.ts) in child processes, a batch at a time, and adds up their reports.
import { spawn } from 'child_process';
import * as path from 'path';
import { FAILURES, FuzzReport, Outcome } from './cases';

export interface FuzzTotals extends FuzzReport {
  /** Workers that did not exit cleanly with a report (a crash, an abort): their exit and stderr. */
  crashes: string[];
}

function runWorker(seed: number, cases: number): Promise<FuzzReport | string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'child.js'), String(seed), String(cases)]);
    let out = '', err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(JSON.parse(out) as FuzzReport);
      else resolve(`seed ${seed}: exit ${code ?? signal}: ${err.slice(-500)}`);
    });
  });
}

/** `workers` workers of `casesEach` cases, seeds from `firstSeed`, `parallel` at a time. */
export async function fuzz(firstSeed: number, workers: number, casesEach: number, parallel: number, progress?: (done: number) => void): Promise<FuzzTotals> {
  const totals: FuzzTotals = { counts: {} as Record<Outcome, number>, failures: [], crashes: [] };
  for (const outcome of ['correct result', 'named error', ...FAILURES] as Outcome[]) totals.counts[outcome] = 0;
  for (let first = 0; first < workers; first += parallel) {
    const batch = Array.from({ length: Math.min(parallel, workers - first) }, (_, i) => runWorker(firstSeed + first + i, casesEach));
    for (const report of await Promise.all(batch)) {
      if (typeof report === 'string') totals.crashes.push(report);
      else {
        for (const [outcome, count] of Object.entries(report.counts)) totals.counts[outcome as Outcome] += count;
        totals.failures.push(...report.failures);
      }
    }
    progress?.(Math.min(workers, first + parallel));
  }
  return totals;
}
