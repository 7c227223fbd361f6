/**
 * The CPU backend's results do not depend on the machine: every output of every CPU path has the
 * same bits at both vector widths (csrc/cpu/vector_width.h: 8 floats with AVX2 in this process
 * where the CPU has it, 4 in a child with KN_CPU_VECTOR_WIDTH=4) and at any thread count (children
 * with two other KN_NUM_THREADS, which cut the work into other items).
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { cpuVectorWidth, threadCount } from '../lib';
import { CPU_PATH_CASES, PathDigests, cpuPathDigests } from './util/cpu-path-digests';

function childDigests(env: Record<string, string>): PathDigests {
  const module = path.join(__dirname, 'util', 'cpu-path-digests.js');
  const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(module)}).cpuPathDigests()))`;
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 50_000, maxBuffer: 1 << 24,
  });
  expect(child.status, `child failed: ${child.stderr}`).to.equal(0);
  return JSON.parse(child.stdout);
}

function expectSameDigests(actual: PathDigests, expected: PathDigests): void {
  for (const c of CPU_PATH_CASES)
    for (const [name, digest] of Object.entries(expected.cases[c.name])) expect(actual.cases[c.name][name], `${c.name}: ${name}`).to.equal(digest);
  expect(Object.keys(actual.cases)).to.deep.equal(Object.keys(expected.cases));
}

describe('CPU results: the same bits on every machine', function () {
  let here: PathDigests;
  before(() => {
    here = cpuPathDigests();
  });

  it('cpuVectorWidth() is 8 with AVX2, else 4', () => {
    expect(cpuVectorWidth()).to.be.oneOf([4, 8]);
  });

  it('KN_CPU_VECTOR_WIDTH=4 and the width this CPU has give the same bits on every path', function () {
    if (here.width !== 8) this.skip();  // no AVX2 here: both processes would run the same loops
    const narrow = childDigests({ KN_CPU_VECTOR_WIDTH: '4' });
    expect(narrow.width, 'the child\'s width').to.equal(4);
    expectSameDigests(narrow, here);
  });

  // Two thread counts other than this process's.
  for (const threads of [1, 2, 3].filter((count) => count !== threadCount()).slice(0, 2))
    it(`KN_NUM_THREADS=${threads} gives the same bits as this process's ${threadCount()} threads on every path`, () => {
      const other = childDigests({ KN_NUM_THREADS: String(threads) });
      expect(other.threads, 'the child\'s thread count').to.equal(threads);
      expectSameDigests(other, here);
    });
});
