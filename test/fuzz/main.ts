// `npm run fuzz -- [--cases N] [--seed S]`: the fuzzer beyond the test run's 10,000 cases, in
// workers of 2,000 cases, two processes at a time; prints the outcome counts and the first failures
// and exits non-zero on any failure or crash.
import { fuzz } from './spawn';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name}: expected a positive integer, got ${process.argv[at + 1]}`);
  return value;
}

async function main(): Promise<void> {
  const cases = option('--cases', 100000);
  const seed = option('--seed', 1000);
  const perWorker = 2000;
  const workers = Math.ceil(cases / perWorker);
  const started = Date.now();
  const totals = await fuzz(seed, workers, perWorker, 2, (done) =>
    process.stdout.write(`\r${done * perWorker} / ${workers * perWorker} cases, ${((Date.now() - started) / 1000).toFixed(0)} s`));
  console.log();
  console.table(totals.counts);
  for (const line of [...totals.crashes, ...totals.failures]) console.log(line);
  if (totals.crashes.length || totals.failures.length) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
