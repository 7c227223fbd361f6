// `node dist/scripts/gpu-report.js REPORT_DIR TESTS_STATUS BENCHMARK_STATUS` (run by
// scripts/gpu-run.sh): writes REPORT_DIR/REPORT.md, the summary of one GPU run, from what the run
// left in REPORT_DIR: bundle-info.txt, gpu.csv (nvidia-smi's name, driver, memory), cuda-info.json,
// mocha.json and benchmark.json. The statuses are the exit statuses of mocha and of the benchmark;
// BENCHMARK_STATUS may instead be a sentence saying why the benchmark was skipped.
import * as fs from 'fs';
import * as path from 'path';

interface CudaInfo {
  built: boolean;
  available: boolean;
  reason: string;
  devices: { index: number; name: string; computeCapability: string; totalMemory: number }[];
}

/** The parts of mocha's JSON reporter output this report uses. */
interface MochaTest {
  fullTitle: string;
  err: { message?: string };
}

interface MochaResults {
  stats: { tests: number; passes: number; pending: number; failures: number; duration?: number };
  failures: MochaTest[];
  pending: MochaTest[];
}

const MAX_PENDING_LISTED = 50;

function readText(dir: string, name: string): string | null {
  const file = path.join(dir, name);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
}

function readJson<T>(dir: string, name: string): T | null {
  const text = readText(dir, name);
  return text === null ? null : (JSON.parse(text) as T);
}

function gibibytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function gpuLines(csv: string | null): string[] {
  const rows = (csv ?? '').split('\n').filter((line) => line.trim() !== '');
  if (rows.length === 0) return ['- GPU (nvidia-smi): none reported (nvidia-smi missing or failed)'];
  return rows.map((row) => {
    const [name, driver, memory] = row.split(',').map((field) => field.trim());
    return `- GPU (nvidia-smi): ${name}, driver ${driver}, ${memory}`;
  });
}

function cudaLine(info: CudaInfo | null): string {
  if (info === null) return '- cudaInfo(): failed; the addon did not load (see the console log)';
  const build = info.built ? 'CUDA build' : 'CPU-only build';
  if (!info.available) return `- cudaInfo(): ${build}, no usable GPU: ${info.reason}`;
  const devices = info.devices.map((d) => `${d.index}: ${d.name}, compute ${d.computeCapability}, ${gibibytes(d.totalMemory)}`);
  return `- cudaInfo(): ${build}, GPU available: ${devices.join('; ')}`;
}

function verdict(results: MochaResults | null, testsStatus: string, benchmarkStatus: string, info: CudaInfo | null): string {
  const benchmarkFailed = /^\d+$/.test(benchmarkStatus) && benchmarkStatus !== '0';
  if (results === null) return `FAILED: mocha wrote no results (exit status ${testsStatus})`;
  if (results.stats.failures > 0) return `FAILED: ${results.stats.failures} of ${results.stats.tests} tests failed`;
  if (testsStatus !== '0') return `FAILED: mocha exited with status ${testsStatus}`;
  if (benchmarkFailed) return `FAILED: the benchmark exited with status ${benchmarkStatus}`;
  if (info !== null && !info.available) return `PENDING: the GPU tests did not run (${info.reason}); nothing on the GPU was checked`;
  return 'PASSED';
}

function testSection(results: MochaResults | null, testsStatus: string): string[] {
  if (results === null) return ['## Tests', '', `mocha wrote no results (exit status ${testsStatus}); see mocha.log.`];
  const { stats } = results;
  const seconds = stats.duration === undefined ? '?' : (stats.duration / 1000).toFixed(1);
  const lines = [
    '## Tests',
    '',
    '| passed | failed | pending | total | seconds |',
    '| --- | --- | --- | --- | --- |',
    `| ${stats.passes} | ${stats.failures} | ${stats.pending} | ${stats.tests} | ${seconds} |`,
  ];
  if (results.failures.length > 0) {
    lines.push('', '### Failures');
    for (const failure of results.failures)
      lines.push('', `- ${failure.fullTitle}`, '', '  ```text', ...(failure.err.message ?? '(no message)').split('\n').map((l) => `  ${l}`), '  ```');
  }
  if (results.pending.length > 0) {
    lines.push('', '### Pending (not run, never counted as passed)', '');
    for (const test of results.pending.slice(0, MAX_PENDING_LISTED)) lines.push(`- ${test.fullTitle}`);
    if (results.pending.length > MAX_PENDING_LISTED) lines.push(`- ... and ${results.pending.length - MAX_PENDING_LISTED} more`);
  }
  return lines;
}

function cell(value: unknown): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return value.toPrecision(4);
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value ?? '');
}

function isRecordArray(value: unknown): value is Record<string, unknown>[] {
  return Array.isArray(value) && value.length > 0 && value.every((row) => typeof row === 'object' && row !== null && !Array.isArray(row));
}

/** A markdown table with one column per key found in any row. */
function table(rows: Record<string, unknown>[]): string[] {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return [
    `| ${columns.join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${columns.map((column) => cell(row[column]).replace(/\|/g, '\\|')).join(' | ')} |`),
  ];
}

/**
 * The benchmark's JSON as tables: an array of records is one table; an object gives a table for
 * each array of records it holds and a line for each other field.
 */
function benchmarkSection(benchmark: unknown, status: string): string[] {
  const lines = ['## Benchmark', ''];
  if (!/^\d+$/.test(status)) return [...lines, `Skipped: ${status}.`];
  if (status !== '0') lines.push(`The benchmark exited with status ${status}; see benchmark.log.`, '');
  if (benchmark === null) return [...lines, 'No benchmark.json was written.'];
  if (isRecordArray(benchmark)) return [...lines, ...table(benchmark)];
  if (typeof benchmark !== 'object' || Array.isArray(benchmark)) return [...lines, '```json', JSON.stringify(benchmark, null, 2), '```'];
  const fields = Object.entries(benchmark as Record<string, unknown>);
  for (const [key, value] of fields) if (!isRecordArray(value)) lines.push(`- ${key}: ${cell(value)}`);
  for (const [key, value] of fields) if (isRecordArray(value)) lines.push('', `### ${key}`, '', ...table(value));
  return lines;
}

function main(): void {
  const [reportDir, testsStatus, benchmarkStatus] = process.argv.slice(2);
  if (benchmarkStatus === undefined) throw new Error('usage: gpu-report.js REPORT_DIR TESTS_STATUS BENCHMARK_STATUS');
  const info = readJson<CudaInfo>(reportDir, 'cuda-info.json');
  const results = readJson<MochaResults>(reportDir, 'mocha.json');
  const bundleInfo = (readText(reportDir, 'bundle-info.txt') ?? 'info: bundle-info.txt is missing').trim().split('\n');
  const report = [
    '# kalman-norm GPU suite',
    '',
    `**${verdict(results, testsStatus, benchmarkStatus, info)}**`,
    '',
    `- Date: ${new Date().toISOString()}`,
    ...bundleInfo.map((line) => `- Bundle ${line}`),
    ...gpuLines(readText(reportDir, 'gpu.csv')),
    cudaLine(info),
    '',
    ...testSection(results, testsStatus),
    '',
    ...benchmarkSection(readJson<unknown>(reportDir, 'benchmark.json'), benchmarkStatus),
    '',
  ];
  fs.writeFileSync(path.join(reportDir, 'REPORT.md'), report.join('\n'));
}

main();
