// The package as its users meet it: zero-copy tensors, both module systems, the README example.
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../lib';
import { native } from '../lib/binding';
import { ROOT, runAsConsumer } from './util/consumer';

describe('package', () => {
  it('Tensor.fromArray wraps the caller memory without copying', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const tensor = Tensor.fromArray(data, [1, 2, 3], { layout: 'NHWC' });
    expect(tensor.toArray()).to.equal(data);
    data[4] = 40;
    expect(tensor.toArray()[4]).to.equal(40);
    expect(tensor.shape).to.deep.equal([1, 2, 3]);
    expect(tensor.layout).to.equal('NHWC');
    expect(tensor.device).to.equal('cpu');
  });

  it('loads with require() from the package entry', () => {
    const source = "const kn = require('kalman-norm'); console.log(typeof kn.ops.kalmanNorm, typeof kn.Tensor, typeof kn.KalmanNorm);";
    expect(runAsConsumer('check.cjs', source).trim()).to.equal('function function function');
  });

  it('loads with import from the package entry', () => {
    const source = "import { ops, Tensor, GroupKalmanNorm } from 'kalman-norm'; console.log(typeof ops.groupKalmanNorm, typeof Tensor, typeof GroupKalmanNorm);";
    expect(runAsConsumer('check.mjs', source).trim()).to.equal('function function function');
  });

  it('ships type declarations for its entry', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(fs.existsSync(path.join(ROOT, manifest.types)), manifest.types).to.equal(true);
    expect(fs.existsSync(path.join(ROOT, manifest.exports['.'].import))).to.equal(true);
  });

  it('the README usage example runs and prints what the README says', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const example = /<!-- usage-example -->\s*```js\n([\s\S]*?)```/.exec(readme);
    expect(example, 'README.md has a ```js block after <!-- usage-example -->').to.not.equal(null);
    const printed = /<!-- usage-output -->\s*```\n([\s\S]*?)```/.exec(readme);
    expect(printed, 'README.md shows the example output after <!-- usage-output -->').to.not.equal(null);
    expect(runAsConsumer('example.js', example![1]).trim()).to.equal(printed![1].trim());
  });

  it('ships only the product: no benchmark, tools, example or test code in the npm package', () => {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' }));
    const files: string[] = packed.files.map((file: { path: string }) => file.path);
    expect(files).to.include('csrc/addon/kalman_norm_binding.cpp');
    expect(files).to.include('csrc/common/kalman_norm_math.h');
    const tools = files.filter((file) => /^(tools|examples|scripts|test|dist\/scripts|build)\/|cudnn|plan_coverage|parallel_copy/.test(file));
    expect(tools, 'files that are not the product').to.deep.equal([]);
  });

  it('depends at run time only on what the library needs; the example\'s packages are devDependencies', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.dependencies).sort()).to.deep.equal(['cmake-js', 'node-addon-api', 'node-gyp-build']);
    const tree = JSON.parse(execFileSync('npm', ['ls', '--omit=dev', '--all', '--json'], { cwd: ROOT, encoding: 'utf8' }));
    const names = new Set<string>();
    const visit = (node: { dependencies?: Record<string, object> }) =>
      Object.entries(node.dependencies ?? {}).forEach(([name, child]) => names.add(name) && visit(child));
    visit(tree);
    for (const demo of ['mnist', 'vega', 'vega-lite', 'cli-progress']) expect([...names], demo).to.not.include(demo);
  });

  it('the product addon exports none of the tools (they live in tools/native)', () => {
    const exported = Object.keys(native());
    for (const tool of ['planCoverage', 'parallelCopy', 'poolFailure', 'eventRecord', 'eventElapsedMs', 'cudnnInfo', 'cudnnBatchNorm'])
      expect(exported, tool).to.not.include(tool);
  });
});
