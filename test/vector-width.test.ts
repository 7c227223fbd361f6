/**
 * The CPU backend's loops at both vector widths (csrc/cpu/vector_width.h): 8 floats (AVX2) in this
 * process where the CPU has AVX2, 4 (SSE2) in a child process with KN_CPU_VECTOR_WIDTH=4. Every
 * output of every path has the same bits at either width.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { cpuVectorWidth } from '../lib';
import { WIDTH_CASES, widthDigests } from './util/vector-width-cases';

function digestsAtWidth4(): ReturnType<typeof widthDigests> {
  const module = path.join(__dirname, 'util', 'vector-width-cases.js');
  const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(module)}).widthDigests()))`;
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, KN_CPU_VECTOR_WIDTH: '4' }, encoding: 'utf8', timeout: 50_000, maxBuffer: 1 << 24,
  });
  expect(child.status, `child failed: ${child.stderr}`).to.equal(0);
  return JSON.parse(child.stdout);
}

describe('CPU vector widths', function () {
  it('reports 8 with AVX2, else 4', function () {
    expect(cpuVectorWidth()).to.be.oneOf([4, 8]);
  });

  it('KN_CPU_VECTOR_WIDTH=4 and the width this CPU has give the same bits on every path', function () {
    if (cpuVectorWidth() !== 8) this.skip();  // no AVX2 here: both processes would run the same loops
    const here = widthDigests();
    const narrow = digestsAtWidth4();
    expect(narrow.width, 'the child\'s width').to.equal(4);
    for (const c of WIDTH_CASES)
      for (const [name, digest] of Object.entries(here.cases[c.name])) expect(narrow.cases[c.name][name], `${c.name}: ${name}`).to.equal(digest);
    expect(Object.keys(narrow.cases)).to.deep.equal(Object.keys(here.cases));
  });
});
